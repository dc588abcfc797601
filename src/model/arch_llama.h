// The Llama family decoder (RMSNorm, GQA attention with RoPE, SwiGLU FFN), shared by
// `llama` (R1-Distill-Llama, stories260K) and `qwen2` (R1-Distill-Qwen), which differ
// only in what LlamaFamilyConfig says.
#pragma once

#include "model/blocks/ffn.h"
#include "model/blocks/rope.h"
#include "model/model.h"

namespace deepcpu {

struct LlamaFamilyConfig {
  const char* arch;
  bool qkv_bias;        // qwen2: q/k/v have biases
  bool neox_rope;       // qwen2: NEOX pairs; llama: adjacent pairs
  bool custom_head_dim; // llama may set key_length != n_embd/n_head; qwen2 may not
};

Result<std::unique_ptr<Model>> load_llama_family(const gguf::Model& file, const LlamaFamilyConfig& cfg);

}  // namespace deepcpu
