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
// Why this shape: per 16 x 16 C tile and block the epilogue is 16 loads + 16 cvt + 16 mul
// + 16 fma (48 FP uops on two ports), and it is the bottleneck, not the TMUL. So the
// accumulators of one 16-token x 16-row output tile stay in zmm registers over a chunk
// of k, and the epilogue of a block pair runs one pair behind its tile store. A
// microbenchmark (L1-resident data, one core of this 2-vCPU Sapphire Rapids VM) gave,
// per 16x16x32 block: TMUL + tile store ~11.5 ns, epilogue alone ~8 ns, both ~19 ns
// (~850 GOPS): the two do not overlap, so ~2x over VNNI is about the ceiling of any
// kernel that keeps the per-block float order. Tried and no faster: four C tiles
// unrolled over four blocks, A tiles copied tile-contiguous (512 B) instead of k apart,
// k chunks of 8 blocks (slower; 128 is best: fewer pipeline restarts, the B chunk of a
// group, 68 KiB, stays in L2 for the token tiles).
//
// Measured (bench/packed_bench --m=N, 1 thread, same run, GOPS AMX vs VNNI):
//   4096x4096        m=16 474 vs 244, m=64 464 vs 309, m=512 470 vs 298
//   R1 gate/up       m=16 504 vs 248, m=64 481 vs 280, m=512 480 vs 285
//   R1 down          m=16 523 vs 256, m=64 472 vs 319, m=512 430 vs 256
//   m=5 / 8 / 12: 1.4x / 1.5x / 1.8x VNNI (the A tile is zero-padded to 16 tokens; the
//   epilogue runs only for the real ones), hence kMinTokens = 5.
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

namespace deepcpu::kernels {

namespace {

constexpr int G = kPackRows;
constexpr size_t kPairBytes = 64 + 2 * 8 * G * 4;
constexpr int kTileTokens = 16;
// Activation bytes (int8 q + f32 scales) kept hot per pass over a row range.
constexpr size_t kTokenBlockBytes = 384 * 1024;
// Below this many tokens the previous table entry (the VNNI GEMV) is used; see the header.
constexpr int64_t kMinTokens = 5;
// Blocks per k chunk (even: pairs stay pairs); see the header.
constexpr int64_t kChunkBlocks = 128;

GemmPackedFn g_small = nullptr;  // the gemm_packed this one replaced

inline size_t group_bytes(int64_t nb) { return static_cast<size_t>((nb + 1) / 2) * kPairBytes; }
inline const uint8_t* block_q(const uint8_t* grp, int64_t b) {
  return grp + (b >> 1) * kPairBytes + 64 + (b & 1) * (8 * G * 4);
}
inline __m512 block_scales(const uint8_t* grp, int64_t b) {
  return _mm512_cvtph_ps(
      _mm256_loadu_si256(reinterpret_cast<const __m256i*>(grp + (b >> 1) * kPairBytes + (b & 1) * 32)));
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

// Per-thread scratch: activation quants (rows of k bytes, token count padded to a
// multiple of 16 with zero rows) and their f32 scales (rows of nb). (A tile-ordered copy,
// each A tile 512 contiguous bytes, measured no faster.)
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
      std::memcpy(aq + t * k + b * kQ8_0Block, blk[b].qs, kQ8_0Block);
      da[t * nb + b] = fp16_to_f32(blk[b].d);
    }
  }
  std::memset(aq + n * k, 0, static_cast<size_t>((n_pad - n) * k));
  std::fill(da + n * nb, da + n_pad * nb, 0.0f);
}

