// Packed Q8_0 gemm with AVX-512 VNNI over the layout of scalar/packed_q8_0.cpp.
//
// One zmm of a panel holds 4 consecutive elements of each of 16 rows, so a vpdpbusd
// against 4 activation bytes broadcast to every lane ({1to16}) adds 4 products into each
// row's lane: 8 of them finish a 32-element block for 16 rows with contiguous loads and no
// horizontal sums. vpdpbusd takes unsigned x signed bytes, so activations are stored
// offset (a + 128, unsigned) in a per-call scratch and each row's lane starts at
// -128 * sum(w), computed once per block of the group (GEMM: once per group for all token
// tiles). The int block sums are exact, so the only float ops per output are the
// reference's: s = fma(float(isum), d_w * d_a, s), block by block. Results are
// bit-identical to the scalar reference, across m, tiles and row splits.
//
// GEMV (m <= 4) streams the panels once at memory speed, a pair of blocks at a time: per
// block 8 loads, 8 dpbusd for the offset correction + 8 per token, one fma per token;
// software prefetch 1 KiB ahead into L1 and 3 KiB ahead into L2. GEMM tiles are 16 rows x kTileTokens tokens: each weight
// zmm is loaded once per tile and used kTileTokens times, activations come from L1/L2.
#if defined(__x86_64__)
#if defined(__GNUC__) && !defined(__clang__)
// GCC 12 flags the _mm512_undefined_* inside the intrinsics' own headers (cvtph_ps,
// cvtepi32_ps, extracti64x4) once gemv_small inlines them: a false positive.
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
using packed::kPairBytes;
constexpr int kTileTokens = 12;
// Activation bytes (offset q + f32 scales) kept hot per pass over a row range.
constexpr size_t kTokenBlockBytes = 384 * 1024;


inline __m512i bcast4(const uint8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm512_set1_epi32(v);
}

inline const uint8_t* block_q(const uint8_t* grp, int64_t b) { return grp + packed::block_q_offset(b); }
inline __m512 block_scales(const uint8_t* grp, int64_t b) {
  return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(grp + packed::block_d_offset(b))));
}

inline __mmask16 row_mask(int64_t n) { return n >= G ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << n) - 1); }

// Per-thread scratch: offset activations, their f32 scales, one group's corrections.
struct Scratch {
  std::vector<uint8_t> au;
  std::vector<float> da;
  std::vector<int32_t> corr;  // 16 lanes per block
};
thread_local Scratch tls;

// Tokens [0, n) of a (q8_0 rows) -> au (rows of k bytes, q + 128) and da (rows of nb).
void prepare(const uint8_t* a, size_t arb, int64_t n, int64_t nb, uint8_t* au, float* da) {
  const __m256i k80 = _mm256_set1_epi8(static_cast<char>(0x80));
  const int64_t k = nb * kQ8_0Block;
  for (int64_t t = 0; t < n; ++t) {
    const auto* blk = reinterpret_cast<const BlockQ8_0*>(a + t * arb);
    for (int64_t b = 0; b < nb; ++b) {
      const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk[b].qs));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(au + t * k + b * kQ8_0Block), _mm256_xor_si256(q, k80));
      da[t * nb + b] = fp16_to_f32(blk[b].d);
    }
  }
}

// Small-m GEMV (NT <= 4 tokens, activations k bytes apart in au) over S consecutive
// groups at once, a pair of blocks at a time: one 64-byte scale line per pair serves
// both blocks, every weight line is loaded once and used for NT tokens plus the offset
// correction. Two groups at once are two independent streams for the memory system to
// fetch, which a core with few outstanding misses needs: m = 1 ~33 -> ~35-37 GB/s on 2
// threads (packed_bench --m=1, wall), against a 37-40 GB/s read probe. Software
// prefetch, per stream: the line 1 KiB ahead into L1 and kPfL2 ahead into L2 (2 KiB with
// two streams, 3 KiB with one; 3 or 4 streams, or other distances, were no better).
// m = 2..4 this way instead of the GEMM tiles (which read each group twice: corrections,
// then tiles): ~21 -> ~32 GB/s.
// Per output the float ops are the reference's, block by block in order.
constexpr int kPfL1 = 1024;
template <int S>
constexpr int kPfL2 = S == 1 ? 3072 : 2048;

