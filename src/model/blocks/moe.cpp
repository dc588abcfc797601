// Mixture of experts as llama.cpp's build_moe_ffn computes it for DeepSeek:
//   s = sigmoid(router x) (V3/R1) or softmax(router x) (V2)
//   selection score = s + exp_probs_b (the bias only chooses, it never weighs)
//   group-limited routing: a group's score is the sum of its two best selection
//   scores; only the best n_group_used groups may supply experts
//   experts = top n_expert_used by selection score; weights = their unbiased s,
//   normalised to sum 1 if asked, times expert_weights_scale
//   out = sum over chosen experts, in selection order, of w * down(silu(gate x) * up x)
//         + the shared experts' FFN.
#include "base/check.h"
#include "model/blocks/ffn.h"
#include "model/blocks/ops.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

namespace deepcpu {

void moe_route(const MoeParams& p, const float* logits, const float* score_bias, int32_t* experts, float* weights,
               float* work) {
  const int n = p.n_expert;
  float* prob = work;
  float* sel = work + n;
  if (p.gating == MoeGating::kSigmoid) {
    for (int e = 0; e < n; ++e) prob[e] = 1.0f / (1.0f + std::exp(-logits[e]));
  } else {
    float mx = -INFINITY;
    for (int e = 0; e < n; ++e) mx = std::max(mx, logits[e]);
    double sum = 0.0;
    for (int e = 0; e < n; ++e) {
      prob[e] = std::exp(logits[e] - mx);
      sum += prob[e];
    }
    const float inv = static_cast<float>(1.0 / sum);
    for (int e = 0; e < n; ++e) prob[e] *= inv;
  }
  for (int e = 0; e < n; ++e) sel[e] = prob[e] + (score_bias ? score_bias[e] : 0.0f);

  if (p.n_group > 1 && p.n_group_used < p.n_group) {
    const int per_group = n / p.n_group;
    // Group score: sum of the top two selection scores in the group.
    int32_t order[64];
    float gscore[64];
    for (int g = 0; g < p.n_group; ++g) {
      float best = -INFINITY, second = -INFINITY;
      for (int i = 0; i < per_group; ++i) {
        const float v = sel[g * per_group + i];
        if (v > best) {
          second = best;
          best = v;
        } else if (v > second) {
          second = v;
        }
      }
      gscore[g] = per_group >= 2 ? best + second : best;
      order[g] = g;
    }
    std::stable_sort(order, order + p.n_group, [&](int a, int b) { return gscore[a] > gscore[b]; });
    for (int r = p.n_group_used; r < p.n_group; ++r) {
      for (int i = 0; i < per_group; ++i) sel[order[r] * per_group + i] = -INFINITY;
    }
  }
  // Top n_expert_used by selection score, best first (ties to the lower id).
  for (int k = 0; k < p.n_expert_used; ++k) {
    int best = -1;
    for (int e = 0; e < n; ++e) {
      if (best < 0 || sel[e] > sel[best]) best = e;
    }
    experts[k] = best;
    weights[k] = prob[best];
    sel[best] = -INFINITY;
  }
  if (p.norm_weights) {
    float sum = 0.0f;
    for (int k = 0; k < p.n_expert_used; ++k) sum += weights[k];
    sum = std::max(sum, 6.103515625e-5f);  // llama.cpp clamps the sum (fp16 min normal)
    for (int k = 0; k < p.n_expert_used; ++k) weights[k] /= sum;
  }
  for (int k = 0; k < p.n_expert_used; ++k) weights[k] *= p.weights_scale;
}

float* moe(ForwardCtx& ctx, const MoeWeights& w, const MoeParams& p, const float* x, int64_t m, int64_t n_embd) {
  DEEPCPU_CHECK(p.n_group <= 64 && p.n_expert % std::max(1, p.n_group) == 0, "bad expert groups {} / {}",
                p.n_group, p.n_expert);
  const int n_used = p.n_expert_used;
  const float* logits = matmul(ctx, w.router, x, m);  // [m x n_expert]
  auto* experts = static_cast<int32_t*>(ctx.arena.alloc_bytes(sizeof(int32_t) * m * n_used));
  float* weights = ctx.arena.alloc(m * n_used);
  float* work = ctx.arena.alloc(2 * p.n_expert);
  const float* bias = w.score_bias.present() ? w.score_bias.f32() : nullptr;
  for (int64_t t = 0; t < m; ++t) {
    moe_route(p, logits + t * p.n_expert, bias, experts + t * n_used, weights + t * n_used, work);
  }

  // Per (token, slot) result rows, summed in slot order at the end so the sum's order
  // is the same whatever the batch holds.
  float* slot_out = ctx.arena.alloc(static_cast<size_t>(m * n_used * n_embd));
  const int64_t n_ff = w.gate.n_rows;
  float* xs = ctx.arena.alloc(static_cast<size_t>(m * n_embd));
  auto* rows = static_cast<int32_t*>(ctx.arena.alloc_bytes(sizeof(int32_t) * m * n_used));
  float* g = ctx.arena.alloc(static_cast<size_t>(m * n_ff));
  float* u = ctx.arena.alloc(static_cast<size_t>(m * n_ff));
  float* d = ctx.arena.alloc(static_cast<size_t>(m * n_embd));
  for (int e = 0; e < p.n_expert; ++e) {
    int64_t n_tok = 0;
    for (int64_t i = 0; i < m * n_used; ++i) {
      if (experts[i] != e) continue;
      std::memcpy(xs + n_tok * n_embd, x + (i / n_used) * n_embd, n_embd * sizeof(float));
      rows[n_tok++] = static_cast<int32_t>(i);
    }
    if (n_tok == 0) continue;
    matmul(ctx, w.gate.slice(e), xs, n_tok, n_embd, g, n_ff);
    matmul(ctx, w.up.slice(e), xs, n_tok, n_embd, u, n_ff);
    silu_mul(g, u, n_tok * n_ff);
    matmul(ctx, w.down.slice(e), g, n_tok, n_ff, d, n_embd);
    for (int64_t j = 0; j < n_tok; ++j) {
      const float wt = weights[rows[j]];
      float* dst = slot_out + static_cast<int64_t>(rows[j]) * n_embd;
      for (int64_t c = 0; c < n_embd; ++c) dst[c] = d[j * n_embd + c] * wt;
    }
  }
  float* out = ctx.arena.alloc(static_cast<size_t>(m * n_embd));
  for (int64_t t = 0; t < m; ++t) {
    float* o = out + t * n_embd;
    std::memcpy(o, slot_out + (t * n_used) * n_embd, n_embd * sizeof(float));
    for (int k = 1; k < n_used; ++k) add(o, slot_out + (t * n_used + k) * n_embd, n_embd);
  }
  if (w.shared.gate.present()) add(out, ffn_swiglu(ctx, w.shared, x, m), m * n_embd);
  return out;
}

}  // namespace deepcpu
