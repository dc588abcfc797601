// Scalar reference kernels: the simplest correct loops, the spec for every ISA folder.
//
// Q8_0 block (ggml block_q8_0): fp16 scale d, then 32 int8 q; x[i] = d * q[i].
// Activation quantization follows llama.cpp's x86 path (what the reference logits were
// made with): d = amax/127, q = round-half-even(x * 127/amax).
// A Q8_0 x Q8_0 dot sums the exact int32 block products and scales each by d_w * d_a.
#include "base/fp16.h"
#include "kernels/kernels.h"

#include <cmath>

namespace deepcpu::kernels {

namespace {

void q8_0_from_float(const float* x, void* out, int64_t k) {
  auto* y = static_cast<BlockQ8_0*>(out);
  for (int64_t b = 0; b < k / kQ8_0Block; ++b) {
    const float* xb = x + b * kQ8_0Block;
    float amax = 0.0f;
    for (int i = 0; i < kQ8_0Block; ++i) amax = std::fmax(amax, std::fabs(xb[i]));
    const float d = amax / 127.0f;
    const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
    y[b].d = f32_to_fp16(d);
    for (int i = 0; i < kQ8_0Block; ++i) y[b].qs[i] = static_cast<int8_t>(std::nearbyint(xb[i] * id));
  }
}

void q8_0_to_float(const void* in, float* x, int64_t k) {
  const auto* y = static_cast<const BlockQ8_0*>(in);
  for (int64_t b = 0; b < k / kQ8_0Block; ++b) {
    const float d = fp16_to_f32(y[b].d);
    for (int i = 0; i < kQ8_0Block; ++i) x[b * kQ8_0Block + i] = d * static_cast<float>(y[b].qs[i]);
  }
}

void f16_from_float(const float* x, void* out, int64_t k) {
  auto* y = static_cast<uint16_t*>(out);
  for (int64_t i = 0; i < k; ++i) y[i] = f32_to_fp16(x[i]);
}
void f16_to_float(const void* in, float* x, int64_t k) {
  const auto* y = static_cast<const uint16_t*>(in);
  for (int64_t i = 0; i < k; ++i) x[i] = fp16_to_f32(y[i]);
}
void bf16_from_float(const float* x, void* out, int64_t k) {
  auto* y = static_cast<uint16_t*>(out);
  for (int64_t i = 0; i < k; ++i) y[i] = f32_to_bf16(x[i]);
}
void bf16_to_float(const void* in, float* x, int64_t k) {
  const auto* y = static_cast<const uint16_t*>(in);
  for (int64_t i = 0; i < k; ++i) x[i] = bf16_to_f32(y[i]);
}
void f32_copy(const float* x, void* out, int64_t k) {
  auto* y = static_cast<float*>(out);
  for (int64_t i = 0; i < k; ++i) y[i] = x[i];
}

float dot_f32(const float* w, const float* a, int64_t k) {
  float s = 0.0f;
  for (int64_t i = 0; i < k; ++i) s += w[i] * a[i];
  return s;
}
float dot_f16(const uint16_t* w, const uint16_t* a, int64_t k) {
  float s = 0.0f;
  for (int64_t i = 0; i < k; ++i) s += fp16_to_f32(w[i]) * fp16_to_f32(a[i]);
  return s;
}
float dot_bf16(const uint16_t* w, const uint16_t* a, int64_t k) {
  float s = 0.0f;
  for (int64_t i = 0; i < k; ++i) s += bf16_to_f32(w[i]) * bf16_to_f32(a[i]);
  return s;
}
float dot_q8_0(const BlockQ8_0* w, const BlockQ8_0* a, int64_t k) {
  float s = 0.0f;
  for (int64_t b = 0; b < k / kQ8_0Block; ++b) {
    int32_t isum = 0;
    for (int i = 0; i < kQ8_0Block; ++i) isum += static_cast<int32_t>(w[b].qs[i]) * a[b].qs[i];
    s += static_cast<float>(isum) * (fp16_to_f32(w[b].d) * fp16_to_f32(a[b].d));
  }
  return s;
}

// One template for the four gemms: loop over tokens and rows, one dot each.
template <typename T, float (*Dot)(const T*, const T*, int64_t)>
void gemm(const void* w, size_t w_row_bytes, const void* a, size_t a_row_bytes, int64_t k, int64_t r0, int64_t r1,
          int64_t m, float* c, int64_t ldc) {
  const auto* wb = static_cast<const uint8_t*>(w);
  const auto* ab = static_cast<const uint8_t*>(a);
  for (int64_t it = 0; it < m; ++it) {
    const T* arow = reinterpret_cast<const T*>(ab + it * a_row_bytes);
    for (int64_t ir = r0; ir < r1; ++ir) {
      c[it * ldc + ir] = Dot(reinterpret_cast<const T*>(wb + ir * w_row_bytes), arow, k);
    }
  }
}

}  // namespace

void fill_scalar(Table& t) {
  t.isa = Isa::kScalar;
  t.f32 = {DType::kF32, f32_copy, gemm<float, dot_f32>};
  t.f16 = {DType::kF16, f16_from_float, gemm<uint16_t, dot_f16>};
  t.bf16 = {DType::kBF16, bf16_from_float, gemm<uint16_t, dot_bf16>};
  t.q8_0 = {DType::kQ8_0, q8_0_from_float, gemm<BlockQ8_0, dot_q8_0>};
  fill_packed_q8_0_scalar(t.q8_0);
  t.to_float_f16 = f16_to_float;
  t.to_float_bf16 = bf16_to_float;
  t.to_float_q8_0 = q8_0_to_float;
  t.from_float_f16 = f16_from_float;
  t.from_float_bf16 = bf16_from_float;
  t.from_float_q8_0 = q8_0_from_float;
}

}  // namespace deepcpu::kernels
