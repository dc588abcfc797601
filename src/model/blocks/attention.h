// Causal attention over the paged KV cache, the same code for prefill and decode:
// a ubatch first writes its K/V rows into the cache (kv_store), then every token attends
// to positions 0..pos of its own sequence read back from the cache. Because a token
// always reads cache rows (already rounded to the cache type), its result does not
// depend on how the prompt was chunked or what else is in the batch.
//
// Rounding follows llama.cpp's non-flash path: q is converted to the K cache's dot type
// (f16 / bf16 / q8_0 blocks) before the dot products, and softmax weights are rounded to
// f16/bf16 before multiplying an f16/bf16 V (for a q8_0 V they stay f32, as in its
// flash path, the only one llama.cpp allows with a quantized V).
//
// With ctx.flash_attn (-fa) the softmax is computed online, block by block: each KV
// block is read once for both the scores and the values (for MLA the value is a prefix
// of the same cached row), nothing of size n_kv is kept, and the weights stay f32.
// Its results differ from the plain path only by float rounding. With a q8_0 K cache its
// scores come from the packed Q8_0 GEMM over the cache's packed K panels (kv_cache.h),
// whose fp32 order is the same on every ISA but not the unpacked gemm's.
#pragma once

#include "model/forward.h"

namespace deepcpu {

struct AttentionShape {
  int il = 0;          // layer
  int n_head = 0;
  int n_head_kv = 0;
  int k_dim = 0;       // per head, incl. rope dims
  int v_dim = 0;
  float scale = 0.0f;  // applied to q.k before softmax
};

// k: [n][n_head_kv][k_dim], v: [n][n_head_kv][v_dim] (ignored when V lives in K).
void kv_store(ForwardCtx& ctx, const UBatch& ub, int il, const float* k, const float* v);
// q: [n][n_head][k_dim] -> out: [n][n_head][v_dim].
void attention(ForwardCtx& ctx, const UBatch& ub, const AttentionShape& s, const float* q, float* out);

}  // namespace deepcpu
