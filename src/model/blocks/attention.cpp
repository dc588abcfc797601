#include "model/blocks/attention.h"

#include "base/check.h"
#include "base/fp16.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace deepcpu {

namespace {

void store_row(const kernels::Table& kt, DType type, const float* x, uint8_t* dst, int64_t n) {
  if (type == DType::kF32) {
    std::memcpy(dst, x, n * sizeof(float));
  } else {
    kt.from_float(type)(x, dst, n);
  }
}

}  // namespace

void kv_store(ForwardCtx& ctx, const UBatch& ub, int il, const float* k, const float* v) {
  const KvLayerShape& s = ctx.kv.shape(il);
  for (int t = 0; t < ub.n; ++t) {
    for (int h = 0; h < s.n_head_kv; ++h) {
      store_row(ctx.kt, ctx.kv.type_k(), k + (static_cast<int64_t>(t) * s.n_head_kv + h) * s.k_dim,
                ctx.kv.k_row(il, ub.seq[t], ub.pos[t], h), s.k_dim);
      if (ctx.kv.has_packed_k()) ctx.kv.pack_k_row(il, ub.seq[t], ub.pos[t], h);
      if (!s.v_in_k) {
        store_row(ctx.kt, ctx.kv.type_v(), v + (static_cast<int64_t>(t) * s.n_head_kv + h) * s.v_dim,
                  ctx.kv.v_row(il, ub.seq[t], ub.pos[t], h), s.v_dim);
      }
    }
  }
}

// Work is split into tasks of (token, KV head, chunk of up to kHeadChunk query heads that
// share that KV head). One pass over a KV block serves every head of the chunk: for MLA
// all query heads share the single latent row, so this reads the cache once per chunk
// instead of once per head, and the q.K products become a small GEMM (heads x positions).
// Each output element is still one dot product (for scores) or one ordered sum over
// positions (for values), so results do not depend on the chunking or the thread count.
constexpr int kHeadChunk = 16;

