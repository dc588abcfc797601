// Packed Q8_0 gemm with Intel AMX-INT8 over the layout of scalar/packed_q8_0.cpp, for
// prefill (m >= kMinTokens = 5 tokens); m <= 4 goes to the gemm that was in the table
// before (the AVX-512 VNNI GEMV, which streams weights at memory speed).
//
// One block of a group (q[i][0..7], 512 contiguous bytes) is exactly an AMX B tile in
// VNNI form: 8 rows of 64 bytes, row j = elements 4j..4j+3 of each of the 16 weight rows,
// K = 32. An A tile is 16 tokens x 32 int8 activations of the same block, so one
// tdpbssd (signed x signed: no offset or correction) gives the 16 x 16 exact int32 block
// sums isum_b. They cannot be accumulated across blocks in the tile (each block has its
// own scales), so every block ends with a tile store and the reference's float epilogue
// per output, s = fma(float(isum_b), d_w[b] * d_a[b], s): the same operations in the
// same order as the scalar reference, so results are bit-identical to it and to the VNNI
// kernels whatever m, tile shapes or row splits (a token alone, m = 1, gets the bits it
// gets in a batch).
//
// Why this shape: per 16 x 16 C tile and block the epilogue (tile store, 16 loads,
// 16 cvt, 16 mul, 16 fma) costs more than the TMUL, and on this VM the two overlap badly
// (in the kernel, m = 64: TMUL + stores alone ~800 GOPS, epilogue alone ~950, both
// ~550). So the kernel works on 2 x 2 register tiles, 32 tokens x 32 rows (tile2x2):
// each A and B tile load serves two tile multiplies (half the L2 -> tile traffic of
// 16 x 16), A tiles are copied tile-contiguous (16 rows 32 bytes apart, not k apart,
// which for k = 4096 put all rows in one L1 set), the tiles of block b + 2 are
// prefetched into L1 (~10%), the f32 accumulators live in an L1 buffer, and the
// epilogue of a block pair runs one pair behind its tile stores, cut into eight pieces
// issued between the tile multiplies of the next pair. Tried and no faster: zeroing C
// by a tile load of zeros instead of tilezero; two multiplies queued ahead of each
// tile store; moving the accumulator buffer off the 4 KiB alias of the C buffers; the
// 16 x 16 register-accumulator kernel for <= 16 tokens (the 1 x 2 variant of
// tile2x2 is 10-15% faster there). Before (16 x 16 tiles, accumulators in zmm, one
// tile multiply per A/B load): ~470-520 GOPS; k chunks of 128 blocks stay (the B
// chunk of two groups, 136 KiB, stays in L2 for the token tiles).
//
// Measured (bench/packed_bench --m=N, 1 thread, same run, GOPS AMX vs VNNI; the
// 16 x 16 kernel before it in brackets):
//   4096x4096        m=16 589 vs 264 [479], m=64 560 vs 315 [478], m=512 546 vs 309 [497]
//   R1 gate/up       m=16 589 vs 273 [521], m=64 599 vs 305 [488], m=512 578 vs 299 [530]
//   R1 down          m=16 594 vs 259 [514], m=64 565 vs 327 [493], m=512 490 vs 258 [376]
//   m < 5 goes to the VNNI GEMV (kMinTokens; the A tile is zero-padded to 16 tokens).
//
// Tile configuration is per thread: each thread loads it on its first call
// (thread_local flag); the process asked Linux for the AMX tile state at start-up
// (dispatch.cpp), and this kernel is installed only where that succeeded.
#if defined(__x86_64__)
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <utility>
#include <vector>

#include "base/fp16.h"
#include "kernels/kernels.h"
#include "kernels/packed_layout.h"

namespace deepcpu::kernels {

namespace {

using packed::G;
using packed::group_bytes;
constexpr int kTileTokens = 16;
// Activation bytes (int8 q + f32 scales) kept hot per pass over a row range.
constexpr size_t kTokenBlockBytes = 384 * 1024;
// Below this many tokens the previous table entry (the VNNI GEMV) is used; see the header.
constexpr int64_t kMinTokens = 5;
// Blocks per k chunk (even: pairs stay pairs); see the header.
constexpr int64_t kChunkBlocks = 128;

GemmPackedFn g_small = nullptr;  // the gemm_packed this one replaced

inline const uint8_t* block_q(const uint8_t* grp, int64_t b) { return grp + packed::block_q_offset(b); }
inline __m512 block_scales(const uint8_t* grp, int64_t b) {
  return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(grp + packed::block_d_offset(b))));
}
inline __mmask16 row_mask(int64_t n) {
  return n >= G ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << n) - 1);
}

