// Packed Q8_0 gemm with NEON dotprod over the layout of scalar/packed_q8_0.cpp. Owns only
// gemm_packed; packed_bytes / pack_rows / unpack_rows stay the scalar entries.
//
// A 64-byte line q[i][j] of a panel is four int8x16 registers, each 4 elements of 4 rows
// (rows 4r..4r+3 in register r). sdot by lane (vdotq_laneq_s32(s, w, a, L)) adds, into
// lane l of s, row l's 4 products with activation bytes 4L..4L+3 of the register a, so a
// block's 32 activation bytes are two registers and 8 lane-sdots per row register finish
// the block: every lane an exact int32 block sum, no horizontal reduction, no unsigned
// offset (sdot is signed x signed, unlike x86's vpdpbusd). Per output the float ops are
// the reference's: s = fma(float(isum), d_w * d_a, s) block by block (the odd last block's
// zero partner is never touched: adding it could turn -0 into +0), so results equal the
// scalar reference bit for bit across m, tiles and row splits.
//
// One tile body, tile<R, NT>: R registers of rows (4R rows of a group) x NT tokens over
// the whole k. Per block it needs R NT int and R NT float accumulators plus NT activation
// and R weight and scale registers, out of 32:
//   - m <= 2 (decode): R = 4, a whole group in one pass, so the panels stream exactly once
//     front to back (the hardware prefetchers follow one sequential stream; a single
//     token splits its int sums over two accumulator sets to hide sdot latency).
//   - m = 3, 4 (decode of a few sequences): R = 2, NT = m: each half group is one pass;
//     the second half rereads the group's lines from L2, which the first pass just filled
//     (a group is 1088 B per block pair: 139 KiB at k = 4096).
//   - GEMM: R = 2 (8 rows) x NT = 4 tokens: 8 int + 8 float accumulators, 4 activation, 2
//     weight and 2 scale registers (GCC 12 still keeps a few accumulators in L1: about a
//     dozen stack accesses per 64 sdots); 16 weight + 8 activation loads per 64 sdots.
//   - No i8mm: smmla wants 8 consecutive elements of a row per 8 bytes, this layout has 4,
//     so every weight register would need a zip with its neighbour line first; at tile
//     sizes that fit 32 registers that costs about what smmla's doubled MACs save.
//     Tokens go in blocks of about kTokenBlockBytes of activations (kept in L2) while the
//     groups of the row range stream past, as on x86.
// Activations are read straight from their q8_0 rows (unaligned loads are free here), so
// there is no per-call scratch.
// DEEPCPU_ISA_GUARD: compiled only for aarch64 (cmake/isa.cmake); elsewhere it is empty.
#if defined(__aarch64__)
#include <arm_neon.h>

#include <algorithm>
#include <cstring>

#include "kernels/kernels.h"
#include "kernels/packed_layout.h"

