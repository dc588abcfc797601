#include "model/weights.h"

#include <fmt/format.h>

#include <algorithm>
#include <set>

namespace deepcpu {

Status WeightBinder::bind(Weight* out, const std::string& name, std::vector<int64_t> ne, Need need, Use use) {
  *out = Weight();
  const gguf::TensorInfo* t = file_.find_tensor(name);
  if (t == nullptr) {
    if (need == kOptional) return Status::ok();
    return error("{}: tensor '{}' is missing (this architecture needs it)", file_.path(), name);
  }
  ne.resize(gguf::kMaxDims, 1);
  for (int d = 0; d < gguf::kMaxDims; ++d) {
    if (t->ne[d] != ne[d]) {
      return error("{}: tensor '{}' has shape {}, expected {{{}}}", file_.path(), name, t->shape_string(),
                   fmt::join(std::vector<int64_t>(ne.begin(), ne.begin() + std::max(1, t->n_dims)), ", "));
    }
  }
  if (use == kF32Vector && t->type != DType::kF32) {
    return error("{}: tensor '{}' has type {}, expected f32 (norms, biases and routers are kept in f32)",
                 file_.path(), name, dtype_name(t->type));
  }
  if ((use == kMatmul || use == kEmbedding) && !dtype_info(t->type).has_kernels) {
    return error("{}: tensor '{}' has type {}; this build has kernels for f32, f16, bf16 and q8_0 only. "
                 "Re-quantize the model to Q8_0.",
                 file_.path(), name, dtype_name(t->type));
  }
  out->data = t->data;
  out->type = t->type;
  out->n_cols = t->ne[0];
  out->row_bytes = row_bytes(t->type, t->ne[0]);
  out->n_rows = t->ne[1];
  out->n_slices = t->ne[2] * t->ne[3];
  out->slice_bytes = out->row_bytes * static_cast<size_t>(t->ne[1]);
  if (out->n_slices == 1) out->n_rows = t->ne[1];
  ++n_bound_;
  bound_names_.push_back(name);
  return Status::ok();
}

std::vector<std::string> WeightBinder::unused() const {
  std::set<std::string> bound(bound_names_.begin(), bound_names_.end());
  std::vector<std::string> r;
  for (const gguf::TensorInfo* t : file_.tensors()) {
    if (!bound.count(t->name)) r.push_back(t->name);
  }
  return r;
}

}  // namespace deepcpu