// Palette 1: tmm0-3 C (16 tokens x 16 int32), tmm4-5 A (16 tokens x 32 int8),
// tmm6-7 B (8 x 64 bytes: one block of 16 weight rows).
struct alignas(64) TileConfig {
  uint8_t palette_id = 1;
  uint8_t start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};
static_assert(sizeof(TileConfig) == 64);

thread_local bool tls_configured = false;

void configure_tiles() {
  TileConfig cfg;
  for (int i = 0; i < 4; ++i) cfg.rows[i] = 16, cfg.colsb[i] = 64;
  for (int i = 4; i < 6; ++i) cfg.rows[i] = 16, cfg.colsb[i] = 32;
  for (int i = 6; i < 8; ++i) cfg.rows[i] = 8, cfg.colsb[i] = 64;
  _tile_loadconfig(&cfg);
  tls_configured = true;
}

// Per-thread scratch: activation quants in A tile order (token count padded to a multiple
// of 16 with zero rows; tokens 16i..16i+15 of block b are the 512 contiguous bytes at
// (i * nb + b) * 512, row stride 32: rows k apart would all fall in one L1 set when k is
// a multiple of 4096) and their f32 scales (rows of nb).
struct Scratch {
  std::vector<int8_t> aq;
  std::vector<float> da;
};
thread_local Scratch tls;

void prepare(const uint8_t* a, size_t arb, int64_t n, int64_t n_pad, int64_t nb, int8_t* aq, float* da) {
  const int64_t k = nb * kQ8_0Block;
  for (int64_t t = 0; t < n; ++t) {
    const auto* blk = reinterpret_cast<const BlockQ8_0*>(a + t * arb);
    for (int64_t b = 0; b < nb; ++b) {
      std::memcpy(aq + (t / 16) * 16 * k + b * 512 + (t % 16) * kQ8_0Block, blk[b].qs, kQ8_0Block);
      da[t * nb + b] = fp16_to_f32(blk[b].d);
    }
  }
  for (int64_t t = n; t < n_pad; ++t) {
    for (int64_t b = 0; b < nb; ++b) std::memset(aq + (t / 16) * 16 * k + b * 512 + (t % 16) * kQ8_0Block, 0, kQ8_0Block);
  }
  std::fill(da + n * nb, da + n_pad * nb, 0.0f);
}

