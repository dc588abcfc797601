// AVX-512 kernels (F/BW/VL/DQ; VNNI and BF16 when cpu_features() says so). Only this
// folder is compiled with the avx512 flags (cmake/isa.cmake). Owns the matmul tiles and
// the row conversions; fill_avx512 overwrites the avx2 entries it improves on.
//
// Batch invariance (kernels.h): every output element owns one zmm accumulator whose lane
// j sees the same sequence of fp32 operations for a given k, whatever the tile shape,
// m, r0/r1 or thread; the 16 lanes are then summed by the one fixed tree in
// _mm512_reduce_add_ps. Tiles differ only in how many rows/tokens share each load.
// Every float op is an explicit intrinsic (mul, fmadd); none is a mul followed by an add
// the compiler could contract differently in different tile instantiations.
// DEEPCPU_ISA_GUARD: the top-level GLOB_RECURSE of src/kernels/*.cpp also picks this file up
// on other architectures; there it compiles to nothing (dispatch never calls it).
#if defined(__x86_64__)
#if defined(__GNUC__) && !defined(__clang__)
// GCC 12 flags the _mm512_undefined_* inside the intrinsics' own headers once they are
// inlined (most visibly in the unoptimised sanitizer build): a false positive.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
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

// The tile driver (gemm_tiled, make_tiles) is kernels/tile_driver.h; decode uses taller
// GEMV tiles and tokens go in 512 KiB blocks here.
constexpr size_t kTokenBlockBytes = 512 * 1024;

// ---------------------------------------------------------------------------------------
// Q8_0 x Q8_0 with VNNI.
//
// Layout: a row is k/32 BlockQ8_0 {fp16 d; int8 qs[32]}; two blocks fill one zmm of
// bytes (block 2j in the low 256 bits, 2j+1 in the high).
// vpdpbusd multiplies unsigned by signed bytes, so activations are offset to unsigned,
// a + 128, and the accumulator starts at -128 * sum(w) for each lane's 4 bytes:
// dpbusd(-128*sum(w), a + 128, w) = sum(a * w), exact in int32. The correction costs one
// dpbusd per weight row per step and the offset one xor per token, both shared by the
// tile; the per-pair work is dpbusd, cvt, the scale product and one fma.
// Per element, lane l (l < 8) of step j holds the partial int sum of 4 bytes of block 2j,
// lane 8 + l the same for block 2j+1; it is converted exactly to fp32 and fma'd with
// d_w * d_a (rounded once, as the scalar reference does). An odd last block runs alone in
// the low half with zeros above. Only the fp32 order differs from the scalar loop.

// [d0 x 8, d1 x 8] as fp32 from two fp16 scales.
inline __m512 scale_pair(uint16_t d0, uint16_t d1) {
  const __m128 f = _mm_cvtph_ps(_mm_cvtsi32_si128(static_cast<int>(d0 | (static_cast<uint32_t>(d1) << 16))));
  const __m512i idx = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
  return _mm512_permutexvar_ps(idx, _mm512_castps128_ps512(f));
}

inline __m512i load_two_blocks(const BlockQ8_0* b) {
  const __m256i lo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b[0].qs));
  const __m256i hi = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b[1].qs));
  return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}

inline __m512i load_one_block(const BlockQ8_0* b) {
  return _mm512_zextsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(b[0].qs)));
}

inline __m512 scale_one(uint16_t d0) {
  // Upper lanes 0: they multiply zero partial sums, and 0 * 0 keeps them finite.
  const __m128 f = _mm_cvtph_ps(_mm_cvtsi32_si128(d0));
  const __m512i idx = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
  return _mm512_permutexvar_ps(idx, _mm512_castps128_ps512(f));
}

