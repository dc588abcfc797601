// Element types as GGUF stores them (ggml type ids), with their block layouts.
// The table knows every ggml type so that `deepcpu gguf` can describe any file and the
// reader can validate tensor sizes; only the types with `has_kernels` can be computed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace deepcpu {

enum class DType : uint32_t {
  kF32 = 0,
  kF16 = 1,
  kQ4_0 = 2,
  kQ4_1 = 3,
  kQ5_0 = 6,
  kQ5_1 = 7,
  kQ8_0 = 8,
  kQ8_1 = 9,
  kQ2_K = 10,
  kQ3_K = 11,
  kQ4_K = 12,
  kQ5_K = 13,
  kQ6_K = 14,
  kQ8_K = 15,
  kI8 = 24,
  kI16 = 25,
  kI32 = 26,
  kI64 = 27,
  kF64 = 28,
  kBF16 = 30,
};

struct DTypeInfo {
  DType type;
  std::string_view name;     // as llama.cpp prints it: "f32", "q8_0", ...
  int64_t block_size;        // elements per block
  size_t block_bytes;        // bytes per block
  bool has_kernels;          // this build can compute with it
};

// nullopt for an id no ggml version defines (a corrupt file).
std::optional<DTypeInfo> dtype_info(uint32_t ggml_type_id);
const DTypeInfo& dtype_info(DType t);
inline std::string_view dtype_name(DType t) { return dtype_info(t).name; }
std::optional<DType> dtype_from_name(std::string_view name);  // "f16", "q8_0", "bf16", ...

// Bytes of one row of n elements (n must be a multiple of the block size).
inline size_t row_bytes(DType t, int64_t n) {
  const DTypeInfo& info = dtype_info(t);
  return static_cast<size_t>(n / info.block_size) * info.block_bytes;
}

// Q8_0: 32 int8 values sharing one fp16 scale; x[i] = d * qs[i]. (ggml block_q8_0)
constexpr int kQ8_0Block = 32;
struct BlockQ8_0 {
  uint16_t d;  // fp16 scale
  int8_t qs[kQ8_0Block];
};
static_assert(sizeof(BlockQ8_0) == 34);

}  // namespace deepcpu
