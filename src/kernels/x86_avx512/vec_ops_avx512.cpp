// avx512 vector helpers: y += a x with FMA, y *= a, and several axpys in a row with y held in
// registers. Tails use the fused scalar fmaf so every element gets the same single rounding
// whatever n is.
#if defined(__x86_64__)
#include <immintrin.h>

#include <cmath>

#include "kernels/kernels.h"

namespace deepcpu::kernels {

namespace {
void axpy(float* y, float a, const float* x, int64_t n) {
  const __m512 va = _mm512_set1_ps(a);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, _mm512_fmadd_ps(va, _mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i)));
  for (; i < n; ++i) y[i] = std::fma(a, x[i], y[i]);
}
void scale(float* y, float a, int64_t n) {
  const __m512 va = _mm512_set1_ps(a);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, _mm512_mul_ps(va, _mm512_loadu_ps(y + i)));
  for (; i < n; ++i) y[i] *= a;
}
// axpy_rows: NV vectors of y stay in registers while the rows stream past; per element
// the same fmadd(w[j], x, y) chain as n_rows calls of axpy, and the same scalar fma tail.
template <int NV>
inline void axpy_rows_step(float* y, const float* w, const float* x, int64_t ldx, int64_t n_rows) {
  __m512 acc[NV];
  for (int v = 0; v < NV; ++v) acc[v] = _mm512_loadu_ps(y + v * 16);
  for (int64_t j = 0; j < n_rows; ++j) {
    const __m512 wj = _mm512_set1_ps(w[j]);
    const float* xj = x + j * ldx;
    for (int v = 0; v < NV; ++v) acc[v] = _mm512_fmadd_ps(wj, _mm512_loadu_ps(xj + v * 16), acc[v]);
  }
  for (int v = 0; v < NV; ++v) _mm512_storeu_ps(y + v * 16, acc[v]);
}
void axpy_rows(float* y, const float* w, const float* x, int64_t ldx, int64_t n_rows, int64_t n) {
  int64_t i = 0;
  for (; i + 128 <= n; i += 128) axpy_rows_step<8>(y + i, w, x + i, ldx, n_rows);
  for (; i + 64 <= n; i += 64) axpy_rows_step<4>(y + i, w, x + i, ldx, n_rows);
  for (; i + 16 <= n; i += 16) axpy_rows_step<1>(y + i, w, x + i, ldx, n_rows);
  for (; i < n; ++i) {
    float acc = y[i];
    for (int64_t j = 0; j < n_rows; ++j) acc = std::fma(w[j], x[j * ldx + i], acc);
    y[i] = acc;
  }
}
// axpy_rows_multi: R outputs x NV vectors in registers (R * NV + R + 1 of the 32 zmm), so
// each vector of an x row is loaded once for R FMAs. Per element the same fmadd chain
// over j as axpy_rows_step, and the same scalar fma tail.
template <int R, int NV>
inline void axpy_rows_tile(float* y, int64_t ldy, const float* w, int64_t ldw, const float* x, int64_t ldx,
                           int64_t n_rows) {
  __m512 acc[R][NV];
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_loadu_ps(y + r * ldy + v * 16);
  for (int64_t j = 0; j < n_rows; ++j) {
    __m512 wj[R];
    for (int r = 0; r < R; ++r) wj[r] = _mm512_set1_ps(w[r * ldw + j]);
    const float* xj = x + j * ldx;
    for (int v = 0; v < NV; ++v) {
      const __m512 xv = _mm512_loadu_ps(xj + v * 16);
      for (int r = 0; r < R; ++r) acc[r][v] = _mm512_fmadd_ps(wj[r], xv, acc[r][v]);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < NV; ++v) _mm512_storeu_ps(y + r * ldy + v * 16, acc[r][v]);
}
template <int R>
void axpy_rows_outputs(float* y, int64_t ldy, const float* w, int64_t ldw, const float* x, int64_t ldx,
                       int64_t n_rows, int64_t n) {
  int64_t i = 0;
  for (; i + 64 <= n; i += 64) axpy_rows_tile<R, 4>(y + i, ldy, w, ldw, x + i, ldx, n_rows);
  for (; i + 16 <= n; i += 16) axpy_rows_tile<R, 1>(y + i, ldy, w, ldw, x + i, ldx, n_rows);
  for (int r = 0; r < R && i < n; ++r) {
    for (int64_t e = i; e < n; ++e) {
      float acc = y[r * ldy + e];
      for (int64_t j = 0; j < n_rows; ++j) acc = std::fma(w[r * ldw + j], x[j * ldx + e], acc);
      y[r * ldy + e] = acc;
    }
  }
}
void axpy_rows_multi(float* y, int64_t ldy, const float* w, int64_t ldw, int64_t n_y, const float* x, int64_t ldx,
                     int64_t n_rows, int64_t n) {
  int64_t r = 0;
  for (; r + 4 <= n_y; r += 4) axpy_rows_outputs<4>(y + r * ldy, ldy, w + r * ldw, ldw, x, ldx, n_rows, n);
  for (; r < n_y; ++r) axpy_rows(y + r * ldy, w + r * ldw, x, ldx, n_rows, n);
}
}  // namespace

void fill_vec_ops_avx512(Table& t) {
  t.axpy_f32 = axpy;
  t.scale_f32 = scale;
  t.axpy_rows_f32 = axpy_rows;
  t.axpy_rows_multi_f32 = axpy_rows_multi;
}

}  // namespace deepcpu::kernels
#endif