template <int NR, int NT>
struct Q8Vnni {
  static void run(const uint8_t* w, size_t wrb, const uint8_t* a, size_t arb, int64_t k, float* c, int64_t ldc) {
    const int64_t nb = k / kQ8_0Block;
    const __m512i k80 = _mm512_set1_epi8(static_cast<char>(0x80));
    const __m512i zero = _mm512_setzero_si512();
    __m512 acc[NR][NT];
    for (int r = 0; r < NR; ++r)
      for (int t = 0; t < NT; ++t) acc[r][t] = _mm512_setzero_ps();
    const BlockQ8_0* wr[NR];
    const BlockQ8_0* at[NT];
    for (int r = 0; r < NR; ++r) wr[r] = reinterpret_cast<const BlockQ8_0*>(w + r * wrb);
    for (int t = 0; t < NT; ++t) at[t] = reinterpret_cast<const BlockQ8_0*>(a + t * arb);

    auto step = [&](int64_t ib, auto load, auto scale) {
      __m512i wq[NR], wneg[NR];
      __m512 wd[NR];
      for (int r = 0; r < NR; ++r) {
        wq[r] = load(wr[r] + ib);
        wneg[r] = _mm512_sub_epi32(zero, _mm512_dpbusd_epi32(zero, k80, wq[r]));
        wd[r] = scale(wr[r] + ib);
      }
      for (int t = 0; t < NT; ++t) {
        const __m512i au = _mm512_xor_si512(load(at[t] + ib), k80);
        const __m512 ad = scale(at[t] + ib);
        for (int r = 0; r < NR; ++r) {
          const __m512i dp = _mm512_dpbusd_epi32(wneg[r], au, wq[r]);
          acc[r][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dp), _mm512_mul_ps(wd[r], ad), acc[r][t]);
        }
      }
    };
    int64_t ib = 0;
    for (; ib + 2 <= nb; ib += 2) {
      step(ib, load_two_blocks, [](const BlockQ8_0* b) { return scale_pair(b[0].d, b[1].d); });
    }
    if (ib < nb) step(ib, load_one_block, [](const BlockQ8_0* b) { return scale_one(b[0].d); });
    for (int r = 0; r < NR; ++r)
      for (int t = 0; t < NT; ++t) c[t * ldc + r] = _mm512_reduce_add_ps(acc[r][t]);
  }
};

// ---------------------------------------------------------------------------------------
// Floating-point gemms: 16 elements per step, each element pair owns one zmm of fp32
// partial sums (lane l sums elements l, l+16, ...); a k tail is a masked, zero-filled
// step. Loaders turn 16 stored elements into fp32.
struct LoadF32 {
  using T = float;
  static __m512 load(const T* p) { return _mm512_loadu_ps(p); }
  static __m512 load_tail(const T* p, __mmask16 m) { return _mm512_maskz_loadu_ps(m, p); }
};
struct LoadF16 {
  using T = uint16_t;
  static __m512 load(const T* p) { return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))); }
  static __m512 load_tail(const T* p, __mmask16 m) { return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p)); }
};
struct LoadBF16 {
  using T = uint16_t;
  static __m512 widen(__m256i h) { return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16)); }
  static __m512 load(const T* p) { return widen(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))); }
  static __m512 load_tail(const T* p, __mmask16 m) { return widen(_mm256_maskz_loadu_epi16(m, p)); }
};

