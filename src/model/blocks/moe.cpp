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
#include "model/blocks/grouped_matmul.h"
#include "model/blocks/ops.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <new>
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

  // Group the (token, slot) pairs by expert: rows[] lists them expert after expert, so each
  // used expert sees its tokens as one contiguous matrix xs and runs once.
  const int64_t n_pairs = m * n_used;
  const int64_t n_ff = w.gate.n_rows;
  auto* count = static_cast<int32_t*>(ctx.arena.alloc_bytes(sizeof(int32_t) * (p.n_expert + 1)));
  std::fill(count, count + p.n_expert + 1, 0);
  for (int64_t i = 0; i < n_pairs; ++i) ++count[experts[i] + 1];
  for (int e = 0; e < p.n_expert; ++e) count[e + 1] += count[e];  // count[e] = first row of expert e
  auto* rows = static_cast<int32_t*>(ctx.arena.alloc_bytes(sizeof(int32_t) * n_pairs));
  {
    auto* fill = static_cast<int32_t*>(ctx.arena.alloc_bytes(sizeof(int32_t) * p.n_expert));
    std::copy(count, count + p.n_expert, fill);
    for (int64_t i = 0; i < n_pairs; ++i) rows[fill[experts[i]]++] = static_cast<int32_t>(i);
  }
  float* xs = ctx.arena.alloc(static_cast<size_t>(n_pairs * n_embd));
  for (int64_t r = 0; r < n_pairs; ++r) {
    std::memcpy(xs + r * n_embd, x + (rows[r] / n_used) * n_embd, n_embd * sizeof(float));
  }
  float* g = ctx.arena.alloc(static_cast<size_t>(n_pairs * n_ff));
  float* u = ctx.arena.alloc(static_cast<size_t>(n_pairs * n_ff));
  float* d = ctx.arena.alloc(static_cast<size_t>(n_pairs * n_embd));

  // Weight views and jobs: 2 per used expert (+2 for the shared experts) for gate/up,
  // then 1 per used expert (+1) for down; each phase is one parallel region.
  const bool shared = w.shared.gate.present();
  const int64_t n_ff_sh = shared ? w.shared.gate.n_rows : 0;
  float* gs = shared ? ctx.arena.alloc(static_cast<size_t>(m * n_ff_sh)) : nullptr;
  float* us = shared ? ctx.arena.alloc(static_cast<size_t>(m * n_ff_sh)) : nullptr;
  float* ds = shared ? ctx.arena.alloc(static_cast<size_t>(m * n_embd)) : nullptr;
  const int max_jobs = 2 * p.n_expert + 2;
  auto* views = static_cast<Weight*>(ctx.arena.alloc_bytes(sizeof(Weight) * max_jobs));
  auto* jobs = static_cast<MatmulJob*>(ctx.arena.alloc_bytes(sizeof(MatmulJob) * max_jobs));
  int n_jobs = 0;
  auto add_job = [&](const Weight& wv, const float* xin, int64_t rows_m, int64_t ldx, float* y, int64_t ldy) {
    new (&views[n_jobs]) Weight(wv);
    jobs[n_jobs] = MatmulJob{&views[n_jobs], xin, rows_m, ldx, y, ldy};
    ++n_jobs;
  };
  for (int e = 0; e < p.n_expert; ++e) {
    const int64_t r0 = count[e], n_tok = count[e + 1] - count[e];
    if (n_tok == 0) continue;
    add_job(w.gate.slice(e), xs + r0 * n_embd, n_tok, n_embd, g + r0 * n_ff, n_ff);
    add_job(w.up.slice(e), xs + r0 * n_embd, n_tok, n_embd, u + r0 * n_ff, n_ff);
  }
  if (shared) {
    add_job(w.shared.gate, x, m, n_embd, gs, n_ff_sh);
    add_job(w.shared.up, x, m, n_embd, us, n_ff_sh);
  }
  matmul_grouped(ctx, jobs, n_jobs);
  silu_mul(g, u, n_pairs * n_ff);
  if (shared) silu_mul(gs, us, m * n_ff_sh);
  n_jobs = 0;
  for (int e = 0; e < p.n_expert; ++e) {
    const int64_t r0 = count[e], n_tok = count[e + 1] - count[e];
    if (n_tok == 0) continue;
    add_job(w.down.slice(e), g + r0 * n_ff, n_tok, n_ff, d + r0 * n_embd, n_embd);
  }
  if (shared) add_job(w.shared.down, gs, m, n_ff_sh, ds, n_embd);
  matmul_grouped(ctx, jobs, n_jobs);

  // out[t] = sum over slots k, in selection order, of weight * expert output (+ shared).
  auto* where = static_cast<int32_t*>(ctx.arena.alloc_bytes(sizeof(int32_t) * n_pairs));
  for (int64_t r = 0; r < n_pairs; ++r) where[rows[r]] = static_cast<int32_t>(r);
  float* out = ctx.arena.alloc(static_cast<size_t>(m * n_embd));
  for (int64_t t = 0; t < m; ++t) {
    float* o = out + t * n_embd;
    for (int k = 0; k < n_used; ++k) {
      const float wt = weights[t * n_used + k];
      const float* de = d + static_cast<int64_t>(where[t * n_used + k]) * n_embd;
      if (k == 0) {
        for (int64_t c = 0; c < n_embd; ++c) o[c] = de[c] * wt;
      } else {
        for (int64_t c = 0; c < n_embd; ++c) o[c] += de[c] * wt;
      }
    }
    if (shared) add(o, ds + t * n_embd, n_embd);
  }
  return out;
}

}  // namespace deepcpu