// 2 x 2 register tiles: 32 tokens (A tiles tmm4/5) x 32 weight rows (two groups, B tiles
// tmm6/7) through four C tiles (tmm0-3: C[2 * ta + tb]), over blocks [b0, b1). The f32
// accumulators of the 32 x 32 outputs live in acc (L1: acc[t * 32 + 16 * tb + l]). Blocks
// go in pairs; the epilogue of a pair runs one pair behind its tile stores (a vector load
// right behind the tile store of its data would wait for that store to commit), cut in
// eight pieces (one C tile, 8 tokens, both blocks) issued between the tile multiplies and
// stores of the next pair so that the FP work overlaps the TMUL work.
// A2: tokens 16..31 exist (nt > 16); B2: the second group exists.
template <bool A2, bool B2>
void tile2x2(const uint8_t* g0, const uint8_t* g1, const int8_t* aq, int64_t k, const float* da, int64_t nb,
             int64_t b0, int64_t b1, int nt, float* acc) {
  alignas(64) int32_t buf[2][2][4][16 * 16];
  const int nt0 = std::min(nt, 16), nt1 = nt - nt0;
  const int8_t* aq1 = aq + 16 * k;
  // Tokens [8h, 8h + 8) of C tile (ta, tb), blocks b (and b + 1 when two), from pb.
  auto epi = [g0, g1, nt0, nt1, da, nb, acc](int32_t (*pb)[4][256], int64_t b, int ta, int tb, int h, bool two) {
    const int n = std::min(ta ? nt1 : nt0, 8 * h + 8) - 8 * h;
    if (n <= 0) return;
    const uint8_t* g = tb ? g1 : g0;
    const int64_t ldd = nb;
    const float* d = da + (ta * 16 + 8 * h) * ldd + b;
    float* ac = acc + (ta * 16 + 8 * h) * 32 + tb * 16;
    const int32_t* c0 = pb[0][2 * ta + tb] + 16 * 8 * h;
    const __m512 dw0 = block_scales(g, b);
    if (two) {
      const int32_t* c1 = pb[1][2 * ta + tb] + 16 * 8 * h;
      const __m512 dw1 = block_scales(g, b + 1);
#pragma GCC unroll 8
      for (int t = 0; t < n; ++t) {
        __m512 a = _mm512_load_ps(ac + t * 32);
        a = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_load_si512(c0 + 16 * t)),
                            _mm512_mul_ps(dw0, _mm512_set1_ps(d[t * ldd])), a);
        a = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_load_si512(c1 + 16 * t)),
                            _mm512_mul_ps(dw1, _mm512_set1_ps(d[t * ldd + 1])), a);
        _mm512_store_ps(ac + t * 32, a);
      }
    } else {
      for (int t = 0; t < n; ++t) {
        __m512 a = _mm512_load_ps(ac + t * 32);
        a = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_load_si512(c0 + 16 * t)),
                            _mm512_mul_ps(dw0, _mm512_set1_ps(d[t * ldd])), a);
        _mm512_store_ps(ac + t * 32, a);
      }
    }
  };
  // Block b into out[0..3]; with prev, the pieces of half h of the previous pair's epilogue
  // (blocks pb_b, pb_b + 1) in between.
  auto step = [&](int64_t b, int32_t (*out)[256], int32_t (*prev)[4][256], int64_t pb_b, int h, bool two) {
    if (b + 2 < b1) {  // the tiles of block b + 2 into L1 (measured ~10% faster)
      const int64_t bp = b + 2;
      const char* pa = reinterpret_cast<const char*>(aq + bp * 512);
      const char* pb0 = reinterpret_cast<const char*>(block_q(g0, bp));
      const char* pb1 = reinterpret_cast<const char*>(block_q(g1, bp));
      for (int i = 0; i < 8; ++i) {
        _mm_prefetch(pa + 64 * i, _MM_HINT_T0);
        if (A2) _mm_prefetch(pa + 16 * k + 64 * i, _MM_HINT_T0);
        _mm_prefetch(pb0 + 64 * i, _MM_HINT_T0);
        if (B2) _mm_prefetch(pb1 + 64 * i, _MM_HINT_T0);
      }
    }
    _tile_loadd(4, aq + b * 512, kQ8_0Block);
    _tile_loadd(6, block_q(g0, b), 64);
    _tile_zero(0);
    _tile_dpbssd(0, 4, 6);
    if (prev) epi(prev, pb_b, 0, 0, h, two);
    _tile_stored(0, out[0], 64);
    if constexpr (B2) {
      _tile_loadd(7, block_q(g1, b), 64);
      _tile_zero(1);
      _tile_dpbssd(1, 4, 7);
      if (prev) epi(prev, pb_b, 0, 1, h, two);
      _tile_stored(1, out[1], 64);
    }
    if constexpr (A2) {
      _tile_loadd(5, aq1 + b * 512, kQ8_0Block);
      _tile_zero(2);
      _tile_dpbssd(2, 5, 6);
      if (prev) epi(prev, pb_b, 1, 0, h, two);
      _tile_stored(2, out[2], 64);
      if constexpr (B2) {
        _tile_zero(3);
        _tile_dpbssd(3, 5, 7);
        if (prev) epi(prev, pb_b, 1, 1, h, two);
        _tile_stored(3, out[3], 64);
      }
    }
  };
  auto epi_all = [&](int32_t (*pb)[4][256], int64_t b, bool two) {
    for (int h = 0; h < 2; ++h) {
      epi(pb, b, 0, 0, h, two);
      if constexpr (B2) epi(pb, b, 0, 1, h, two);
      if constexpr (A2) epi(pb, b, 1, 0, h, two);
      if constexpr (A2 && B2) epi(pb, b, 1, 1, h, two);
    }
  };
  int64_t b = b0;
  int cur = 0;
  for (; b + 1 < b1; b += 2, cur ^= 1) {
    int32_t (*prev)[4][256] = b > b0 ? buf[cur ^ 1] : nullptr;
    step(b, buf[cur][0], prev, b - 2, 0, true);
    step(b + 1, buf[cur][1], prev, b - 2, 1, true);
  }
  if (b > b0) epi_all(buf[cur ^ 1], b - 2, true);
  if (b < b1) {  // a last odd block
    step(b, buf[0][0], nullptr, 0, 0, false);
    epi_all(buf[0], b, false);
  }
}