template <int NT>
inline void block_isums(const uint8_t* qb, const uint8_t* ab, int64_t k, __m512i k80, __m512i* out) {
  const auto* q = reinterpret_cast<const __m512i*>(qb);
  if constexpr (NT == 1) {
    __m512i s0 = _mm512_setzero_si512(), s1 = s0, c0 = s0, c1 = s0;
    for (int j = 0; j < 8; j += 2) {
      const __m512i w0 = _mm512_loadu_si512(q + j);
      const __m512i w1 = _mm512_loadu_si512(q + j + 1);
      s0 = _mm512_dpbusd_epi32(s0, bcast4(ab + 4 * j), w0);
      c0 = _mm512_dpbusd_epi32(c0, k80, w0);
      s1 = _mm512_dpbusd_epi32(s1, bcast4(ab + 4 * j + 4), w1);
      c1 = _mm512_dpbusd_epi32(c1, k80, w1);
    }
    out[0] = _mm512_sub_epi32(_mm512_add_epi32(s0, s1), _mm512_add_epi32(c0, c1));
  } else {
    __m512i s[NT], c0 = _mm512_setzero_si512(), c1 = c0;
    for (int t = 0; t < NT; ++t) s[t] = c0;
    for (int j = 0; j < 8; j += 2) {
      const __m512i w0 = _mm512_loadu_si512(q + j);
      const __m512i w1 = _mm512_loadu_si512(q + j + 1);
      c0 = _mm512_dpbusd_epi32(c0, k80, w0);
      c1 = _mm512_dpbusd_epi32(c1, k80, w1);
      for (int t = 0; t < NT; ++t) {
        s[t] = _mm512_dpbusd_epi32(s[t], bcast4(ab + t * k + 4 * j), w0);
        s[t] = _mm512_dpbusd_epi32(s[t], bcast4(ab + t * k + 4 * j + 4), w1);
      }
    }
    const __m512i corr = _mm512_add_epi32(c0, c1);
    for (int t = 0; t < NT; ++t) out[t] = _mm512_sub_epi32(s[t], corr);
  }
}