namespace deepcpu::kernels {

namespace {

using packed::G;
using packed::group_bytes;
using packed::kPairBytes;
constexpr int kTileTokens = 4;
constexpr int kSmallMaxTokens = 4;
constexpr size_t kTokenBlockBytes = 256 * 1024;


// Block b of a group: its 8 lines of 64 bytes and its 16 fp16 scales.
inline const int8_t* block_q(const uint8_t* grp, int64_t b) {
  return reinterpret_cast<const int8_t*>(grp + packed::block_q_offset(b));
}
inline const float16_t* block_d(const uint8_t* grp, int64_t b) {
  return reinterpret_cast<const float16_t*>(grp + packed::block_d_offset(b));
}

// An fp16 scale in one fcvt (the software fp16_to_f32 branches on subnormals); the same
// value for every finite input.
inline float scale_f32(uint16_t h) {
  float16_t f;
  std::memcpy(&f, &h, 2);
  return static_cast<float>(f);
}

// Lines j = 4h + L (L = 0..3) of one block against activation register a (bytes 16h..16h+15
// of the block): s[t][r] += rows 4(r0 + r).. x token t.
template <int R, int NT, int L>
inline void dot_line(const int8_t* q, int r0, const int8x16_t* a, int32x4_t (*s)[R]) {
  int8x16_t w[R];
  for (int r = 0; r < R; ++r) w[r] = vld1q_s8(q + 64 * L + 16 * (r0 + r));
  for (int t = 0; t < NT; ++t)
    for (int r = 0; r < R; ++r) s[t][r] = vdotq_laneq_s32(s[t][r], w[r], a[t], L);
}

// Rows 4 r0 .. 4 (r0 + R) - 1 of the group (of which n_rows are stored) x NT tokens (q8_0
// rows at[t]) over nb blocks; c[t * ldc + i] for the tile's row i.
template <int R, int NT>
void tile(const uint8_t* grp, int r0, const BlockQ8_0* const* at, int64_t nb, float* c, int64_t ldc, int n_rows) {
  // One token: its 8 sdots per row register go to two accumulator sets (lines 0-3, 4-7),
  // summed after the block (int adds, exact), so 2R chains are in flight instead of R.
  constexpr int H = NT == 1 ? 2 : 1;
  float32x4_t acc[NT][R];
  for (int t = 0; t < NT; ++t)
    for (int r = 0; r < R; ++r) acc[t][r] = vdupq_n_f32(0.0f);
  for (int64_t b = 0; b < nb; ++b) {
    const int8_t* q = block_q(grp, b);
    int32x4_t s[H][NT][R];
    for (int h = 0; h < H; ++h)
      for (int t = 0; t < NT; ++t)
        for (int r = 0; r < R; ++r) s[h][t][r] = vdupq_n_s32(0);
    for (int half = 0; half < 2; ++half) {
      int8x16_t a[NT];
      for (int t = 0; t < NT; ++t) a[t] = vld1q_s8(at[t][b].qs + 16 * half);
      const int8_t* qh = q + half * 4 * 64;
      int32x4_t (*sh)[R] = s[H == 2 ? half : 0];
      dot_line<R, NT, 0>(qh, r0, a, sh);
      dot_line<R, NT, 1>(qh, r0, a, sh);
      dot_line<R, NT, 2>(qh, r0, a, sh);
      dot_line<R, NT, 3>(qh, r0, a, sh);
    }
    if constexpr (H == 2)
      for (int r = 0; r < R; ++r) s[0][0][r] = vaddq_s32(s[0][0][r], s[1][0][r]);
    const float16_t* dp = block_d(grp, b) + 4 * r0;
    float32x4_t dw[R];
    for (int r = 0; r < R; ++r) dw[r] = vcvt_f32_f16(vld1_f16(dp + 4 * r));
    for (int t = 0; t < NT; ++t) {
      const float da = scale_f32(at[t][b].d);
      // d_w * d_a rounded once, then one fused multiply-add: the reference's two ops.
      for (int r = 0; r < R; ++r) acc[t][r] = vfmaq_f32(acc[t][r], vcvtq_f32_s32(s[0][t][r]), vmulq_n_f32(dw[r], da));
    }
  }
  if (n_rows >= 4 * R) {
    for (int t = 0; t < NT; ++t)
      for (int r = 0; r < R; ++r) vst1q_f32(c + t * ldc + 4 * r, acc[t][r]);
    return;
  }
  float tmp[NT][4 * R];
  for (int t = 0; t < NT; ++t)
    for (int r = 0; r < R; ++r) vst1q_f32(tmp[t] + 4 * r, acc[t][r]);
  for (int t = 0; t < NT; ++t) std::memcpy(c + t * ldc, tmp[t], static_cast<size_t>(n_rows) * sizeof(float));
}

using TileFn = void (*)(const uint8_t*, int, const BlockQ8_0* const*, int64_t, float*, int64_t, int);

// One pass of R-register tiles over a group (NT tokens): 16 / (4R) passes cover it.
template <int R, int NT>
void group_tiles(const uint8_t* grp, const BlockQ8_0* const* at, int64_t nb, float* c, int64_t ldc, int n_rows) {
  for (int r0 = 0; r0 < G / 4 && 4 * r0 < n_rows; r0 += R) tile<R, NT>(grp, r0, at, nb, c + 4 * r0, ldc, n_rows - 4 * r0);
}

using GroupFn = void (*)(const uint8_t*, const BlockQ8_0* const*, int64_t, float*, int64_t, int);
// Decode (m <= 4), by token count: see the header for the shapes.
constexpr GroupFn kSmall[kSmallMaxTokens] = {&group_tiles<4, 1>, &group_tiles<4, 2>, &group_tiles<2, 3>,
                                             &group_tiles<2, 4>};
// GEMM tiles (8 rows), by token count 1..kTileTokens for the ragged last tile.
constexpr GroupFn kTiles[kTileTokens] = {&group_tiles<2, 1>, &group_tiles<2, 2>, &group_tiles<2, 3>,
                                         &group_tiles<2, 4>};

void gemm_packed_neon(const void* wp, int64_t k, const void* a, size_t arb, int64_t r0, int64_t r1, int64_t m, float* c,
                      int64_t ldc) {
  if (m <= 0 || r1 <= r0) return;
  const auto* p = static_cast<const uint8_t*>(wp);
  const auto* ab = static_cast<const uint8_t*>(a);
  const int64_t nb = k / kQ8_0Block;
  const size_t gb = group_bytes(nb);
  auto arow = [&](int64_t t) { return reinterpret_cast<const BlockQ8_0*>(ab + t * arb); };
  if (m <= kSmallMaxTokens) {
    const BlockQ8_0* at[kSmallMaxTokens];
    for (int64_t t = 0; t < m; ++t) at[t] = arow(t);
    const GroupFn fn = kSmall[m - 1];
    for (int64_t r = r0; r < r1; r += G)
      fn(p + (r / G) * gb, at, nb, c + r, ldc, static_cast<int>(std::min<int64_t>(G, r1 - r)));
    return;
  }
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
        kTiles[nt - 1](grp, at, nb, c + (t0 + it) * ldc + r, ldc, n_rows);
      }
    }
  }
}

}  // namespace

void fill_packed_q8_0_neon(MatmulKernels& q8) {
  if (!cpu_features().dotprod) return;
  q8.gemm_packed = gemm_packed_neon;
}

}  // namespace deepcpu::kernels

#endif  // defined(__aarch64__)
