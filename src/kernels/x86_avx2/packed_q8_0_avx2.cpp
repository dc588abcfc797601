// Packed Q8_0 gemm with AVX2 over the layout of scalar/packed_q8_0.cpp: each 64-byte
// line q[j] of a block is two ymm, rows 0-7 and rows 8-15, 4 elements per row per lane.
// maddubs takes unsigned x signed bytes, so the usual sign trick moves w's sign onto the
// broadcast activations: |w| * sign(a, w) = w * a, pair sums at most 2 * 128 * 127 (no
// saturation), then madd with ones gives exact int32 lane sums. Float ops per output are
// the reference's (s = fma(float(isum), d_w * d_a, s)), so results equal the scalar
// reference bit for bit across m, tiles and row splits.
#if defined(__x86_64__)
#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <utility>

#include "base/fp16.h"
#include "kernels/kernels.h"
#include "kernels/packed_layout.h"

namespace deepcpu::kernels {

namespace {

using packed::G;
using packed::group_bytes;
constexpr int kTileTokens = 2;


inline __m256i bcast4(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm256_set1_epi32(v);
}

inline void store_rows(float* c, __m256 lo, __m256 hi, int64_t n) {
  if (n >= G) {
    _mm256_storeu_ps(c, lo);
    _mm256_storeu_ps(c + 8, hi);
    return;
  }
  alignas(32) float tmp[G];
  _mm256_store_ps(tmp, lo);
  _mm256_store_ps(tmp + 8, hi);
  std::memcpy(c, tmp, static_cast<size_t>(n) * sizeof(float));
}

template <int NT>
void tile(const uint8_t* grp, const uint8_t* a, size_t arb, int64_t nb, float* c, int64_t ldc, int64_t n_rows) {
  const __m256i ones = _mm256_set1_epi16(1);
  __m256 acc[NT][2];
  for (int t = 0; t < NT; ++t) acc[t][0] = acc[t][1] = _mm256_setzero_ps();
  const BlockQ8_0* at[NT];
  for (int t = 0; t < NT; ++t) at[t] = reinterpret_cast<const BlockQ8_0*>(a + t * arb);
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* q = grp + packed::block_q_offset(b);
    const uint8_t* dp = grp + packed::block_d_offset(b);
    __m256i s[NT][2];
    for (int t = 0; t < NT; ++t) s[t][0] = s[t][1] = _mm256_setzero_si256();
    for (int j = 0; j < 8; ++j) {
      const __m256i w0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q + 64 * j));
      const __m256i w1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q + 64 * j + 32));
      const __m256i u0 = _mm256_abs_epi8(w0), u1 = _mm256_abs_epi8(w1);
      for (int t = 0; t < NT; ++t) {
        const __m256i av = bcast4(at[t][b].qs + 4 * j);
        s[t][0] = _mm256_add_epi32(s[t][0], _mm256_madd_epi16(_mm256_maddubs_epi16(u0, _mm256_sign_epi8(av, w0)), ones));
        s[t][1] = _mm256_add_epi32(s[t][1], _mm256_madd_epi16(_mm256_maddubs_epi16(u1, _mm256_sign_epi8(av, w1)), ones));
      }
    }
    const __m256 dw0 = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(dp)));
    const __m256 dw1 = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(dp + 16)));
    for (int t = 0; t < NT; ++t) {
      const __m256 da = _mm256_set1_ps(fp16_to_f32(at[t][b].d));
      acc[t][0] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s[t][0]), _mm256_mul_ps(dw0, da), acc[t][0]);
      acc[t][1] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s[t][1]), _mm256_mul_ps(dw1, da), acc[t][1]);
    }
  }
  for (int t = 0; t < NT; ++t) store_rows(c + t * ldc, acc[t][0], acc[t][1], n_rows);
}

using TileFn = void (*)(const uint8_t*, const uint8_t*, size_t, int64_t, float*, int64_t, int64_t);
template <int... I>
constexpr std::array<TileFn, sizeof...(I)> make_tiles(std::integer_sequence<int, I...>) {
  return {&tile<I + 1>...};
}
constexpr auto kTiles = make_tiles(std::make_integer_sequence<int, kTileTokens>{});

void gemm_packed_avx2(const void* wp, int64_t k, const void* a, size_t arb, int64_t r0, int64_t r1, int64_t m, float* c,
                      int64_t ldc) {
  const auto* p = static_cast<const uint8_t*>(wp);
  const auto* ab = static_cast<const uint8_t*>(a);
  const int64_t nb = k / kQ8_0Block;
  const size_t gb = group_bytes(nb);
  for (int64_t r = r0; r < r1; r += G) {
    for (int64_t it = 0; it < m; it += kTileTokens) {
      const int nt = static_cast<int>(std::min<int64_t>(kTileTokens, m - it));
      kTiles[nt - 1](p + (r / G) * gb, ab + it * arb, arb, nb, c + it * ldc + r, ldc, r1 - r);
    }
  }
}

}  // namespace

void fill_packed_q8_0_avx2(MatmulKernels& q8) { q8.gemm_packed = gemm_packed_avx2; }

}  // namespace deepcpu::kernels

#endif  // defined(__x86_64__)
