// Weight: a view of one matrix (or one expert's / one head's slice of a 3-D tensor)
// in its stored dtype, used in place from the mapping. Row r starts at data + r*row_bytes.
// WeightBinder: binds GGUF tensors by name with shape checks, the single place where an
// architecture's tensor list meets the file (STYLE.md §2).
#pragma once

#include "base/status.h"
#include "gguf/gguf.h"
#include "tensor/dtype.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace deepcpu {

struct Weight {
  const uint8_t* data = nullptr;
  DType type = DType::kF32;
  int64_t n_cols = 0;   // elements per row (ggml ne0)
  int64_t n_rows = 0;   // rows in this view
  size_t row_bytes = 0;
  int64_t n_slices = 1;       // ne2 for 3-D tensors (experts, heads)
  size_t slice_bytes = 0;     // bytes between slices

  bool present() const { return data != nullptr; }
  const uint8_t* row(int64_t r) const { return data + static_cast<size_t>(r) * row_bytes; }
  // Slice e of a 3-D tensor as a 2-D view (expert e, head h).
  Weight slice(int64_t e) const {
    Weight w = *this;
    w.data = data + static_cast<size_t>(e) * slice_bytes;
    w.n_slices = 1;
    return w;
  }
  // Rows [r0, r0+n) as a view.
  Weight rows(int64_t r0, int64_t n) const {
    Weight w = *this;
    w.data = row(r0);
    w.n_rows = n;
    w.n_slices = 1;
    return w;
  }
  const float* f32() const { return reinterpret_cast<const float*>(data); }
};

// Owns weights computed at load (e.g. the K half of a fused attn_kv_b, transposed).
struct OwnedWeights {
  std::vector<std::unique_ptr<uint8_t[]>> buffers;
  uint8_t* alloc(size_t bytes) {
    buffers.emplace_back(new uint8_t[bytes]);
    return buffers.back().get();
  }
};

class WeightBinder {
 public:
  explicit WeightBinder(const gguf::Model& file) : file_(file) {}

  // Binds `name` expecting ggml shape `ne` (ne0 first; trailing 1s may be omitted).
  // kRequired: missing is an error. kOptional: missing leaves `out` empty.
  // `matmul`: the dtype must have matmul kernels (norms and biases must be F32).
  enum Need { kRequired, kOptional };
  enum Use { kMatmul, kF32Vector, kEmbedding };
  Status bind(Weight* out, const std::string& name, std::vector<int64_t> ne, Need need, Use use);

  int64_t n_bound() const { return n_bound_; }
  // Tensors in the file that no bind() asked for (reported, not fatal).
  std::vector<std::string> unused() const;

 private:
  const gguf::Model& file_;
  int64_t n_bound_ = 0;
  std::vector<std::string> bound_names_;
};

}  // namespace deepcpu
