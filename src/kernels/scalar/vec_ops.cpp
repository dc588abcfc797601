// Scalar vector helpers (the reference for vec_ops_<isa>.cpp).
#include "kernels/kernels.h"

namespace deepcpu::kernels {

namespace {
void axpy(float* y, float a, const float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];
}
void scale(float* y, float a, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] *= a;
}
// The definition of axpy_rows_f32: one axpy per row, in row order.
void axpy_rows(float* y, const float* w, const float* x, int64_t ldx, int64_t n_rows, int64_t n) {
  for (int64_t j = 0; j < n_rows; ++j) axpy(y, w[j], x + j * ldx, n);
}
// The definition of axpy_rows_multi_f32: one axpy_rows per output.
void axpy_rows_multi(float* y, int64_t ldy, const float* w, int64_t ldw, int64_t n_y, const float* x, int64_t ldx,
                     int64_t n_rows, int64_t n) {
  for (int64_t r = 0; r < n_y; ++r) axpy_rows(y + r * ldy, w + r * ldw, x, ldx, n_rows, n);
}
}  // namespace

void fill_vec_ops_scalar(Table& t) {
  t.axpy_f32 = axpy;
  t.scale_f32 = scale;
  t.axpy_rows_f32 = axpy_rows;
  t.axpy_rows_multi_f32 = axpy_rows_multi;
}

}  // namespace deepcpu::kernels
