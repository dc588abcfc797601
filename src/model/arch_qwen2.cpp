// `qwen2`: Qwen2 and DeepSeek-R1-Distill-Qwen. A Llama-family decoder with q/k/v
// biases and NEOX-style RoPE (pairs (i, i + d/2)); head size is always n_embd/n_head.
#include "model/arch_llama.h"

namespace deepcpu {

Result<std::unique_ptr<Model>> load_qwen2(const gguf::Model& file) {
  return load_llama_family(file, {"qwen2", /*qkv_bias=*/true, /*neox_rope=*/true, /*custom_head_dim=*/false});
}

}  // namespace deepcpu
