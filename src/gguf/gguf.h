// GGUF v2/v3 reader over mmap, with split models (-0000k-of-0000n.gguf).
// Every count, offset, length and string is bounds-checked before use: a bad file
// yields a Status naming the file, the key or tensor, and expected vs found.
// Format: https://github.com/ggml-org/ggml/blob/master/docs/gguf.md
#pragma once

#include "base/status.h"
#include "runtime/mapped_file.h"
#include "tensor/dtype.h"

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace deepcpu::gguf {

enum class ValueType : uint32_t {
  kU8 = 0, kI8 = 1, kU16 = 2, kI16 = 3, kU32 = 4, kI32 = 5, kF32 = 6,
  kBool = 7, kString = 8, kArray = 9, kU64 = 10, kI64 = 11, kF64 = 12,
};
const char* value_type_name(ValueType t);

// One metadata value. Scalars live in the matching field; arrays hold their
// elements (of `elem_type`, possibly arrays themselves) in `array`.
struct Value {
  ValueType type = ValueType::kU8;
  uint64_t u = 0;     // unsigned ints and bool
  int64_t i = 0;      // signed ints (also set for unsigned that fit)
  double f = 0;       // floats (also set for every numeric type)
  std::string s;      // kString
  ValueType elem_type = ValueType::kU8;  // kArray
  std::vector<Value> array;              // kArray

  bool is_integer() const;
  bool is_unsigned() const;  // u8..u64 and bool: the value is in `u`
  bool is_number() const { return is_integer() || type == ValueType::kF32 || type == ValueType::kF64; }
  // For `deepcpu gguf`: arrays show at most max_items elements, strings at most
  // max_chars characters, control characters escaped; SIZE_MAX shows everything.
  std::string to_string(size_t max_items = 8, size_t max_chars = 60) const;
};

// Values built with every field the reader would fill, for the writer and tests.
Value value_u8(uint8_t v);
Value value_i8(int8_t v);
Value value_u16(uint16_t v);
Value value_i16(int16_t v);
Value value_u32(uint32_t v);
Value value_i32(int32_t v);
Value value_u64(uint64_t v);
Value value_i64(int64_t v);
Value value_f32(float v);
Value value_f64(double v);
Value value_bool(bool v);
Value value_string(std::string v);
Value value_array(ValueType elem_type, std::vector<Value> elems);
bool operator==(const Value& a, const Value& b);  // same type and contents

constexpr int kMaxDims = 4;

struct TensorInfo {
  std::string name;
  DType type = DType::kF32;
  int n_dims = 0;
  std::array<int64_t, kMaxDims> ne = {1, 1, 1, 1};  // ne[0] is the contiguous row
  uint64_t offset = 0;        // within its file's data section
  size_t size_bytes = 0;
  int file_idx = 0;           // which split part holds it
  const uint8_t* data = nullptr;  // into the mapping

  int64_t n_elements() const { return ne[0] * ne[1] * ne[2] * ne[3]; }
  int64_t n_rows() const { return ne[1] * ne[2] * ne[3]; }
  std::string shape_string() const;  // "{64, 32}"
};

// One GGUF file (one split part).
struct File {
  std::string path;
  std::unique_ptr<MappedFile> map;  // null when parsed from memory (parse_memory)
  const uint8_t* bytes = nullptr;   // the whole file, in `map` or the caller's buffer
  size_t size_bytes = 0;
  uint32_t version = 0;
  uint64_t alignment = 32;
  uint64_t data_offset = 0;  // start of the tensor data section
  std::map<std::string, Value> kv;
  std::vector<std::string> kv_order;  // keys in file order
  std::vector<TensorInfo> tensors;
};

// Parse one file (no split handling). Never crashes, hangs or allocates more than a
// small multiple of the file size on bad input; errors name `path`.
Result<std::unique_ptr<File>> parse_file(const std::string& path);
// The same over bytes the caller keeps alive as long as the File (fuzz tests, pipes).
// `name` stands for the path in error messages.
Result<std::unique_ptr<File>> parse_memory(const uint8_t* data, size_t size, const std::string& name);

// A whole model: the first part's metadata, the tensors of all parts.
class Model {
 public:
  // Opens `path`; if it is part 1 of a split (split.count > 1), opens the other parts
  // from the same folder and checks split.count/split.no/split.tensors.count.
  static Result<std::unique_ptr<Model>> open(const std::string& path);

  const std::string& path() const { return files_[0]->path; }
  const std::vector<std::unique_ptr<File>>& files() const { return files_; }
  const std::map<std::string, Value>& metadata() const { return files_[0]->kv; }
  const std::vector<std::string>& metadata_order() const { return files_[0]->kv_order; }
  const std::vector<const TensorInfo*>& tensors() const { return tensor_list_; }
  const TensorInfo* find_tensor(const std::string& name) const;

  const Value* find(const std::string& key) const;
  std::string architecture() const;  // general.architecture or ""

  // Typed getters: nullopt when missing; a Status error when present with a wrong type.
  Result<std::optional<int64_t>> get_int(const std::string& key) const;
  Result<std::optional<double>> get_float(const std::string& key) const;
  Result<std::optional<bool>> get_bool(const std::string& key) const;
  Result<std::optional<std::string>> get_string(const std::string& key) const;
  Result<std::vector<std::string>> get_string_array(const std::string& key) const;  // empty if missing
  Result<std::vector<double>> get_number_array(const std::string& key) const;       // empty if missing

  size_t total_tensor_bytes() const;

 private:
  std::vector<std::unique_ptr<File>> files_;
  std::vector<const TensorInfo*> tensor_list_;
  std::map<std::string, const TensorInfo*> by_name_;
};

// `s` made safe for a one-line message: control and non-ASCII bytes escaped (\n, \xNN),
// cut to max_chars with "..." so a hostile 1 GB key name cannot flood a terminal.
std::string printable(std::string_view s, size_t max_chars = 80);

// "X-00001-of-00003.gguf" -> {"X", 1, 3}; nullopt if the name has no split suffix.
struct SplitName {
  std::string prefix;
  int no;
  int count;
};
std::optional<SplitName> parse_split_name(const std::string& path);
std::string split_path(const std::string& prefix, int no, int count);

}  // namespace deepcpu::gguf
