// avx2 vector helpers: y += a x with FMA, y *= a. Tails use the fused scalar fmaf so
// every element gets the same single rounding whatever n is.
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
}  // namespace

void fill_vec_ops_avx2(Table& t) {
  t.axpy_f32 = axpy;
  t.scale_f32 = scale;
}

}  // namespace deepcpu::kernels
#endif