template <int NT, int S>
void gemv_small(const uint8_t* grp, size_t gb, const uint8_t* au, int64_t k, const float* da, int64_t nb, float* c,
                int64_t ldc, __mmask16 last_mask) {
  const __m512i k80 = _mm512_set1_epi8(static_cast<char>(0x80));
  __m512 acc[S][NT];
  for (int i = 0; i < S; ++i) {
    for (int t = 0; t < NT; ++t) acc[i][t] = _mm512_setzero_ps();
  }
  const int64_t np = nb / 2;
  __m512i is[NT];
  // acc[i] += isum * (d_w * d_a) for tokens t, block b of stream i (scales dw).
  auto add_block = [&](int i, __m512 dw, int64_t b) {
    for (int t = 0; t < NT; ++t) {
      const __m512 d = _mm512_mul_ps(dw, _mm512_set1_ps(da[t * nb + b]));
      acc[i][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(is[t]), d, acc[i][t]);
    }
  };
  for (int64_t p = 0; p < np; ++p) {
    for (int i = 0; i < S; ++i) {
      const char* pc = reinterpret_cast<const char*>(grp + i * gb + p * kPairBytes);
      for (int l = 0; l < 17; ++l) _mm_prefetch(pc + kPfL1 + 64 * l, _MM_HINT_T0);
      for (int l = 0; l < 17; ++l) _mm_prefetch(pc + kPfL2<S> + 64 * l, _MM_HINT_T1);
    }
    const int64_t b0 = 2 * p;
    for (int i = 0; i < S; ++i) {
      const uint8_t* pair = grp + i * gb + p * kPairBytes;
      const __m512i sc = _mm512_loadu_si512(pair);
      block_isums<NT>(pair + 64, au + b0 * kQ8_0Block, k, k80, is);
      add_block(i, _mm512_cvtph_ps(_mm512_castsi512_si256(sc)), b0);
      block_isums<NT>(pair + 64 + 8 * G * 4, au + (b0 + 1) * kQ8_0Block, k, k80, is);
      add_block(i, _mm512_cvtph_ps(_mm512_extracti64x4_epi64(sc, 1)), b0 + 1);
    }
  }
  if (nb & 1) {  // last odd block: its zero pad partner is never added (it could flip -0)
    const int64_t b0 = 2 * np;
    for (int i = 0; i < S; ++i) {
      block_isums<NT>(grp + i * gb + np * kPairBytes + 64, au + b0 * kQ8_0Block, k, k80, is);
      add_block(i, block_scales(grp + i * gb, b0), b0);
    }
  }
  for (int i = 0; i < S; ++i) {
    const __mmask16 mask = i == S - 1 ? last_mask : static_cast<__mmask16>(0xffff);
    for (int t = 0; t < NT; ++t) _mm512_mask_storeu_ps(c + t * ldc + i * G, mask, acc[i][t]);
  }
}

using SmallFn = void (*)(const uint8_t*, size_t, const uint8_t*, int64_t, const float*, int64_t, float*, int64_t,
                         __mmask16);
constexpr SmallFn kSmall1[4] = {&gemv_small<1, 1>, &gemv_small<2, 1>, &gemv_small<3, 1>, &gemv_small<4, 1>};
constexpr SmallFn kSmall2[4] = {&gemv_small<1, 2>, &gemv_small<2, 2>, &gemv_small<3, 2>, &gemv_small<4, 2>};
constexpr int kSmallMaxTokens = 4;

// corr[b] = -128 * (sum of row l's 32 weights of block b) in lane l.
void group_corrections(const uint8_t* grp, int64_t nb, int32_t* corr) {
  const __m512i k80 = _mm512_set1_epi8(static_cast<char>(0x80));
  for (int64_t b = 0; b < nb; ++b) {
    const auto* q = reinterpret_cast<const __m512i*>(block_q(grp, b));
    __m512i c0 = _mm512_setzero_si512(), c1 = c0;
    for (int j = 0; j < 8; j += 2) {
      c0 = _mm512_dpbusd_epi32(c0, k80, _mm512_loadu_si512(q + j));
      c1 = _mm512_dpbusd_epi32(c1, k80, _mm512_loadu_si512(q + j + 1));
    }
    _mm512_storeu_si512(corr + 16 * b, _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_add_epi32(c0, c1)));
  }
}

// 16 rows x NT tokens over the whole k.
template <int NT>
void tile(const uint8_t* grp, const int32_t* corr, const uint8_t* au, int64_t k, const float* da, int64_t nb, float* c,
          int64_t ldc, __mmask16 mask) {
  __m512 acc[NT];
  for (int t = 0; t < NT; ++t) acc[t] = _mm512_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const auto* q = reinterpret_cast<const __m512i*>(block_q(grp, b));
    const uint8_t* ab = au + b * kQ8_0Block;
    __m512i s[NT];
    const __m512i cr = _mm512_loadu_si512(corr + 16 * b);
    for (int t = 0; t < NT; ++t) s[t] = cr;
    for (int j = 0; j < 8; ++j) {
      const __m512i w = _mm512_loadu_si512(q + j);
      for (int t = 0; t < NT; ++t) s[t] = _mm512_dpbusd_epi32(s[t], bcast4(ab + t * k + 4 * j), w);
    }
    const __m512 dw = block_scales(grp, b);
    for (int t = 0; t < NT; ++t) {
      const __m512 d = _mm512_mul_ps(dw, _mm512_set1_ps(da[t * nb + b]));
      acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s[t]), d, acc[t]);
    }
  }
  for (int t = 0; t < NT; ++t) _mm512_mask_storeu_ps(c + t * ldc, mask, acc[t]);
}

