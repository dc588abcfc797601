// Bytes of weights one generated token reads: the numerator of the decode roofline
// (tokens/s <= read bandwidth / bytes per token). Computed from the GGUF tensor table
// alone, so `deepcpu bench` and the server can report it for any model; it does not
// count KV cache reads or activations, which are small next to the weights at short
// contexts.
#pragma once

#include "base/status.h"

#include <cstddef>
#include <cstdint>

namespace deepcpu {

namespace gguf {
class Model;
}

struct WeightTraffic {
  size_t total_bytes = 0;             // every tensor in the file
  size_t dense_bytes = 0;             // non-expert tensors read whole each token (shared experts included)
  size_t embedding_row_bytes = 0;     // token_embd: only one row is read per token
  size_t expert_bytes = 0;            // all *_exps tensors, whole
  size_t expert_bytes_per_token = 0;  // their n_expert_used / n_expert share
  int n_expert = 0;                   // routed experts per MoE layer (0: dense model)
  int n_expert_used = 0;
  bool tied_embeddings = false;       // no output.weight: token_embd is also the output layer, read whole

  // Weight bytes one token reads at batch 1.
  size_t bytes_per_token() const { return dense_bytes + embedding_row_bytes + expert_bytes_per_token; }
};

// Walks the tensor table: token_embd counts one row (or whole when it doubles as the
// output layer), a tensor whose name contains "_exps" counts n_expert_used/n_expert of its
// bytes (`<arch>.expert_count` / `<arch>.expert_used_count`), everything else counts whole.
// An error when the file has expert tensors but no usable expert counts.
Result<WeightTraffic> weight_traffic(const gguf::Model& file);

}  // namespace deepcpu
