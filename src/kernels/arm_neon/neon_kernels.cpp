// NEON kernels (armv8.2-a + dotprod + fp16). Only this folder is compiled with those
// flags (cmake/isa.cmake). Owns the matmul tiles and row conversions for ARM; the SVE
// table starts from these and overwrites what it does better.
//
// Batch invariance (kernels.h): every output element owns one float32x4 accumulator whose
// lane j sees the same fp32 operations for a given k whatever the tile shape, m, r0/r1 or
// thread; vaddvq_f32 then adds the 4 lanes in its one fixed order. FMA is baseline on
// aarch64 and the compiler may contract a * b + c, so every float op here is an explicit
// intrinsic and no mul feeds an add.
// DEEPCPU_ISA_GUARD: the top-level GLOB_RECURSE of src/kernels/*.cpp also picks this file up
// on other architectures; there it compiles to nothing (dispatch never calls it).
#if defined(__aarch64__)
#include <arm_neon.h>

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

// Q8_0 x Q8_0 with sdot: a block {fp16 d; int8 qs[32]} is two int8x16; two sdots give 4
// int32 lanes, each the exact sum of 8 products. Converted exactly to fp32 and fma'd with
// d_w * d_a (rounded once, as the scalar reference does).
template <int NR, int NT>
struct Q8Dot {
  static void run(const uint8_t* w, size_t wrb, const uint8_t* a, size_t arb, int64_t k, float* c, int64_t ldc) {
    const int64_t nb = k / kQ8_0Block;
    float32x4_t acc[NR][NT];
    for (int r = 0; r < NR; ++r)
      for (int t = 0; t < NT; ++t) acc[r][t] = vdupq_n_f32(0.0f);
    const BlockQ8_0* wr[NR];
    const BlockQ8_0* at[NT];
    for (int r = 0; r < NR; ++r) wr[r] = reinterpret_cast<const BlockQ8_0*>(w + r * wrb);
    for (int t = 0; t < NT; ++t) at[t] = reinterpret_cast<const BlockQ8_0*>(a + t * arb);
    for (int64_t ib = 0; ib < nb; ++ib) {
      int8x16_t w0[NR], w1[NR];
      float wd[NR];
      for (int r = 0; r < NR; ++r) {
        w0[r] = vld1q_s8(wr[r][ib].qs);
        w1[r] = vld1q_s8(wr[r][ib].qs + 16);
        wd[r] = fp16_to_f32(wr[r][ib].d);
      }
      for (int t = 0; t < NT; ++t) {
        const int8x16_t a0 = vld1q_s8(at[t][ib].qs), a1 = vld1q_s8(at[t][ib].qs + 16);
        const float ad = fp16_to_f32(at[t][ib].d);
        for (int r = 0; r < NR; ++r) {
          const int32x4_t p = vdotq_s32(vdotq_s32(vdupq_n_s32(0), w0[r], a0), w1[r], a1);
          acc[r][t] = vfmaq_f32(acc[r][t], vcvtq_f32_s32(p), vdupq_n_f32(wd[r] * ad));
        }
      }
    }
    for (int r = 0; r < NR; ++r)
      for (int t = 0; t < NT; ++t) c[t * ldc + r] = vaddvq_f32(acc[r][t]);
  }
};

// Floating-point gemms: 4 elements per step; the k tail goes through a zero-filled copy.
struct LoadF32 {
  using T = float;
  static float32x4_t load(const T* p) { return vld1q_f32(p); }
};
struct LoadF16 {
  using T = uint16_t;
  static float32x4_t load(const T* p) { return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p))); }
};
struct LoadBF16 {
  using T = uint16_t;
  static float32x4_t load(const T* p) { return vreinterpretq_f32_u32(vshll_n_u16(vld1_u16(p), 16)); }
};

