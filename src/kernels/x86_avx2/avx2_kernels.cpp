// AVX2 + FMA + F16C kernels. Only this folder is compiled with the avx2 flags
// (cmake/isa.cmake). Owns the matmul tiles and row conversions for AVX2 machines; the
// avx512 table starts from these and overwrites what it does better.
//
// Batch invariance (kernels.h): every output element owns one ymm accumulator whose lane
// j sees the same sequence of fp32 operations for a given k, whatever the tile shape, m,
// r0/r1 or thread; hsum() then adds the 8 lanes in one fixed order. Every float op is an
// explicit intrinsic; no mul feeds an add the compiler could contract per instantiation.
// DEEPCPU_ISA_GUARD: the top-level GLOB_RECURSE of src/kernels/*.cpp also picks this file up
// on other architectures; there it compiles to nothing (dispatch never calls it).
#if defined(__x86_64__)
#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <utility>

#include "base/fp16.h"
#include "kernels/kernels.h"
#include "kernels/tile_driver.h"

namespace deepcpu::kernels {

namespace {

// The tile driver (gemm_tiled, make_tiles) is kernels/tile_driver.h.

// The one fixed horizontal sum: (lo + hi), then pairs, then the last two.
inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// ---------------------------------------------------------------------------------------
// Q8_0 x Q8_0. A block is {fp16 d; int8 qs[32]} = one ymm of bytes.
// maddubs multiplies unsigned by signed bytes into saturating int16 pairs, so the usual
// sign trick moves w's sign onto a: |w| * sign(a, w) = w * a. Activations come from our
// quantizer (|q| <= 127) so a pair sum is at most 2 * 128 * 127 < 32767: no saturation,
// the int32 lane sums (madd with ones) are exact. Each lane l holds 4 products of the
// block; it is converted exactly to fp32 and fma'd with d_w * d_a (rounded once, as the
// scalar reference does). Only the fp32 order differs from the scalar loop.
template <int NR, int NT>
struct Q8Avx2 {
  static void run(const uint8_t* w, size_t wrb, const uint8_t* a, size_t arb, int64_t k, float* c, int64_t ldc) {
    const int64_t nb = k / kQ8_0Block;
    const __m256i ones = _mm256_set1_epi16(1);
    __m256 acc[NR][NT];
    for (int r = 0; r < NR; ++r)
      for (int t = 0; t < NT; ++t) acc[r][t] = _mm256_setzero_ps();
    const BlockQ8_0* wr[NR];
    const BlockQ8_0* at[NT];
    for (int r = 0; r < NR; ++r) wr[r] = reinterpret_cast<const BlockQ8_0*>(w + r * wrb);
    for (int t = 0; t < NT; ++t) at[t] = reinterpret_cast<const BlockQ8_0*>(a + t * arb);
    for (int64_t ib = 0; ib < nb; ++ib) {
      __m256i wq[NR], wabs[NR];
      float wd[NR];
      for (int r = 0; r < NR; ++r) {
        wq[r] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wr[r][ib].qs));
        wabs[r] = _mm256_abs_epi8(wq[r]);
        wd[r] = _cvtsh_ss(wr[r][ib].d);
      }
      for (int t = 0; t < NT; ++t) {
        const __m256i aq = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(at[t][ib].qs));
        const float ad = _cvtsh_ss(at[t][ib].d);
        for (int r = 0; r < NR; ++r) {
          const __m256i p16 = _mm256_maddubs_epi16(wabs[r], _mm256_sign_epi8(aq, wq[r]));
          const __m256i p32 = _mm256_madd_epi16(p16, ones);
          acc[r][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p32), _mm256_set1_ps(wd[r] * ad), acc[r][t]);
        }
      }
    }
    for (int r = 0; r < NR; ++r)
      for (int t = 0; t < NT; ++t) c[t * ldc + r] = hsum(acc[r][t]);
  }
};

// ---------------------------------------------------------------------------------------
// Floating-point gemms: 8 elements per step; each element pair owns one ymm (lane l sums
// elements l, l+8, ...). The k tail goes through a zero-filled 8-element copy.
struct LoadF32 {
  using T = float;
  static __m256 load(const T* p) { return _mm256_loadu_ps(p); }
};
struct LoadF16 {
  using T = uint16_t;
  static __m256 load(const T* p) { return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }
};
struct LoadBF16 {
  using T = uint16_t;
  static __m256 load(const T* p) {
    const __m256i u = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    return _mm256_castsi256_ps(_mm256_slli_epi32(u, 16));
  }
};

