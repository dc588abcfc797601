#include "model/blocks/ops.h"

#include "base/check.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace deepcpu {

void matmul(ForwardCtx& ctx, const Weight& w, const float* x, int64_t m, int64_t ldx, float* y, int64_t ldy) {
  const kernels::MatmulKernels* mk = ctx.kt.matmul(w.type);
  DEEPCPU_CHECK(mk != nullptr && mk->gemm != nullptr, "no matmul kernel for {}", dtype_name(w.type));
  const int64_t k = w.n_cols;
  const void* a = x;
  size_t a_row_bytes = static_cast<size_t>(ldx) * sizeof(float);
  if (mk->dot_type != DType::kF32 || ldx != k) {
    a_row_bytes = row_bytes(mk->dot_type, k);
    auto* conv = static_cast<uint8_t*>(ctx.arena.alloc_bytes(a_row_bytes * m));
    for (int64_t t = 0; t < m; ++t) mk->convert_row(x + t * ldx, conv + t * a_row_bytes, k);
    a = conv;
  }
  // Enough rows per task that the task pays for itself; the split never changes results.
  const int64_t min_rows = std::max<int64_t>(4, 16384 / std::max<int64_t>(1, k * m));
  if (w.is_packed() && mk->gemm_packed != nullptr) {
    // Packed weights: split by whole row groups (the kernels' unit); the last task ends
    // at n_rows.
    constexpr int64_t G = kernels::kPackRows;
    const int64_t n_groups = (w.n_rows + G - 1) / G;
    ctx.pool.parallel_for(n_groups, (min_rows + G - 1) / G, [&](int64_t g0, int64_t g1, int) {
      mk->gemm_packed(w.packed, k, a, a_row_bytes, g0 * G, std::min(w.n_rows, g1 * G), m, y, ldy);
    });
    return;
  }
  ctx.pool.parallel_for(w.n_rows, min_rows, [&](int64_t r0, int64_t r1, int) {
    mk->gemm(w.data, w.row_bytes, a, a_row_bytes, k, r0, r1, m, y, ldy);
  });
}

float* matmul(ForwardCtx& ctx, const Weight& w, const float* x, int64_t m) {
  float* y = ctx.arena.alloc(static_cast<size_t>(m * w.n_rows));
  matmul(ctx, w, x, m, w.n_cols, y, w.n_rows);
  return y;
}

void rms_norm(float* x, int64_t m, int64_t n, int64_t ldx, const Weight& weight, float eps) {
  const float* g = weight.present() ? weight.f32() : nullptr;
  for (int64_t t = 0; t < m; ++t) {
    float* r = x + t * ldx;
    double sum = 0.0;
    for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(r[i]) * r[i];
    const float mean = static_cast<float>(sum / n);
    const float scale = 1.0f / std::sqrt(mean + eps);
    for (int64_t i = 0; i < n; ++i) r[i] *= scale;
    if (g) {
      for (int64_t i = 0; i < n; ++i) r[i] *= g[i];
    }
  }
}

void add_bias(float* x, int64_t m, int64_t n, const Weight& bias) {
  if (!bias.present()) return;
  const float* b = bias.f32();
  for (int64_t t = 0; t < m; ++t) {
    for (int64_t i = 0; i < n; ++i) x[t * n + i] += b[i];
  }
}

void add(float* x, const float* y, int64_t count) {
  for (int64_t i = 0; i < count; ++i) x[i] += y[i];
}

void silu_mul(float* gate, const float* up, int64_t count) {
  for (int64_t i = 0; i < count; ++i) {
    const float g = gate[i];
    gate[i] = g / (1.0f + std::exp(-g)) * up[i];
  }
}

void embed(ForwardCtx& ctx, const Weight& table, const TokenId* tokens, int64_t m, float* out) {
  const int64_t n = table.n_cols;
  for (int64_t t = 0; t < m; ++t) {
    const uint8_t* row = table.row(tokens[t]);
    float* o = out + t * n;
    if (table.type == DType::kF32) {
      std::memcpy(o, row, n * sizeof(float));
    } else {
      ctx.kt.to_float(table.type)(row, o, n);
    }
  }
}

}  // namespace deepcpu