template <class L>
struct FpTile {
  template <int NR, int NT>
  struct Body {
    static void run(const uint8_t* w, size_t wrb, const uint8_t* a, size_t arb, int64_t k, float* c, int64_t ldc) {
      using T = typename L::T;
      float32x4_t acc[NR][NT];
      for (int r = 0; r < NR; ++r)
        for (int t = 0; t < NT; ++t) acc[r][t] = vdupq_n_f32(0.0f);
      const T* wr[NR];
      const T* at[NT];
      for (int r = 0; r < NR; ++r) wr[r] = reinterpret_cast<const T*>(w + r * wrb);
      for (int t = 0; t < NT; ++t) at[t] = reinterpret_cast<const T*>(a + t * arb);
      auto step = [&](auto load_w, auto load_a) {
        float32x4_t wv[NR];
        for (int r = 0; r < NR; ++r) wv[r] = load_w(r);
        for (int t = 0; t < NT; ++t) {
          const float32x4_t av = load_a(t);
          for (int r = 0; r < NR; ++r) acc[r][t] = vfmaq_f32(acc[r][t], wv[r], av);
        }
      };
      int64_t i = 0;
      for (; i + 4 <= k; i += 4) step([&](int r) { return L::load(wr[r] + i); }, [&](int t) { return L::load(at[t] + i); });
      if (i < k) {
        const size_t n_bytes = static_cast<size_t>(k - i) * sizeof(T);
        auto padded = [&](const T* p) {
          T tmp[4] = {};
          std::memcpy(tmp, p + i, n_bytes);
          return L::load(tmp);
        };
        step([&](int r) { return padded(wr[r]); }, [&](int t) { return padded(at[t]); });
      }
      for (int r = 0; r < NR; ++r)
        for (int t = 0; t < NT; ++t) c[t * ldc + r] = vaddvq_f32(acc[r][t]);
    }
  };
};

// Row conversions, bit-identical to the scalar reference.

// f32 -> q8_0: d = amax/127, q = round-half-even(x * 127/amax); fcvtns rounds to nearest
// even like std::nearbyint in the reference, and |x * id| <= 127 never saturates.
void q8_0_from_float_neon(const float* x, void* out, int64_t k) {
  auto* y = static_cast<BlockQ8_0*>(out);
  for (int64_t b = 0; b < k / kQ8_0Block; ++b) {
    const float* xb = x + b * kQ8_0Block;
    float32x4_t v[8];
    float32x4_t mx = vdupq_n_f32(0.0f);
    for (int j = 0; j < 8; ++j) {
      v[j] = vld1q_f32(xb + 4 * j);
      mx = vmaxq_f32(mx, vabsq_f32(v[j]));
    }
    const float amax = vmaxvq_f32(mx);
    const float d = amax / 127.0f;
    const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
    y[b].d = f32_to_fp16(d);
    for (int j = 0; j < 8; j += 2) {
      const int32x4_t q0 = vcvtnq_s32_f32(vmulq_n_f32(v[j], id));
      const int32x4_t q1 = vcvtnq_s32_f32(vmulq_n_f32(v[j + 1], id));
      const int16x8_t q16 = vcombine_s16(vqmovn_s32(q0), vqmovn_s32(q1));
      vst1_s8(y[b].qs + 4 * j, vqmovn_s16(q16));
    }
  }
}

void q8_0_to_float_neon(const void* in, float* x, int64_t k) {
  const auto* y = static_cast<const BlockQ8_0*>(in);
  for (int64_t b = 0; b < k / kQ8_0Block; ++b) {
    const float d = fp16_to_f32(y[b].d);
    for (int j = 0; j < 32; j += 8) {
      const int16x8_t q = vmovl_s8(vld1_s8(y[b].qs + j));
      vst1q_f32(x + b * kQ8_0Block + j, vmulq_n_f32(vcvtq_f32_s32(vmovl_s16(vget_low_s16(q))), d));
      vst1q_f32(x + b * kQ8_0Block + j + 4, vmulq_n_f32(vcvtq_f32_s32(vmovl_s16(vget_high_s16(q))), d));
    }
  }
}

// f32 -> f16: fcvtn rounds to nearest even; NaNs (hardware keeps the payload, the
// reference returns sign | 0x7e00) and the tail go through the reference.
void f16_from_float_neon(const float* x, void* out, int64_t k) {
  auto* y = static_cast<uint16_t*>(out);
  int64_t i = 0;
  for (; i + 4 <= k; i += 4) {
    const float32x4_t v = vld1q_f32(x + i);
    vst1_u16(y + i, vreinterpret_u16_f16(vcvt_f16_f32(v)));
    if (vminvq_u32(vceqq_f32(v, v)) == 0) {
      for (int j = 0; j < 4; ++j)
        if (x[i + j] != x[i + j]) y[i + j] = f32_to_fp16(x[i + j]);
    }
  }
  for (; i < k; ++i) y[i] = f32_to_fp16(x[i]);
}