template <class L>
struct FpTile {
  template <int NR, int NT>
  struct Body {
    static void run(const uint8_t* w, size_t wrb, const uint8_t* a, size_t arb, int64_t k, float* c, int64_t ldc) {
      using T = typename L::T;
      __m256 acc[NR][NT];
      for (int r = 0; r < NR; ++r)
        for (int t = 0; t < NT; ++t) acc[r][t] = _mm256_setzero_ps();
      const T* wr[NR];
      const T* at[NT];
      for (int r = 0; r < NR; ++r) wr[r] = reinterpret_cast<const T*>(w + r * wrb);
      for (int t = 0; t < NT; ++t) at[t] = reinterpret_cast<const T*>(a + t * arb);
      int64_t i = 0;
      for (; i + 8 <= k; i += 8) {
        __m256 wv[NR];
        for (int r = 0; r < NR; ++r) wv[r] = L::load(wr[r] + i);
        for (int t = 0; t < NT; ++t) {
          const __m256 av = L::load(at[t] + i);
          for (int r = 0; r < NR; ++r) acc[r][t] = _mm256_fmadd_ps(wv[r], av, acc[r][t]);
        }
      }
      if (i < k) {
        const size_t n_bytes = static_cast<size_t>(k - i) * sizeof(T);
        __m256 wv[NR];
        for (int r = 0; r < NR; ++r) {
          T tmp[8] = {};
          std::memcpy(tmp, wr[r] + i, n_bytes);
          wv[r] = L::load(tmp);
        }
        for (int t = 0; t < NT; ++t) {
          T tmp[8] = {};
          std::memcpy(tmp, at[t] + i, n_bytes);
          const __m256 av = L::load(tmp);
          for (int r = 0; r < NR; ++r) acc[r][t] = _mm256_fmadd_ps(wv[r], av, acc[r][t]);
        }
      }
      for (int r = 0; r < NR; ++r)
        for (int t = 0; t < NT; ++t) c[t * ldc + r] = hsum(acc[r][t]);
    }
  };
};

// ---------------------------------------------------------------------------------------
// Row conversions, each bit-identical to the scalar reference (tests check it).

// f32 -> q8_0, llama.cpp's x86 rule: d = amax/127, q = round-half-even(x * (127/amax)).
// cvtps_epi32 rounds with MXCSR (nearest-even, like std::nearbyint in the reference).
// The two packs interleave 128-bit lanes; the final permute restores element order.
void q8_0_from_float_avx2(const float* x, void* out, int64_t k) {
  auto* y = static_cast<BlockQ8_0*>(out);
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  const __m256i perm = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  for (int64_t b = 0; b < k / kQ8_0Block; ++b) {
    const float* xb = x + b * kQ8_0Block;
    __m256 v[4];
    for (int j = 0; j < 4; ++j) v[j] = _mm256_loadu_ps(xb + 8 * j);
    __m256 mx = _mm256_max_ps(_mm256_max_ps(_mm256_and_ps(v[0], abs_mask), _mm256_and_ps(v[1], abs_mask)),
                              _mm256_max_ps(_mm256_and_ps(v[2], abs_mask), _mm256_and_ps(v[3], abs_mask)));
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(mx), _mm256_extractf128_ps(mx, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    const float amax = _mm_cvtss_f32(m4);
    const float d = amax / 127.0f;
    const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
    y[b].d = f32_to_fp16(d);
    const __m256 vid = _mm256_set1_ps(id);
    __m256i q[4];
    for (int j = 0; j < 4; ++j) q[j] = _mm256_cvtps_epi32(_mm256_mul_ps(v[j], vid));
    const __m256i q01 = _mm256_packs_epi32(q[0], q[1]);
    const __m256i q23 = _mm256_packs_epi32(q[2], q[3]);
    const __m256i q8 = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(q01, q23), perm);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(y[b].qs), q8);
  }
}

void q8_0_to_float_avx2(const void* in, float* x, int64_t k) {
  const auto* y = static_cast<const BlockQ8_0*>(in);
  for (int64_t b = 0; b < k / kQ8_0Block; ++b) {
    const __m256 d = _mm256_set1_ps(fp16_to_f32(y[b].d));
    for (int j = 0; j < 4; ++j) {
      const __m128i q = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(y[b].qs + 8 * j));
      _mm256_storeu_ps(x + b * kQ8_0Block + 8 * j, _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q))));
    }
  }
}