namespace {

void attention_plain(ForwardCtx& ctx, const UBatch& ub, const AttentionShape& s, const float* q, float* out) {
  const KvLayerShape& ks = ctx.kv.shape(s.il);
  const DType type_k = ctx.kv.type_k();
  const DType type_v = ks.v_in_k ? type_k : ctx.kv.type_v();
  const kernels::MatmulKernels* mk = ctx.kt.matmul(type_k);
  DEEPCPU_CHECK(mk != nullptr, "no kernels for K cache type {}", dtype_name(type_k));
  const size_t k_stride = ctx.kv.k_row_bytes(s.il) * ks.n_head_kv;  // between tokens of a block
  const int group = s.n_head / s.n_head_kv;
  const int chunk = std::min(group, kHeadChunk);
  const int n_chunks = (group + chunk - 1) / chunk;

  int32_t max_len = 0;
  for (int t = 0; t < ub.n; ++t) max_len = std::max(max_len, ub.pos[t] + 1);
  // Per-thread scratch, carved before the parallel region: scores [chunk][max_len],
  // one dequantized V row, the chunk's converted queries.
  const size_t q_bytes = row_bytes(mk->dot_type, s.k_dim);
  const size_t per_thread =
      static_cast<size_t>(chunk) * max_len + s.v_dim + (chunk * q_bytes + 3) / 4 + 16;
  float* scratch = ctx.arena.alloc(per_thread * ctx.pool.n_threads());

  const int64_t n_tasks = static_cast<int64_t>(ub.n) * s.n_head_kv * n_chunks;
  ctx.pool.run(n_tasks, [&](int64_t task, int thread) {
    const int t = static_cast<int>(task / (s.n_head_kv * n_chunks));
    const int hk = static_cast<int>(task / n_chunks % s.n_head_kv);
    const int h0 = hk * group + static_cast<int>(task % n_chunks) * chunk;  // first query head
    const int nh = std::min(chunk, hk * group + group - h0);
    const int32_t seq = ub.seq[t];
    const int32_t n_kv = ub.pos[t] + 1;
    float* scores = scratch + per_thread * thread;  // [nh][max_len]
    float* vrow = scores + static_cast<size_t>(chunk) * max_len;
    auto* qconv = reinterpret_cast<uint8_t*>(vrow + s.v_dim);

    for (int i = 0; i < nh; ++i) {
      mk->convert_row(q + (static_cast<int64_t>(t) * s.n_head + h0 + i) * s.k_dim, qconv + i * q_bytes, s.k_dim);
    }
    for (int32_t p0 = 0; p0 < n_kv; p0 += KvCache::kBlockTokens) {
      const int32_t n_in = std::min<int32_t>(KvCache::kBlockTokens, n_kv - p0);
      mk->gemm(ctx.kv.k_row(s.il, seq, p0, hk), k_stride, qconv, q_bytes, s.k_dim, 0, n_in, nh, scores + p0,
               max_len);
    }
    // softmax(scale * scores) per head, summed in double as ggml does; the weights are
    // rounded to the V cache's dot type as llama.cpp's non-flash path does.
    for (int i = 0; i < nh; ++i) {
      float* sc = scores + static_cast<size_t>(i) * max_len;
      float mx = -INFINITY;
      for (int32_t j = 0; j < n_kv; ++j) {
        sc[j] *= s.scale;
        mx = std::max(mx, sc[j]);
      }
      double sum = 0.0;
      for (int32_t j = 0; j < n_kv; ++j) {
        sc[j] = std::exp(sc[j] - mx);
        sum += sc[j];
      }
      const float inv = static_cast<float>(1.0 / sum);
      for (int32_t j = 0; j < n_kv; ++j) {
        float p = sc[j] * inv;
        if (type_v == DType::kF16) p = round_to_fp16(p);
        if (type_v == DType::kBF16) p = round_to_bf16(p);
        sc[j] = p;
      }
      float* o = out + (static_cast<int64_t>(t) * s.n_head + h0 + i) * s.v_dim;
      std::fill(o, o + s.v_dim, 0.0f);
    }
    // out[h] = sum over positions, in order, of p[h][pos] * V[pos]; each V row is
    // dequantized once for the whole chunk.
    for (int32_t j = 0; j < n_kv; ++j) {
      const uint8_t* vr = ctx.kv.v_row(s.il, seq, j, hk);
      if (type_v == DType::kF32) {
        std::memcpy(vrow, vr, s.v_dim * sizeof(float));
      } else {
        ctx.kt.to_float(type_v)(vr, vrow, s.v_dim);
      }
      for (int i = 0; i < nh; ++i) {
        const float p = scores[static_cast<size_t>(i) * max_len + j];
        ctx.kt.axpy_f32(out + (static_cast<int64_t>(t) * s.n_head + h0 + i) * s.v_dim, p, vrow, s.v_dim);
      }
    }
  });
}


// Online softmax (flash attention). Per query row (token, head) keeps the running max m,
// the running sum S and the unnormalised output in `out`:
//   for each block: m' = max(m, block scores); out *= e^(m - m'); S *= e^(m - m')
//                   out += sum_j e^(s_j - m') V_j; S += sum_j e^(s_j - m')
//   finally out /= S.
// Blocks are the cache's, aligned at multiples of kBlockTokens from position 0; a row at
// position pos uses the first pos + 1 - p0 rows of the block holding pos.
//
// Tasks are (tile of up to kTileRows / chunk tokens of one sequence, KV head, chunk of
// query heads): one pass over a KV block computes the scores of every (token, head) row
// of the tile with one GEMM and dequantizes the block's V rows once for all of them. A
// row's arithmetic is the same whatever tile it is in (a GEMM element depends only on
// k; max, exp, S and the fma chain over j run per row in block order), so the tiling
// and the thread count never change a bit, and prefill equals decode one token at a time.
//
// When the cache keeps packed K panels (q8_0 K, kv_cache.h), the scores come from
// gemm_packed over them, up to kSpanBlocks adjacent panels per call: one call re-lays out
// the tile's queries once for several blocks, and the AMX kernel works on 32 positions at
// a time. Only the scores are computed ahead; the softmax and P.V still go block by block,
// so a row's arithmetic is the same as with one block per call (gemm_packed gives a row
// the same bits whatever the row range). Whether the packed path runs depends only on the
// cache, never on the batch, so decode and prefill take the same path.
constexpr int kTileRows = 128;  // query rows (tokens x heads) per task, about
constexpr int kTileTokensMax = 32;
// 4 blocks (64 positions): measured on R1-slice pp2048, -t 2, AMX (t/s, one run each):
// 1 block 138, 2 blocks 146, 4 blocks 151, 8 blocks 143 (scores: 128 rows x 64 x 4 B = 32 KiB).
constexpr int kSpanBlocks = 4;

void attention_flash(ForwardCtx& ctx, const UBatch& ub, const AttentionShape& s, const float* q, float* out) {
  const KvLayerShape& ks = ctx.kv.shape(s.il);
  const DType type_k = ctx.kv.type_k();
  const DType type_v = ks.v_in_k ? type_k : ctx.kv.type_v();
  const kernels::MatmulKernels* mk = ctx.kt.matmul(type_k);
  DEEPCPU_CHECK(mk != nullptr, "no kernels for K cache type {}", dtype_name(type_k));
  constexpr int B = KvCache::kBlockTokens;
  const size_t k_stride = ctx.kv.k_row_bytes(s.il) * ks.n_head_kv;
  const size_t v_stride = ctx.kv.v_row_bytes(s.il) * ks.n_head_kv;
  const int group = s.n_head / s.n_head_kv;
  const int chunk = std::min(group, kHeadChunk);
  const int n_chunks = (group + chunk - 1) / chunk;
  const size_t q_bytes = row_bytes(mk->dot_type, s.k_dim);
  const kernels::ToFloatRowFn v_to_float = ctx.kt.to_float(type_v);

  // Tiles: runs of consecutive ubatch tokens of the same sequence, at most tile_tokens
  // long; fewer tokens per tile when that is needed to give every thread a few tasks.
  int tile_tokens = std::clamp(kTileRows / chunk, 1, kTileTokensMax);
  const int64_t per_token_tasks = static_cast<int64_t>(s.n_head_kv) * n_chunks;
  while (tile_tokens > 1 && (ub.n / tile_tokens) * per_token_tasks < 4 * ctx.pool.n_threads()) tile_tokens /= 2;
  auto* tile_first = static_cast<int32_t*>(ctx.arena.alloc_bytes((ub.n + 1) * sizeof(int32_t)));
  int n_tiles = 0;
  for (int t = 0; t < ub.n; ++t) {
    if (n_tiles == 0 || ub.seq[t] != ub.seq[t - 1] || t - tile_first[n_tiles - 1] == tile_tokens) {
      tile_first[n_tiles++] = t;
    }
  }
  tile_first[n_tiles] = ub.n;
  auto tile_n_kv = [&](int tile) {  // blocks run up to the tile's last position
    int32_t n_kv = 0;
    for (int t = tile_first[tile]; t < tile_first[tile + 1]; ++t) n_kv = std::max(n_kv, ub.pos[t] + 1);
    return n_kv;
  };

  // Packed K panels kept by the cache (q8_0 K with packed kernels): scores from gemm_packed.
  const bool packed = ctx.kv.has_packed_k() && mk->gemm_packed != nullptr;
  // Positions per q.K call: several blocks from the packed panels, one block of the paged
  // cache otherwise.
  const int span = packed ? kSpanBlocks * B : B;

  // Per thread: scores [rows][span], V tile [B][v_dim], m [rows], S [rows], the converted
  // queries [rows][q_bytes], rows = tile_tokens * chunk.
  const size_t rows = static_cast<size_t>(tile_tokens) * chunk;
  const size_t per_thread =
      rows * span + static_cast<size_t>(B) * s.v_dim + 2 * rows + (rows * q_bytes + 3) / 4 + 16;
  float* scratch = ctx.arena.alloc(per_thread * ctx.pool.n_threads());

  const int64_t n_tasks = static_cast<int64_t>(n_tiles) * per_token_tasks;
  ctx.pool.run(n_tasks, [&](int64_t task, int thread) {
    // Later tiles first: they attend to longer prefixes, so the long tasks start early.
    const int tile = n_tiles - 1 - static_cast<int>(task / per_token_tasks);
    const int hk = static_cast<int>(task / n_chunks % s.n_head_kv);
    const int h0 = hk * group + static_cast<int>(task % n_chunks) * chunk;
    const int nh = std::min(chunk, hk * group + group - h0);
    const int t0 = tile_first[tile];
    const int nt = tile_first[tile + 1] - t0;
    const int32_t seq = ub.seq[t0];
    const int32_t n_kv = tile_n_kv(tile);
    const int64_t m_rows = static_cast<int64_t>(nt) * nh;
    float* sc = scratch + per_thread * thread;  // [nt * nh][span], row it * nh + i
    float* vt = sc + rows * span;
    float* m = vt + static_cast<size_t>(B) * s.v_dim;
    float* S = m + rows;
    auto* qconv = reinterpret_cast<uint8_t*>(S + rows);
    auto o_row = [&](int it, int i) { return out + (static_cast<int64_t>(t0 + it) * s.n_head + h0 + i) * s.v_dim; };

    for (int it = 0; it < nt; ++it) {
      for (int i = 0; i < nh; ++i) {
        const int r = it * nh + i;
        mk->convert_row(q + (static_cast<int64_t>(t0 + it) * s.n_head + h0 + i) * s.k_dim, qconv + r * q_bytes,
                        s.k_dim);
        m[r] = -INFINITY;
        S[r] = 0.0f;
        std::fill(o_row(it, i), o_row(it, i) + s.v_dim, 0.0f);
      }
    }
    int32_t span_p0 = 0, span_end = 0;  // positions whose scores are in sc (packed path)
    for (int32_t p0 = 0; p0 < n_kv; p0 += B) {
      const int32_t n_blk = std::min<int32_t>(B, n_kv - p0);  // the most any row of the tile uses
      if (!packed) {
        mk->gemm(ctx.kv.k_row(s.il, seq, p0, hk), k_stride, qconv, q_bytes, s.k_dim, 0, n_blk, m_rows, sc, span);
      } else if (p0 >= span_end) {  // the scores of this block and of the adjacent panels after it
        span_p0 = p0;
        span_end = std::min(n_kv, p0 + B * ctx.kv.adjacent_blocks(seq, p0, kSpanBlocks));
        mk->gemm_packed(ctx.kv.k_panel(s.il, seq, p0, hk), s.k_dim, qconv, q_bytes, 0, span_end - p0, m_rows, sc,
                        span);
      }
      const int32_t in_span = packed ? p0 - span_p0 : 0;  // this block's first column in sc
      const uint8_t* v0 = ctx.kv.v_row(s.il, seq, p0, hk);
      for (int j = 0; j < n_blk; ++j) {
        if (type_v == DType::kF32) {
          std::memcpy(vt + j * s.v_dim, v0 + j * v_stride, s.v_dim * sizeof(float));
        } else {
          v_to_float(v0 + j * v_stride, vt + j * s.v_dim, s.v_dim);
        }
      }
      for (int it = 0; it < nt; ++it) {
        const int32_t n_in = std::min<int32_t>(B, ub.pos[t0 + it] + 1 - p0);
        if (n_in <= 0) continue;  // this token's prefix ended before the block
        for (int i = 0; i < nh; ++i) {
          const int r = it * nh + i;
          float* si = sc + static_cast<size_t>(r) * span + in_span;
          float bmax = -INFINITY;
          for (int j = 0; j < n_in; ++j) {
            si[j] *= s.scale;
            bmax = std::max(bmax, si[j]);
          }
          float* o = o_row(it, i);
          if (bmax > m[r]) {
            const float rescale = std::exp(m[r] - bmax);  // 0 on the first block
            ctx.kt.scale_f32(o, rescale, s.v_dim);
            S[r] *= rescale;
            m[r] = bmax;
          }
          for (int j = 0; j < n_in; ++j) {
            si[j] = std::exp(si[j] - m[r]);  // the weight of V_j
            S[r] += si[j];
          }
        }
        // o += P.V for the token's heads at once: their output rows are v_dim apart, their
        // weights span apart, and each V row is loaded once for all of them.
        ctx.kt.axpy_rows_multi_f32(o_row(it, 0), s.v_dim, sc + static_cast<size_t>(it) * nh * span + in_span, span, nh,
                                   vt, s.v_dim, n_in, s.v_dim);
      }
    }
    for (int it = 0; it < nt; ++it) {
      for (int i = 0; i < nh; ++i) ctx.kt.scale_f32(o_row(it, i), 1.0f / S[it * nh + i], s.v_dim);
    }
  });
}

}  // namespace

void attention(ForwardCtx& ctx, const UBatch& ub, const AttentionShape& s, const float* q, float* out) {
  if (ctx.flash_attn) {
    attention_flash(ctx, ub, s, q, out);
  } else {
    attention_plain(ctx, ub, s, q, out);
  }
}

}  // namespace deepcpu
