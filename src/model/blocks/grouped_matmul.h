// Several independent matmuls in ONE parallel region: the per-head matmuls of MLA
// (128 small ones per layer for R1) and the experts of a MoE layer. Running them one by
// one would pay a thread-pool hand-off for each; here the tasks are (job, block of rows)
// and every thread takes the next one. Each output element is still the same dot product
// as in matmul(), so results do not change.
#pragma once

#include "model/forward.h"
#include "model/weights.h"

#include <cstdint>

namespace deepcpu {

struct MatmulJob {
  const Weight* w = nullptr;
  const float* x = nullptr;  // [m rows, ldx apart] of w->n_cols
  int64_t m = 0;
  int64_t ldx = 0;
  float* y = nullptr;        // [m rows, ldy apart] of w->n_rows
  int64_t ldy = 0;
};

void matmul_grouped(ForwardCtx& ctx, const MatmulJob* jobs, int n_jobs);

}  // namespace deepcpu