template <class L>
struct FpTile {
  template <int NR, int NT>
  struct Body {
    static void run(const uint8_t* w, size_t wrb, const uint8_t* a, size_t arb, int64_t k, float* c, int64_t ldc) {
      using T = typename L::T;
      __m512 acc[NR][NT];
      for (int r = 0; r < NR; ++r)
        for (int t = 0; t < NT; ++t) acc[r][t] = _mm512_setzero_ps();
      const T* wr[NR];
      const T* at[NT];
      for (int r = 0; r < NR; ++r) wr[r] = reinterpret_cast<const T*>(w + r * wrb);
      for (int t = 0; t < NT; ++t) at[t] = reinterpret_cast<const T*>(a + t * arb);
      int64_t i = 0;
      for (; i + 16 <= k; i += 16) {
        __m512 wv[NR];
        for (int r = 0; r < NR; ++r) wv[r] = L::load(wr[r] + i);
        for (int t = 0; t < NT; ++t) {
          const __m512 av = L::load(at[t] + i);
          for (int r = 0; r < NR; ++r) acc[r][t] = _mm512_fmadd_ps(wv[r], av, acc[r][t]);
        }
      }
      if (i < k) {
        const __mmask16 m = static_cast<__mmask16>((1u << (k - i)) - 1);
        __m512 wv[NR];
        for (int r = 0; r < NR; ++r) wv[r] = L::load_tail(wr[r] + i, m);
        for (int t = 0; t < NT; ++t) {
          const __m512 av = L::load_tail(at[t] + i, m);
          for (int r = 0; r < NR; ++r) acc[r][t] = _mm512_fmadd_ps(wv[r], av, acc[r][t]);
        }
      }
      for (int r = 0; r < NR; ++r)
        for (int t = 0; t < NT; ++t) c[t * ldc + r] = _mm512_reduce_add_ps(acc[r][t]);
    }
  };
};

// BF16 x BF16 with AVX512_BF16: vdpbf16ps adds two bf16 products per fp32 lane, 32
// elements per step (lane l sums elements 2l, 2l+1, 2l+32, ...). Like the hardware it
// treats bf16 denormals as zero, so results differ from the scalar loop by at most the
// products of denormals on top of the reordering.
template <int NR, int NT>
struct Bf16Dp {
  static void run(const uint8_t* w, size_t wrb, const uint8_t* a, size_t arb, int64_t k, float* c, int64_t ldc) {
    __m512 acc[NR][NT];
    for (int r = 0; r < NR; ++r)
      for (int t = 0; t < NT; ++t) acc[r][t] = _mm512_setzero_ps();
    const uint16_t* wr[NR];
    const uint16_t* at[NT];
    for (int r = 0; r < NR; ++r) wr[r] = reinterpret_cast<const uint16_t*>(w + r * wrb);
    for (int t = 0; t < NT; ++t) at[t] = reinterpret_cast<const uint16_t*>(a + t * arb);
    auto step = [&](int64_t i, auto load) {
      __m512bh wv[NR];
      for (int r = 0; r < NR; ++r) wv[r] = (__m512bh)load(wr[r] + i);
      for (int t = 0; t < NT; ++t) {
        const __m512bh av = (__m512bh)load(at[t] + i);
        for (int r = 0; r < NR; ++r) acc[r][t] = _mm512_dpbf16_ps(acc[r][t], wv[r], av);
      }
    };
    int64_t i = 0;
    for (; i + 32 <= k; i += 32) step(i, [](const uint16_t* p) { return _mm512_loadu_si512(p); });
    if (i < k) {
      const __mmask32 m = static_cast<__mmask32>((1ull << (k - i)) - 1);
      step(i, [m](const uint16_t* p) { return _mm512_maskz_loadu_epi16(m, p); });
    }
    for (int r = 0; r < NR; ++r)
      for (int t = 0; t < NT; ++t) c[t * ldc + r] = _mm512_reduce_add_ps(acc[r][t]);
  }
};

// ---------------------------------------------------------------------------------------
// Row conversions. Each must equal the scalar reference bit for bit (tests check it).