using TileFn = void (*)(const uint8_t*, const int32_t*, const uint8_t*, int64_t, const float*, int64_t, float*, int64_t,
                        __mmask16);
template <int... I>
constexpr std::array<TileFn, sizeof...(I)> make_tiles(std::integer_sequence<int, I...>) {
  return {&tile<I + 1>...};
}
constexpr auto kTiles = make_tiles(std::make_integer_sequence<int, kTileTokens>{});

void gemm_packed_vnni(const void* wp, int64_t k, const void* a, size_t arb, int64_t r0, int64_t r1, int64_t m, float* c,
                      int64_t ldc) {
  const auto* p = static_cast<const uint8_t*>(wp);
  const auto* ab = static_cast<const uint8_t*>(a);
  const int64_t nb = k / kQ8_0Block;
  const size_t gb = group_bytes(nb);
  Scratch& sc = tls;
  if (m <= 0) return;
  if (m <= kSmallMaxTokens) {
    if (sc.au.size() < static_cast<size_t>(m * k)) sc.au.resize(m * k);
    if (sc.da.size() < static_cast<size_t>(m * nb)) sc.da.resize(m * nb);
    prepare(ab, arb, m, nb, sc.au.data(), sc.da.data());
    int64_t r = r0;
    for (; r + G < r1; r += 2 * G) {
      kSmall2[m - 1](p + (r / G) * gb, gb, sc.au.data(), k, sc.da.data(), nb, c + r, ldc, row_mask(r1 - r - G));
    }
    if (r < r1) kSmall1[m - 1](p + (r / G) * gb, gb, sc.au.data(), k, sc.da.data(), nb, c + r, ldc, row_mask(r1 - r));
    return;
  }
  int64_t tb = static_cast<int64_t>(kTokenBlockBytes / static_cast<size_t>(k + 4 * nb));
  tb = std::min<int64_t>(m, std::max<int64_t>(kTileTokens, tb / kTileTokens * kTileTokens));
  if (sc.au.size() < static_cast<size_t>(tb * k)) sc.au.resize(tb * k);
  if (sc.da.size() < static_cast<size_t>(tb * nb)) sc.da.resize(tb * nb);
  if (sc.corr.size() < static_cast<size_t>(16 * nb)) sc.corr.resize(16 * nb);
  for (int64_t t0 = 0; t0 < m; t0 += tb) {
    const int64_t nt_blk = std::min(tb, m - t0);
    prepare(ab + t0 * arb, arb, nt_blk, nb, sc.au.data(), sc.da.data());
    for (int64_t r = r0; r < r1; r += G) {
      const uint8_t* grp = p + (r / G) * gb;
      const __mmask16 mask = row_mask(r1 - r);
      group_corrections(grp, nb, sc.corr.data());
      for (int64_t it = 0; it < nt_blk; it += kTileTokens) {
        const int nt = static_cast<int>(std::min<int64_t>(kTileTokens, nt_blk - it));
        kTiles[nt - 1](grp, sc.corr.data(), sc.au.data() + it * k, k, sc.da.data() + it * nb, nb,
                       c + (t0 + it) * ldc + r, ldc, mask);
      }
    }
  }
}

}  // namespace

void fill_packed_q8_0_avx512(MatmulKernels& q8) {
  if (!cpu_features().avx512vnni) return;
  q8.gemm_packed = gemm_packed_vnni;
}

}  // namespace deepcpu::kernels

#endif  // defined(__x86_64__)
