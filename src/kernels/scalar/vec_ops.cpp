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
}  // namespace

void fill_vec_ops_scalar(Table& t) {
  t.axpy_f32 = axpy;
  t.scale_f32 = scale;
}

}  // namespace deepcpu::kernels