// f32 -> q8_0, llama.cpp's x86 rule: d = amax/127, q = round-half-even(x * (127/amax)).
// cvtps_epi32 rounds with MXCSR (nearest-even, as std::nearbyint does in the reference);
// |x * id| <= 127 so the saturating narrow never saturates.
void q8_0_from_float_avx512(const float* x, void* out, int64_t k) {
  auto* y = static_cast<BlockQ8_0*>(out);
  const __m512 abs_mask = _mm512_castsi512_ps(_mm512_set1_epi32(0x7fffffff));
  for (int64_t b = 0; b < k / kQ8_0Block; ++b) {
    const __m512 v0 = _mm512_loadu_ps(x + b * kQ8_0Block);
    const __m512 v1 = _mm512_loadu_ps(x + b * kQ8_0Block + 16);
    const __m512 mx = _mm512_max_ps(_mm512_and_ps(v0, abs_mask), _mm512_and_ps(v1, abs_mask));
    const float amax = _mm512_reduce_max_ps(mx);
    const float d = amax / 127.0f;
    const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
    y[b].d = f32_to_fp16(d);
    const __m512 vid = _mm512_set1_ps(id);
    const __m128i q0 = _mm512_cvtsepi32_epi8(_mm512_cvtps_epi32(_mm512_mul_ps(v0, vid)));
    const __m128i q1 = _mm512_cvtsepi32_epi8(_mm512_cvtps_epi32(_mm512_mul_ps(v1, vid)));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(y[b].qs), q0);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(y[b].qs + 16), q1);
  }
}

void q8_0_to_float_avx512(const void* in, float* x, int64_t k) {
  const auto* y = static_cast<const BlockQ8_0*>(in);
  for (int64_t b = 0; b < k / kQ8_0Block; ++b) {
    const __m512 d = _mm512_set1_ps(fp16_to_f32(y[b].d));
    const __m128i q0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(y[b].qs));
    const __m128i q1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(y[b].qs + 16));
    _mm512_storeu_ps(x + b * kQ8_0Block, _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q0))));
    _mm512_storeu_ps(x + b * kQ8_0Block + 16, _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q1))));
  }
}

// f32 -> f16: vcvtps2ph rounds to nearest even like the reference; only NaNs differ
// (hardware keeps the payload, the reference returns sign | 0x7e00), so NaN lanes are
// redone by the reference.
void f16_from_float_avx512(const float* x, void* out, int64_t k) {
  auto* y = static_cast<uint16_t*>(out);
  int64_t i = 0;
  auto fix_nans = [&](__m512 v, __mmask16 valid) {
    __mmask16 nan = _mm512_mask_cmp_ps_mask(valid, v, v, _CMP_UNORD_Q);
    while (nan) {
      const int j = __builtin_ctz(nan);
      y[i + j] = f32_to_fp16(x[i + j]);
      nan &= nan - 1;
    }
  };
  for (; i + 16 <= k; i += 16) {
    const __m512 v = _mm512_loadu_ps(x + i);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(y + i), _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT));
    fix_nans(v, 0xffff);
  }
  if (i < k) {
    const __mmask16 m = static_cast<__mmask16>((1u << (k - i)) - 1);
    const __m512 v = _mm512_maskz_loadu_ps(m, x + i);
    _mm256_mask_storeu_epi16(y + i, m, _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT));
    fix_nans(v, m);
  }
}

// f16 -> f32 is exact in hardware for every input, NaNs included.
void f16_to_float_avx512(const void* in, float* x, int64_t k) {
  const auto* y = static_cast<const uint16_t*>(in);
  int64_t i = 0;
  for (; i + 16 <= k; i += 16) _mm512_storeu_ps(x + i, LoadF16::load(y + i));
  if (i < k) {
    const __mmask16 m = static_cast<__mmask16>((1u << (k - i)) - 1);
    _mm512_mask_storeu_ps(x + i, m, LoadF16::load_tail(y + i, m));
  }
}

// f32 -> bf16 with integer ops, the reference's formula (vcvtneps2bf16 would flush
// denormals): round half to even by adding 0x7fff + lsb; NaN -> quiet NaN (| 0x40).
inline __m256i bf16_round(__m512 v) {
  const __m512i u = _mm512_castps_si512(v);
  const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
  const __m512i rounded = _mm512_srli_epi32(_mm512_add_epi32(u, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7fff))), 16);
  const __m512i quiet = _mm512_or_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(64));
  const __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(u, _mm512_set1_epi32(0x7fffffff)),
                                                _mm512_set1_epi32(0x7f800000));
  return _mm512_cvtepi32_epi16(_mm512_mask_blend_epi32(nan, rounded, quiet));
}