using Tile2Fn = void (*)(const uint8_t*, const uint8_t*, const int8_t*, int64_t, const float*, int64_t, int64_t,
                         int64_t, int, float*);
constexpr Tile2Fn kTiles2[2][2] = {{&tile2x2<false, false>, &tile2x2<false, true>},
                                   {&tile2x2<true, false>, &tile2x2<true, true>}};

void gemm_packed_amx(const void* wp, int64_t k, const void* a, size_t arb, int64_t r0, int64_t r1, int64_t m, float* c,
                     int64_t ldc) {
  if (m < kMinTokens) {
    g_small(wp, k, a, arb, r0, r1, m, c, ldc);
    return;
  }
  if (!tls_configured) configure_tiles();
  const auto* p = static_cast<const uint8_t*>(wp);
  const auto* ab = static_cast<const uint8_t*>(a);
  const int64_t nb = k / kQ8_0Block;
  const size_t gb = group_bytes(nb);
  Scratch& sc = tls;
  int64_t tb = static_cast<int64_t>(kTokenBlockBytes / static_cast<size_t>(k + 4 * nb));
  tb = std::min<int64_t>(m, std::max<int64_t>(2 * kTileTokens, tb / (2 * kTileTokens) * (2 * kTileTokens)));
  const int64_t tb_pad = (tb + kTileTokens - 1) / kTileTokens * kTileTokens;
  if (sc.aq.size() < static_cast<size_t>(tb_pad * k)) sc.aq.resize(tb_pad * k);
  if (sc.da.size() < static_cast<size_t>(tb_pad * nb)) sc.da.resize(tb_pad * nb);
  for (int64_t t0 = 0; t0 < m; t0 += tb) {
    const int64_t nt_blk = std::min(tb, m - t0);
    const int64_t nt_pad = (nt_blk + kTileTokens - 1) / kTileTokens * kTileTokens;
    prepare(ab + t0 * arb, arb, nt_blk, nt_pad, nb, sc.aq.data(), sc.da.data());
    for (int64_t r = r0; r < r1; r += 2 * G) {
      const uint8_t* g0 = p + (r / G) * gb;
      const bool two_groups = r + G < r1;
      const __mmask16 mask[2] = {row_mask(r1 - r), two_groups ? row_mask(r1 - r - G) : __mmask16(0)};
      // k in chunks of kChunkBlocks: each token tile restarts its accumulators from c.
      for (int64_t kb = 0; kb < nb; kb += kChunkBlocks) {
        const int64_t kb1 = std::min(nb, kb + kChunkBlocks);
        for (int64_t it = 0; it < nt_blk; it += 2 * kTileTokens) {
          const int nt = static_cast<int>(std::min<int64_t>(2 * kTileTokens, nt_blk - it));
          float* cc = c + (t0 + it) * ldc + r;
          alignas(64) float acc[32 * 32];
          for (int t = 0; t < nt; ++t) {
            for (int j = 0; j < 2; ++j) {
              _mm512_store_ps(acc + t * 32 + 16 * j,
                              kb == 0 ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(mask[j], cc + t * ldc + 16 * j));
            }
          }
          kTiles2[nt > kTileTokens][two_groups](g0, g0 + gb, sc.aq.data() + it * k, k, sc.da.data() + it * nb, nb,
                                                 kb, kb1, nt, acc);
          for (int t = 0; t < nt; ++t) {
            for (int j = 0; j < 2; ++j) _mm512_mask_storeu_ps(cc + t * ldc + 16 * j, mask[j], _mm512_load_ps(acc + t * 32 + 16 * j));
          }
        }
      }
    }
  }
}

}  // namespace

void fill_packed_q8_0_amx(MatmulKernels& q8) {
  if (q8.gemm_packed == nullptr || q8.gemm_packed == gemm_packed_amx) return;
  g_small = q8.gemm_packed;
  q8.gemm_packed = gemm_packed_amx;
}

}  // namespace deepcpu::kernels

#endif  // defined(__x86_64__)
