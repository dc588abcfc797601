// Packed Q8_0 gemm with SVE over the layout of scalar/packed_q8_0.cpp, vector-length
// agnostic, for SVE vectors of 256 bits and up. Owns only gemm_packed.
//
// svdot_lane_s32 works per 128-bit segment exactly as NEON's sdot by lane: lane l of the
// int32 accumulator gains row l's 4 products with 4 activation bytes picked by the lane
// index from its own segment. svld1rq replicates a block's 16 activation bytes into every
// segment, so one svdot_lane covers VL/4 rows of a 64-byte panel line (8 rows at 256-bit,
// all 16 at 512-bit; wider vectors load only the line's 64 bytes under a predicate). Per
// output the float ops are the reference's: s = fma(float(isum), d_w * d_a, s) block by
// block (svmla is one fused multiply-add; the odd last block's zero partner is never
// touched), so results equal the scalar reference bit for bit across m, tiles, row splits
// and vector lengths.
//
// At 128 bits (Neoverse N2, Yitian 710) SVE has the same registers and the same sdot by
// lane as NEON but its sizeless types cannot form the row x token accumulator arrays the
// NEON kernel tiles with, so fill_packed_q8_0_sve keeps the NEON gemm there.
//
// Tiles are one vector of rows (a "chunk": 16 / chunks-per-group rows) x NT <= 4 tokens,
// written out per token (sizeless types cannot live in arrays). m <= 4 (decode) is one
// token tile per chunk: at 512-bit one pass streams each group once; at 256-bit the second
// chunk rereads the group's lines from L2, just filled by the first. GEMM walks tokens in
// blocks of about kTokenBlockBytes of activations while the row range's groups stream past.
// DEEPCPU_ISA_GUARD: compiled only for aarch64 (cmake/isa.cmake); elsewhere it is empty.
#if defined(__aarch64__)
#include <arm_sve.h>

#include <algorithm>

#include "base/fp16.h"
#include "kernels/kernels.h"
#include "kernels/packed_layout.h"

