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
    // Packed weights: tasks of whole row groups (the kernels' unit) inside one part, about
    // 4 per thread of the part's node; the last task of a part ends at its last row.
    constexpr int64_t G = kernels::kPackRows;
    const int64_t min_groups = (min_rows + G - 1) / G;
    int64_t first_task[kMaxNumaParts + 1] = {0};
    int64_t chunk[kMaxNumaParts];
    for (int p = 0; p < w.n_parts; ++p) {
      const int64_t groups = (w.part_row[p + 1] - w.part_row[p] + G - 1) / G;
      const int64_t threads = std::max(1, ctx.pool.threads_in_part(p));
      chunk[p] = std::max(min_groups, (groups + 4 * threads - 1) / (4 * threads));
      first_task[p + 1] = first_task[p] + (groups + chunk[p] - 1) / chunk[p];
    }
    ctx.pool.run_parts(w.n_parts, first_task, [&](int64_t task, int) {
      int p = 0;
      while (task >= first_task[p + 1]) ++p;
      const int64_t r0 = w.part_row[p] + (task - first_task[p]) * chunk[p] * G;
      gemm_packed_part(*mk, w, p, a, a_row_bytes, r0, std::min(w.part_row[p + 1], r0 + chunk[p] * G), m, y, ldy);
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