// 16 weight rows (one group) x NT tokens (NT <= 16; the A tile always holds 16, padded
// with zero rows) over blocks [b0, b1); the partial sums start from c (or 0 when b0 == 0)
// and go back to c[t * ldc + l] for t < NT, lanes in mask. Blocks go in pairs through
// C tiles tmm0/1, and the float epilogue of a pair runs after the TMUL work of the next
// pair is issued, from a buffer stored one pair earlier: a vector load right behind the
// tile store of its data waits for that store to commit, which stalled the whole loop.
template <int NT>
void tile(const uint8_t* grp, const int8_t* aq, int64_t k, const float* da, int64_t nb, int64_t b0, int64_t b1,
          float* c, int64_t ldc, __mmask16 mask) {
  alignas(64) int32_t buf[2][2][16 * 16];
  __m512 acc[NT];
  for (int t = 0; t < NT; ++t) acc[t] = b0 == 0 ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(mask, c + t * ldc);
  auto epilogue = [&](const int32_t* cb, int64_t b) {
    const __m512 dw = block_scales(grp, b);
    for (int t = 0; t < NT; ++t) {
      const __m512 d = _mm512_mul_ps(dw, _mm512_set1_ps(da[t * nb + b]));
      acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_load_si512(cb + 16 * t)), d, acc[t]);
    }
  };
  int64_t b = b0;
  int cur = 0;
  for (; b + 1 < b1; b += 2, cur ^= 1) {
    _tile_loadd(4, aq + b * kQ8_0Block, k);
    _tile_loadd(6, block_q(grp, b), 64);
    _tile_zero(0);
    _tile_dpbssd(0, 4, 6);
    _tile_loadd(5, aq + (b + 1) * kQ8_0Block, k);
    _tile_loadd(7, block_q(grp, b + 1), 64);
    _tile_zero(1);
    _tile_dpbssd(1, 5, 7);
    if (b > b0) {
      epilogue(buf[cur ^ 1][0], b - 2);
      epilogue(buf[cur ^ 1][1], b - 1);
    }
    _tile_stored(0, buf[cur][0], 64);
    _tile_stored(1, buf[cur][1], 64);
  }
  if (b > b0) {
    epilogue(buf[cur ^ 1][0], b - 2);
    epilogue(buf[cur ^ 1][1], b - 1);
  }
  if (b < b1) {  // a last odd block: its zero pad partner is never added (it could flip -0)
    _tile_loadd(4, aq + b * kQ8_0Block, k);
    _tile_loadd(6, block_q(grp, b), 64);
    _tile_zero(0);
    _tile_dpbssd(0, 4, 6);
    _tile_stored(0, buf[0][0], 64);
    epilogue(buf[0][0], b);
  }
  for (int t = 0; t < NT; ++t) _mm512_mask_storeu_ps(c + t * ldc, mask, acc[t]);
}

using TileFn = void (*)(const uint8_t*, const int8_t*, int64_t, const float*, int64_t, int64_t, int64_t, float*,
                       int64_t, __mmask16);
template <int... I>
constexpr std::array<TileFn, sizeof...(I)> make_tiles(std::integer_sequence<int, I...>) {
  return {&tile<I + 1>...};
}
constexpr auto kTiles = make_tiles(std::make_integer_sequence<int, kTileTokens>{});

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
  tb = std::min<int64_t>(m, std::max<int64_t>(kTileTokens, tb / kTileTokens * kTileTokens));
  const int64_t tb_pad = (tb + kTileTokens - 1) / kTileTokens * kTileTokens;
  if (sc.aq.size() < static_cast<size_t>(tb_pad * k)) sc.aq.resize(tb_pad * k);
  if (sc.da.size() < static_cast<size_t>(tb_pad * nb)) sc.da.resize(tb_pad * nb);
  for (int64_t t0 = 0; t0 < m; t0 += tb) {
    const int64_t nt_blk = std::min(tb, m - t0);
    const int64_t nt_pad = (nt_blk + kTileTokens - 1) / kTileTokens * kTileTokens;
    prepare(ab + t0 * arb, arb, nt_blk, nt_pad, nb, sc.aq.data(), sc.da.data());
    for (int64_t r = r0; r < r1; r += G) {
      const uint8_t* grp = p + (r / G) * gb;
      const __mmask16 mask = row_mask(r1 - r);
      // k in chunks of kChunkBlocks: each token tile restarts its accumulators from c.
      for (int64_t kb = 0; kb < nb; kb += kChunkBlocks) {
        const int64_t kb1 = std::min(nb, kb + kChunkBlocks);
        for (int64_t it = 0; it < nt_blk; it += kTileTokens) {
          const int nt = static_cast<int>(std::min<int64_t>(kTileTokens, nt_blk - it));
          kTiles[nt - 1](grp, sc.aq.data() + it * k, k, sc.da.data() + it * nb, nb, kb, kb1, c + (t0 + it) * ldc + r,
                         ldc, mask);
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