void bf16_from_float_avx512(const float* x, void* out, int64_t k) {
  auto* y = static_cast<uint16_t*>(out);
  int64_t i = 0;
  for (; i + 16 <= k; i += 16) _mm256_storeu_si256(reinterpret_cast<__m256i*>(y + i), bf16_round(_mm512_loadu_ps(x + i)));
  if (i < k) {
    const __mmask16 m = static_cast<__mmask16>((1u << (k - i)) - 1);
    _mm256_mask_storeu_epi16(y + i, m, bf16_round(_mm512_maskz_loadu_ps(m, x + i)));
  }
}

void bf16_to_float_avx512(const void* in, float* x, int64_t k) {
  const auto* y = static_cast<const uint16_t*>(in);
  int64_t i = 0;
  for (; i + 16 <= k; i += 16) _mm512_storeu_ps(x + i, LoadBF16::load(y + i));
  if (i < k) {
    const __mmask16 m = static_cast<__mmask16>((1u << (k - i)) - 1);
    _mm512_mask_storeu_ps(x + i, m, LoadBF16::load_tail(y + i, m));
  }
}

void f32_copy_avx512(const float* x, void* out, int64_t k) { std::memcpy(out, x, static_cast<size_t>(k) * 4); }

// Tile shapes: NR weight rows x NT tokens, sized so accumulators plus the per-row
// operands fit the 32 zmm registers.
constexpr int kQ8Rows = 3, kQ8Tokens = 4;
constexpr int kFpRows = 4, kFpTokens = 4;
constexpr int kGemvRows = 6;

}  // namespace

// Every kernel here needs only F/BW/VL/DQ except the VNNI gemm and the vdpbf16ps gemm,
// installed only when the CPU reports them (a Skylake-X keeps the avx2 q8_0 gemm).
void fill_avx512(Table& t) {
  t.isa = Isa::kAvx512;
  const CpuFeatures& f = cpu_features();
  t.f32 = {DType::kF32, f32_copy_avx512, gemm_tiled<FpTile<LoadF32>::Body, kFpRows, kFpTokens, kFpRows, kTokenBlockBytes>};
  t.f16 = {DType::kF16, f16_from_float_avx512, gemm_tiled<FpTile<LoadF16>::Body, kFpRows, kFpTokens, kFpRows, kTokenBlockBytes>};
  t.bf16 = {DType::kBF16, bf16_from_float_avx512,
            f.avx512bf16 ? gemm_tiled<Bf16Dp, kFpRows, kFpTokens, kFpRows, kTokenBlockBytes> : gemm_tiled<FpTile<LoadBF16>::Body, kFpRows, kFpTokens, kFpRows, kTokenBlockBytes>};
  t.q8_0.dot_type = DType::kQ8_0;
  t.q8_0.convert_row = q8_0_from_float_avx512;
  if (f.avx512vnni) t.q8_0.gemm = gemm_tiled<Q8Vnni, kQ8Rows, kQ8Tokens, kGemvRows, kTokenBlockBytes>;
  fill_packed_q8_0_avx512(t.q8_0);
  t.to_float_f16 = f16_to_float_avx512;
  t.to_float_bf16 = bf16_to_float_avx512;
  t.to_float_q8_0 = q8_0_to_float_avx512;
  t.from_float_f16 = f16_from_float_avx512;
  t.from_float_bf16 = bf16_from_float_avx512;
  t.from_float_q8_0 = q8_0_from_float_avx512;
}

}  // namespace deepcpu::kernels

#endif  // defined(__x86_64__)