// f32 -> f16: vcvtps2ph rounds to nearest even like the reference; NaNs (hardware keeps
// the payload, the reference returns sign | 0x7e00) and the tail go through the reference.
void f16_from_float_avx2(const float* x, void* out, int64_t k) {
  auto* y = static_cast<uint16_t*>(out);
  int64_t i = 0;
  for (; i + 8 <= k; i += 8) {
    const __m256 v = _mm256_loadu_ps(x + i);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(y + i), _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT));
    int nan = _mm256_movemask_ps(_mm256_cmp_ps(v, v, _CMP_UNORD_Q));
    while (nan) {
      const int j = __builtin_ctz(nan);
      y[i + j] = f32_to_fp16(x[i + j]);
      nan &= nan - 1;
    }
  }
  for (; i < k; ++i) y[i] = f32_to_fp16(x[i]);
}

void f16_to_float_avx2(const void* in, float* x, int64_t k) {
  const auto* y = static_cast<const uint16_t*>(in);
  int64_t i = 0;
  for (; i + 8 <= k; i += 8) _mm256_storeu_ps(x + i, LoadF16::load(y + i));
  for (; i < k; ++i) x[i] = _cvtsh_ss(y[i]);
}

// f32 -> bf16 by the reference's integer formula (round half to even by adding
// 0x7fff + lsb; NaN -> quiet NaN), 16 at a time; packus keeps 0..65535 as is and the
// permute undoes its lane interleave.
inline __m256i bf16_round8(__m256 v) {
  const __m256i u = _mm256_castps_si256(v);
  const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(1));
  const __m256i rounded =
      _mm256_srli_epi32(_mm256_add_epi32(u, _mm256_add_epi32(lsb, _mm256_set1_epi32(0x7fff))), 16);
  const __m256i quiet = _mm256_or_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(64));
  // Signed compare is right here: both sides are non-negative int32.
  const __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(u, _mm256_set1_epi32(0x7fffffff)),
                                         _mm256_set1_epi32(0x7f800000));
  return _mm256_blendv_epi8(rounded, quiet, nan);
}

void bf16_from_float_avx2(const float* x, void* out, int64_t k) {
  auto* y = static_cast<uint16_t*>(out);
  int64_t i = 0;
  for (; i + 16 <= k; i += 16) {
    const __m256i lo = bf16_round8(_mm256_loadu_ps(x + i));
    const __m256i hi = bf16_round8(_mm256_loadu_ps(x + i + 8));
    const __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(lo, hi), 0xd8);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(y + i), packed);
  }
  for (; i < k; ++i) y[i] = f32_to_bf16(x[i]);
}

void bf16_to_float_avx2(const void* in, float* x, int64_t k) {
  const auto* y = static_cast<const uint16_t*>(in);
  int64_t i = 0;
  for (; i + 8 <= k; i += 8) _mm256_storeu_ps(x + i, LoadBF16::load(y + i));
  for (; i < k; ++i) x[i] = bf16_to_f32(y[i]);
}

void f32_copy_avx2(const float* x, void* out, int64_t k) { std::memcpy(out, x, static_cast<size_t>(k) * 4); }

// Tile shapes sized for 16 ymm registers: accumulators plus per-row operands.
constexpr int kQ8Rows = 2, kQ8Tokens = 3;
constexpr int kFpRows = 2, kFpTokens = 4;

}  // namespace

void fill_avx2(Table& t) {
  t.isa = Isa::kAvx2;
  t.f32 = {DType::kF32, f32_copy_avx2, gemm_tiled<FpTile<LoadF32>::Body, kFpRows, kFpTokens>};
  t.f16 = {DType::kF16, f16_from_float_avx2, gemm_tiled<FpTile<LoadF16>::Body, kFpRows, kFpTokens>};
  t.bf16 = {DType::kBF16, bf16_from_float_avx2, gemm_tiled<FpTile<LoadBF16>::Body, kFpRows, kFpTokens>};
  t.q8_0 = {DType::kQ8_0, q8_0_from_float_avx2, gemm_tiled<Q8Avx2, kQ8Rows, kQ8Tokens>};
  fill_packed_q8_0_scalar(t.q8_0);  // the layout is shared; the gemm is ours
  fill_packed_q8_0_avx2(t.q8_0);
  t.to_float_f16 = f16_to_float_avx2;
  t.to_float_bf16 = bf16_to_float_avx2;
  t.to_float_q8_0 = q8_0_to_float_avx2;
  t.from_float_f16 = f16_from_float_avx2;
  t.from_float_bf16 = bf16_from_float_avx2;
  t.from_float_q8_0 = q8_0_from_float_avx2;
}

}  // namespace deepcpu::kernels

#endif  // defined(__x86_64__)
