// See weight_traffic.h. The rule follows what the forward reads per token at batch 1:
// the embedding lookup touches one row; each MoE layer runs n_expert_used of its
// n_expert routed experts (every expert is the same size, so the share is exact on
// average) plus its shared experts; every other matrix is read whole.
#include "engine/weight_traffic.h"

#include "gguf/gguf.h"

#include <algorithm>

namespace deepcpu {

Result<WeightTraffic> weight_traffic(const gguf::Model& file) {
  WeightTraffic w;
  const std::string arch = file.architecture();
  const bool has_output = file.find_tensor("output.weight") != nullptr;
  w.tied_embeddings = !has_output;
  for (const gguf::TensorInfo* t : file.tensors()) {
    w.total_bytes += t->size_bytes;
    if (t->name.find("_exps") != std::string::npos) {
      w.expert_bytes += t->size_bytes;
    } else if (t->name == "token_embd.weight" && has_output) {
      const int64_t rows = std::max<int64_t>(1, t->n_rows());
      w.embedding_row_bytes = t->size_bytes / static_cast<size_t>(rows);
    } else {
      w.dense_bytes += t->size_bytes;
    }
  }
  if (w.expert_bytes == 0) return w;

  auto count = file.get_int(arch + ".expert_count");
  if (!count) return count.status();
  auto used = file.get_int(arch + ".expert_used_count");
  if (!used) return used.status();
  if (!count->has_value() || !used->has_value()) {
    return error("{}: the file has expert tensors (*_exps) but no {}.expert_count / {}.expert_used_count", file.path(),
                 arch, arch);
  }
  const int64_t n = **count, k = **used;
  if (n <= 0 || k < 0 || k > n) {
    return error("{}: {}.expert_used_count = {} must be between 0 and {}.expert_count = {}", file.path(), arch, k,
                 arch, n);
  }
  w.n_expert = static_cast<int>(n);
  w.n_expert_used = static_cast<int>(k);
  // Per tensor, so rounding costs at most one byte per tensor (sizes x 4096 experts fit 64 bits).
  for (const gguf::TensorInfo* t : file.tensors()) {
    if (t->name.find("_exps") != std::string::npos)
      w.expert_bytes_per_token += t->size_bytes * static_cast<size_t>(k) / static_cast<size_t>(n);
  }
  return w;
}

}  // namespace deepcpu