void f16_to_float_neon(const void* in, float* x, int64_t k) {
  const auto* y = static_cast<const uint16_t*>(in);
  int64_t i = 0;
  for (; i + 4 <= k; i += 4) {
    const uint16x4_t h = vld1_u16(y + i);
    vst1q_f32(x + i, LoadF16::load(y + i));
    // NaN inputs: the reference keeps the payload bits as they are; fcvtl quiets
    // signalling NaNs, so redo those lanes with the reference.
    if (vmaxv_u16(vcge_u16(vand_u16(h, vdup_n_u16(0x7fff)), vdup_n_u16(0x7c01))))
      for (int j = 0; j < 4; ++j) x[i + j] = fp16_to_f32(y[i + j]);
  }
  for (; i < k; ++i) x[i] = fp16_to_f32(y[i]);
}

// f32 -> bf16 by the reference's integer formula (round half to even by adding
// 0x7fff + lsb; NaN -> quiet NaN).
void bf16_from_float_neon(const float* x, void* out, int64_t k) {
  auto* y = static_cast<uint16_t*>(out);
  int64_t i = 0;
  for (; i + 4 <= k; i += 4) {
    const uint32x4_t u = vreinterpretq_u32_f32(vld1q_f32(x + i));
    const uint32x4_t lsb = vandq_u32(vshrq_n_u32(u, 16), vdupq_n_u32(1));
    const uint32x4_t rounded = vshrq_n_u32(vaddq_u32(u, vaddq_u32(lsb, vdupq_n_u32(0x7fff))), 16);
    const uint32x4_t quiet = vorrq_u32(vshrq_n_u32(u, 16), vdupq_n_u32(64));
    const uint32x4_t nan = vcgtq_u32(vandq_u32(u, vdupq_n_u32(0x7fffffff)), vdupq_n_u32(0x7f800000));
    vst1_u16(y + i, vmovn_u32(vbslq_u32(nan, quiet, rounded)));
  }
  for (; i < k; ++i) y[i] = f32_to_bf16(x[i]);
}

void bf16_to_float_neon(const void* in, float* x, int64_t k) {
  const auto* y = static_cast<const uint16_t*>(in);
  int64_t i = 0;
  for (; i + 4 <= k; i += 4) vst1q_f32(x + i, LoadBF16::load(y + i));
  for (; i < k; ++i) x[i] = bf16_to_f32(y[i]);
}

void f32_copy_neon(const float* x, void* out, int64_t k) { std::memcpy(out, x, static_cast<size_t>(k) * 4); }

// 32 NEON registers: accumulators plus per-row operands.
constexpr int kQ8Rows = 4, kQ8Tokens = 2;
constexpr int kFpRows = 4, kFpTokens = 4;

}  // namespace

void fill_neon(Table& t) {
  t.isa = Isa::kNeon;
  t.f32 = {DType::kF32, f32_copy_neon, gemm_tiled<FpTile<LoadF32>::Body, kFpRows, kFpTokens>};
  t.f16 = {DType::kF16, f16_from_float_neon, gemm_tiled<FpTile<LoadF16>::Body, kFpRows, kFpTokens>};
  t.bf16 = {DType::kBF16, bf16_from_float_neon, gemm_tiled<FpTile<LoadBF16>::Body, kFpRows, kFpTokens>};
  // This assignment clears the packed entries; dispatch.cpp adds them back (the shared
  // layout from scalar/, the gemm from packed_q8_0_neon.cpp).
  t.q8_0 = {DType::kQ8_0, q8_0_from_float_neon, gemm_tiled<Q8Dot, kQ8Rows, kQ8Tokens>};
  t.to_float_f16 = f16_to_float_neon;
  t.to_float_bf16 = bf16_to_float_neon;
  t.to_float_q8_0 = q8_0_to_float_neon;
  t.from_float_f16 = f16_from_float_neon;
  t.from_float_bf16 = bf16_from_float_neon;
  t.from_float_q8_0 = q8_0_from_float_neon;
}

}  // namespace deepcpu::kernels

#endif  // defined(__aarch64__)