namespace deepcpu::kernels {

namespace {

using packed::G;
using packed::group_bytes;
using packed::kPairBytes;
constexpr int kTileTokens = 4;
constexpr size_t kTokenBlockBytes = 256 * 1024;


inline const int8_t* block_q(const uint8_t* grp, int64_t b) {
  return reinterpret_cast<const int8_t*>(grp + packed::block_q_offset(b));
}
inline const uint16_t* block_d(const uint8_t* grp, int64_t b) {
  return reinterpret_cast<const uint16_t*>(grp + packed::block_d_offset(b));
}

// Line L of one half block against the tokens' activation registers (unused ones are
// dummies the compiler drops).
template <int NT, int L>
inline void dot_line(svbool_t pq, const int8_t* q, svint32_t& s0, svint32_t& s1, svint32_t& s2, svint32_t& s3,
                     svint8_t a0, svint8_t a1, svint8_t a2, svint8_t a3) {
  const svint8_t w = svld1_s8(pq, q + 64 * L);
  s0 = svdot_lane_s32(s0, w, a0, L);
  if constexpr (NT > 1) s1 = svdot_lane_s32(s1, w, a1, L);
  if constexpr (NT > 2) s2 = svdot_lane_s32(s2, w, a2, L);
  if constexpr (NT > 3) s3 = svdot_lane_s32(s3, w, a3, L);
}

// Lines 4h..4h+3 (qh) against activation bytes 16h..16h+15 of each token's block.
template <int NT>
inline void dot_half(svbool_t pq, const int8_t* qh, int o, const BlockQ8_0* const* ab, svint32_t& s0, svint32_t& s1,
                     svint32_t& s2, svint32_t& s3) {
  const svbool_t all = svptrue_b8();
  const svint8_t a0 = svld1rq_s8(all, ab[0]->qs + o);
  const svint8_t a1 = NT > 1 ? svld1rq_s8(all, ab[1]->qs + o) : a0;
  const svint8_t a2 = NT > 2 ? svld1rq_s8(all, ab[2]->qs + o) : a0;
  const svint8_t a3 = NT > 3 ? svld1rq_s8(all, ab[3]->qs + o) : a0;
  dot_line<NT, 0>(pq, qh, s0, s1, s2, s3, a0, a1, a2, a3);
  dot_line<NT, 1>(pq, qh, s0, s1, s2, s3, a0, a1, a2, a3);
  dot_line<NT, 2>(pq, qh, s0, s1, s2, s3, a0, a1, a2, a3);
  dot_line<NT, 3>(pq, qh, s0, s1, s2, s3, a0, a1, a2, a3);
}

// acc += float(isum) * (d_w * d_a): d_w * d_a rounded once, then one fused multiply-add.
inline svfloat32_t block_fma(svbool_t pr, svfloat32_t acc, svint32_t isum, svfloat32_t dw, const BlockQ8_0& ab) {
  const svfloat32_t d = svmul_n_f32_x(pr, dw, fp16_to_f32(ab.d));
  return svmla_f32_x(pr, acc, svcvt_f32_s32_x(pr, isum), d);
}

// Chunk `chunk` of a group (rows per vector each; byte offset 4 rows chunk into every line)
// x NT tokens over nb blocks; c[t * ldc + i] for the chunk's row i < n_rows.
template <int NT>
void tile(int rows, const uint8_t* grp, int chunk, const BlockQ8_0* const* at, int64_t nb, float* c, int64_t ldc,
          int n_rows) {
  const svbool_t pq = svwhilelt_b8(0, 4 * rows), pr = svwhilelt_b32(0, rows);
  const int qoff = chunk * rows * 4, doff = chunk * rows;
  svfloat32_t f0 = svdup_n_f32(0.0f), f1 = f0, f2 = f0, f3 = f0;
  for (int64_t b = 0; b < nb; ++b) {
    const BlockQ8_0* ab[4];
    for (int t = 0; t < 4; ++t) ab[t] = at[t < NT ? t : 0] + b;
    const int8_t* q = block_q(grp, b) + qoff;
    svint32_t s0 = svdup_n_s32(0), s1 = s0, s2 = s0, s3 = s0;
    if constexpr (NT == 1) {
      // One token: lines 0-3 and 4-7 into separate accumulators (summed exactly after),
      // so two sdot chains are in flight.
      svint32_t s0b = s0;
      dot_half<1>(pq, q, 0, ab, s0, s1, s2, s3);
      dot_half<1>(pq, q + 4 * 64, 16, ab, s0b, s1, s2, s3);
      s0 = svadd_s32_x(pr, s0, s0b);
    } else {
      dot_half<NT>(pq, q, 0, ab, s0, s1, s2, s3);
      dot_half<NT>(pq, q + 4 * 64, 16, ab, s0, s1, s2, s3);
    }
    // fp16 scales zero-extended into 32-bit lanes: fcvt reads the low half of each.
    const svfloat32_t dw = svcvt_f32_f16_x(pr, svreinterpret_f16_u32(svld1uh_u32(pr, block_d(grp, b) + doff)));
    f0 = block_fma(pr, f0, s0, dw, *ab[0]);
    if constexpr (NT > 1) f1 = block_fma(pr, f1, s1, dw, *ab[1]);
    if constexpr (NT > 2) f2 = block_fma(pr, f2, s2, dw, *ab[2]);
    if constexpr (NT > 3) f3 = block_fma(pr, f3, s3, dw, *ab[3]);
  }
  const svbool_t ps = svwhilelt_b32(0, std::min(n_rows, rows));
  svst1_f32(ps, c, f0);
  if constexpr (NT > 1) svst1_f32(ps, c + ldc, f1);
  if constexpr (NT > 2) svst1_f32(ps, c + 2 * ldc, f2);
  if constexpr (NT > 3) svst1_f32(ps, c + 3 * ldc, f3);
}

using TileFn = void (*)(int, const uint8_t*, int, const BlockQ8_0* const*, int64_t, float*, int64_t, int);
constexpr TileFn kTiles[kTileTokens] = {&tile<1>, &tile<2>, &tile<3>, &tile<4>};

// Every chunk of one group (n_rows of it stored) x nt tokens.
inline void group_tiles(int rows, const uint8_t* grp, const BlockQ8_0* const* at, int nt, int64_t nb, float* c,
                        int64_t ldc, int n_rows) {
  for (int ci = 0; ci * rows < n_rows; ++ci) kTiles[nt - 1](rows, grp, ci, at, nb, c + ci * rows, ldc, n_rows - ci * rows);
}

void gemm_packed_sve(const void* wp, int64_t k, const void* a, size_t arb, int64_t r0, int64_t r1, int64_t m, float* c,
                     int64_t ldc) {
  if (m <= 0 || r1 <= r0) return;
  const auto* p = static_cast<const uint8_t*>(wp);
  const auto* ab = static_cast<const uint8_t*>(a);
  const int64_t nb = k / kQ8_0Block;
  const size_t gb = group_bytes(nb);
  const int rows = static_cast<int>(std::min<uint64_t>(svcntw(), G));
  auto arow = [&](int64_t t) { return reinterpret_cast<const BlockQ8_0*>(ab + t * arb); };
  const int64_t row_bytes = nb * static_cast<int64_t>(sizeof(BlockQ8_0));
  int64_t tb = static_cast<int64_t>(kTokenBlockBytes) / std::max<int64_t>(row_bytes, 1);
  tb = std::min<int64_t>(m, std::max<int64_t>(kTileTokens, tb / kTileTokens * kTileTokens));
  for (int64_t t0 = 0; t0 < m; t0 += tb) {
    const int64_t nt_blk = std::min(tb, m - t0);
    for (int64_t r = r0; r < r1; r += G) {
      const uint8_t* grp = p + (r / G) * gb;
      const int n_rows = static_cast<int>(std::min<int64_t>(G, r1 - r));
      for (int64_t it = 0; it < nt_blk; it += kTileTokens) {
        const int nt = static_cast<int>(std::min<int64_t>(kTileTokens, nt_blk - it));
        const BlockQ8_0* at[kTileTokens];
        for (int t = 0; t < nt; ++t) at[t] = arow(t0 + it + t);
        group_tiles(rows, grp, at, nt, nb, c + (t0 + it) * ldc + r, ldc, n_rows);
      }
    }
  }
}

}  // namespace

void fill_packed_q8_0_sve(MatmulKernels& q8) {
  if (!cpu_features().sve || svcntb() < 32) return;  // 128-bit: the NEON gemm (see above)
  q8.gemm_packed = gemm_packed_sve;
}

}  // namespace deepcpu::kernels

#endif  // defined(__aarch64__)
