// Feed-forward blocks: the SwiGLU FFN of every architecture here, and DeepSeek's MoE.
#pragma once

#include "model/forward.h"
#include "model/weights.h"

namespace deepcpu {

struct FfnWeights {
  Weight gate, up, down;  // gate/up: [n_ff rows x n_embd], down: [n_embd rows x n_ff]
};
// x: [m x n_embd] -> new [m x n_embd]: down(silu(gate x) * up x).
float* ffn_swiglu(ForwardCtx& ctx, const FfnWeights& w, const float* x, int64_t m);

enum class MoeGating { kSoftmax, kSigmoid };  // DeepSeek-V2 / V3-R1 (GGUF expert_gating_func 1 / 2)

struct MoeParams {
  int n_expert = 0;
  int n_expert_used = 0;
  int n_group = 1;          // expert groups (DeepSeek-V3: 8)
  int n_group_used = 1;     // groups kept per token (V3: 4)
  MoeGating gating = MoeGating::kSoftmax;
  bool norm_weights = false;
  float weights_scale = 1.0f;
};

struct MoeWeights {
  Weight router;             // ffn_gate_inp: [n_expert rows x n_embd], f32
  Weight score_bias;         // exp_probs_b: [n_expert], optional (selection only)
  Weight gate, up, down;     // 3-D: slice e is expert e
  FfnWeights shared;         // shared experts (absent parts: none)
};

// x: [m x n_embd] -> new [m x n_embd]. Tokens are grouped by expert and every used
// expert runs once as a matmul over its tokens; unused experts are skipped.
float* moe(ForwardCtx& ctx, const MoeWeights& w, const MoeParams& p, const float* x, int64_t m, int64_t n_embd);

// Routing of one token (exposed for tests): fills `experts`/`weights` (n_expert_used each)
// from router logits, following llama.cpp's build_moe_ffn.
void moe_route(const MoeParams& p, const float* logits, const float* score_bias, int32_t* experts, float* weights,
               float* work /* 2 * n_expert floats */);

}  // namespace deepcpu
