// GGUF v3 (or v2, for tests) writer: metadata of every type, tensors laid out at
// general.alignment, one file or a llama.cpp-style split. Files appear atomically
// (written to a temp name, then renamed), so a reader never sees half a file.
// Tensor bytes come from a pointer or a callback that streams them, so `quantize` can
// produce a tensor row by row without holding the whole output in memory.
#pragma once

#include "base/status.h"
#include "gguf/gguf.h"

#include <cstdint>
#include <functional>
#include <map>
#include <span>
#include <string>
#include <vector>

namespace deepcpu::gguf {

// Where a tensor callback puts its bytes. It must write exactly the tensor's size_bytes,
// in as many calls as it likes.
class TensorSink {
 public:
  virtual ~TensorSink() = default;
  virtual Status write(const void* data, size_t size_bytes) = 0;
};
using TensorDataFn = std::function<Status(TensorSink&)>;

struct SplitOptions {
  int max_tensors_per_part = 0;  // 0: no limit
  uint64_t max_bytes_per_part = 0;  // tensor data bytes; 0: no limit. A bigger tensor gets a part of its own.
  uint32_t version = 3;
};

class GgufWriter {
 public:
  // Metadata. Setting a key again replaces its value but keeps its first position,
  // so key order in the file is the order of first set (as llama.cpp does).
  void set(const std::string& key, Value v);
  void set_u8(const std::string& key, uint8_t v) { set(key, value_u8(v)); }
  void set_i8(const std::string& key, int8_t v) { set(key, value_i8(v)); }
  void set_u16(const std::string& key, uint16_t v) { set(key, value_u16(v)); }
  void set_i16(const std::string& key, int16_t v) { set(key, value_i16(v)); }
  void set_u32(const std::string& key, uint32_t v) { set(key, value_u32(v)); }
  void set_i32(const std::string& key, int32_t v) { set(key, value_i32(v)); }
  void set_u64(const std::string& key, uint64_t v) { set(key, value_u64(v)); }
  void set_i64(const std::string& key, int64_t v) { set(key, value_i64(v)); }
  void set_f32(const std::string& key, float v) { set(key, value_f32(v)); }
  void set_f64(const std::string& key, double v) { set(key, value_f64(v)); }
  void set_bool(const std::string& key, bool v) { set(key, value_bool(v)); }
  void set_string(const std::string& key, std::string v) { set(key, value_string(std::move(v))); }
  // Elements must all be of elem_type (checked by write()); they may be arrays themselves.
  void set_array(const std::string& key, ValueType elem_type, std::vector<Value> elems) {
    set(key, value_array(elem_type, std::move(elems)));
  }
  void set_string_array(const std::string& key, const std::vector<std::string>& v);
  void set_i32_array(const std::string& key, std::span<const int32_t> v);
  void set_f32_array(const std::string& key, std::span<const float> v);
  void remove(const std::string& key);
  // Every key of `m` (part 1's metadata) except split.*, in file order.
  void copy_metadata(const Model& m);

  const Value* find(const std::string& key) const;
  const std::vector<std::string>& keys() const { return key_order_; }

  // Tensors, written in the order added. `ne` is in ggml order (ne[0] is the row) with
  // 1 to 4 entries. With a pointer, `data` must hold size_bytes and stay valid until write().
  Status add_tensor(const std::string& name, DType type, std::span<const int64_t> ne, const void* data);
  Status add_tensor(const std::string& name, DType type, std::span<const int64_t> ne, TensorDataFn fn);
  size_t n_tensors() const { return tensors_.size(); }

  // The alignment write() will use: general.alignment if set (checked there), else 32.
  uint64_t alignment() const;

  // Writes one file; `path` appears only if everything succeeded.
  Status write(const std::string& path, uint32_t version = 3) const;

  // Writes <prefix>-00001-of-0000N.gguf ... as llama.cpp's gguf-split does: part 1 holds
  // all metadata, every part has split.no (u16, 0-based), split.count (u16) and
  // split.tensors.count (i32). Parts already written are removed if a later one fails.
  // Returns the paths written.
  Result<std::vector<std::string>> write_split(const std::string& prefix, const SplitOptions& opt) const;

 private:
  struct Tensor {
    std::string name;
    DType type;
    int n_dims;
    int64_t ne[kMaxDims];
    size_t size_bytes;
    // Exactly one of the two is set.
    const void* data;
    TensorDataFn fn;
  };
  using KeyValues = std::vector<std::pair<const std::string*, const Value*>>;
  Status add(Tensor t, std::span<const int64_t> ne);
  Status write_file(const std::string& path, uint32_t version, const KeyValues& kv, size_t tensor_begin,
                    size_t tensor_end) const;

  std::map<std::string, Value> kv_;
  std::vector<std::string> key_order_;
  std::vector<Tensor> tensors_;
  std::map<std::string, size_t> tensor_index_;
};

}  // namespace deepcpu::gguf
