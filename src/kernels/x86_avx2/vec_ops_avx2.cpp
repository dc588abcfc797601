// avx2 vector helpers: y += a x with FMA, y *= a, and several axpys in a row with y held in
// registers. Tails use the fused scalar fmaf so every element gets the same single rounding
// whatever n is.
#if defined(__x86_64__)
#include <immintrin.h>

#include <cmath>

#include "kernels/kernels.h"

namespace deepcpu::kernels {

namespace {
void axpy(float* y, float a, const float* x, int64_t n) {
  const __m256 va = _mm256_set1_ps(a);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
  for (; i < n; ++i) y[i] = std::fma(a, x[i], y[i]);
}
void scale(float* y, float a, int64_t n) {
  const __m256 va = _mm256_set1_ps(a);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_mul_ps(va, _mm256_loadu_ps(y + i)));
  for (; i < n; ++i) y[i] *= a;
}
// axpy_rows: NV vectors of y stay in registers while the rows stream past; per element
// the same fmadd(w[j], x, y) chain as n_rows calls of axpy, and the same scalar fma tail.
template <int NV>
inline void axpy_rows_step(float* y, const float* w, const float* x, int64_t ldx, int64_t n_rows) {
  __m256 acc[NV];
  for (int v = 0; v < NV; ++v) acc[v] = _mm256_loadu_ps(y + v * 8);
  for (int64_t j = 0; j < n_rows; ++j) {
    const __m256 wj = _mm256_set1_ps(w[j]);
    const float* xj = x + j * ldx;
    for (int v = 0; v < NV; ++v) acc[v] = _mm256_fmadd_ps(wj, _mm256_loadu_ps(xj + v * 8), acc[v]);
  }
  for (int v = 0; v < NV; ++v) _mm256_storeu_ps(y + v * 8, acc[v]);
}
void axpy_rows(float* y, const float* w, const float* x, int64_t ldx, int64_t n_rows, int64_t n) {
  int64_t i = 0;
  for (; i + 64 <= n; i += 64) axpy_rows_step<8>(y + i, w, x + i, ldx, n_rows);
  for (; i + 32 <= n; i += 32) axpy_rows_step<4>(y + i, w, x + i, ldx, n_rows);
  for (; i + 8 <= n; i += 8) axpy_rows_step<1>(y + i, w, x + i, ldx, n_rows);
  for (; i < n; ++i) {
    float acc = y[i];
    for (int64_t j = 0; j < n_rows; ++j) acc = std::fma(w[j], x[j * ldx + i], acc);
    y[i] = acc;
  }
}
}  // namespace

void fill_vec_ops_avx2(Table& t) {
  t.axpy_f32 = axpy;
  t.scale_f32 = scale;
  t.axpy_rows_f32 = axpy_rows;
  // One output at a time: 16 ymm registers leave no room for several outputs' tiles.
  t.axpy_rows_multi_f32 = [](float* y, int64_t ldy, const float* w, int64_t ldw, int64_t n_y, const float* x,
                             int64_t ldx, int64_t n_rows, int64_t n) {
    for (int64_t r = 0; r < n_y; ++r) axpy_rows(y + r * ldy, w + r * ldw, x, ldx, n_rows, n);
  };
}

}  // namespace deepcpu::kernels
#endif
