#include "model/model.h"

#include "model/blocks/ops.h"

#include <cstring>

namespace deepcpu {

Status HParamReader::get_int(const std::string& key, int64_t* out, bool required, int64_t min_value,
                             int64_t max_value) const {
  const std::string full = arch_ + "." + key;
  auto v = f_.get_int(full);
  if (!v) return v.status();
  if (!v->has_value()) {
    if (required) return error("{}: metadata key '{}' is missing (needed by {})", f_.path(), full, arch_);
    return Status::ok();
  }
  const int64_t x = **v;
  if (x < min_value || x > max_value) {
    return error("{}: '{}' = {} is out of range (expected {} to {})", f_.path(), full, x, min_value, max_value);
  }
  *out = x;
  return Status::ok();
}

Status HParamReader::get_float(const std::string& key, float* out, bool required) const {
  const std::string full = arch_ + "." + key;
  auto v = f_.get_float(full);
  if (!v) return v.status();
  if (!v->has_value()) {
    if (required) return error("{}: metadata key '{}' is missing (needed by {})", f_.path(), full, arch_);
    return Status::ok();
  }
  *out = static_cast<float>(**v);
  return Status::ok();
}

Status HParamReader::get_bool(const std::string& key, bool* out, bool required) const {
  const std::string full = arch_ + "." + key;
  auto v = f_.get_bool(full);
  if (!v) return v.status();
  if (!v->has_value()) {
    if (required) return error("{}: metadata key '{}' is missing (needed by {})", f_.path(), full, arch_);
    return Status::ok();
  }
  *out = **v;
  return Status::ok();
}

Status HParamReader::get_string(const std::string& key, std::string* out, bool required) const {
  const std::string full = arch_ + "." + key;
  auto v = f_.get_string(full);
  if (!v) return v.status();
  if (!v->has_value()) {
    if (required) return error("{}: metadata key '{}' is missing (needed by {})", f_.path(), full, arch_);
    return Status::ok();
  }
  *out = **v;
  return Status::ok();
}

const std::vector<ArchEntry>& architectures() {
  static const std::vector<ArchEntry> kArchs = {
      {"llama", load_llama},
      {"qwen2", load_qwen2},
      {"deepseek2", load_deepseek2},
  };
  return kArchs;
}

Result<std::unique_ptr<Model>> load_model(const gguf::Model& file) {
  const std::string arch = file.architecture();
  if (arch.empty()) return error("{}: metadata key 'general.architecture' is missing or not a string", file.path());
  std::string known;
  for (const ArchEntry& a : architectures()) {
    if (arch == a.name) {
      auto m = a.load(file);
      if (!m) return m.status();
      for (const gguf::TensorInfo* t : file.tensors()) {
        (*m)->n_params += t->n_elements();
        (*m)->weight_bytes += t->size_bytes;
      }
      return m;
    }
    known += (known.empty() ? "" : ", ") + std::string(a.name);
  }
  return error("{}: architecture '{}' is not supported (supported: {})", file.path(), arch, known);
}

void output_head(ForwardCtx& ctx, const UBatch& ub, const float* x, int64_t n_embd, const Weight& norm, float eps,
                 const Weight& output, float* logits) {
  if (ub.n_out == 0) return;
  float* rows = ctx.arena.alloc(static_cast<size_t>(ub.n_out * n_embd));
  for (int i = 0; i < ub.n_out; ++i) {
    std::memcpy(rows + i * n_embd, x + static_cast<int64_t>(ub.out_rows[i]) * n_embd, n_embd * sizeof(float));
  }
  rms_norm(rows, ub.n_out, n_embd, n_embd, norm, eps);
  matmul(ctx, output, rows, ub.n_out, n_embd, logits, output.n_rows);
}

}  // namespace deepcpu
