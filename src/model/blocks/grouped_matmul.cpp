#include "model/blocks/grouped_matmul.h"

#include "base/check.h"

#include <algorithm>

namespace deepcpu {

namespace {

// Per job: its kernels, its converted activations, and where its tasks start.
struct JobPlan {
  const kernels::MatmulKernels* mk;
  const uint8_t* a;
  size_t a_row_bytes;
  int64_t rows_per_task;
  int64_t first_task;
  bool packed;  // use the weight's packed copy (kernels.h packed layout)
};

}  // namespace

void matmul_grouped(ForwardCtx& ctx, const MatmulJob* jobs, int n_jobs) {
  if (n_jobs <= 0) return;
  auto* plans = static_cast<JobPlan*>(ctx.arena.alloc_bytes(sizeof(JobPlan) * n_jobs));
  int64_t n_tasks = 0;
  double total_work = 0;
  for (int j = 0; j < n_jobs; ++j) total_work += static_cast<double>(jobs[j].w->n_rows) * jobs[j].w->n_cols * jobs[j].m;
  // Aim at ~8 tasks per thread over the whole group, but no task below ~16k MACs.
  const double task_work = std::max(16384.0, total_work / (8.0 * ctx.pool.n_threads()));
  for (int j = 0; j < n_jobs; ++j) {
    const MatmulJob& job = jobs[j];
    const Weight& w = *job.w;
    const kernels::MatmulKernels* mk = ctx.kt.matmul(w.type);
    DEEPCPU_CHECK(mk != nullptr && mk->gemm != nullptr, "no matmul kernel for {}", dtype_name(w.type));
    const int64_t k = w.n_cols;
    JobPlan& p = plans[j];
    p.mk = mk;
    p.a_row_bytes = row_bytes(mk->dot_type, k);
    auto* conv = static_cast<uint8_t*>(ctx.arena.alloc_bytes(p.a_row_bytes * std::max<int64_t>(1, job.m)));
    for (int64_t t = 0; t < job.m; ++t) mk->convert_row(job.x + t * job.ldx, conv + t * p.a_row_bytes, k);
    p.a = conv;
    const double row_work = static_cast<double>(k) * std::max<int64_t>(1, job.m);
    p.rows_per_task = std::clamp<int64_t>(static_cast<int64_t>(task_work / row_work), 4, std::max<int64_t>(4, w.n_rows));
    // Row blocks are whole row groups (kPackRows): packed kernels need it, tiled ones like it.
    constexpr int64_t G = kernels::kPackRows;
    p.rows_per_task = std::min<int64_t>(w.n_rows, (p.rows_per_task + G - 1) / G * G);
    p.packed = w.is_packed() && mk->gemm_packed != nullptr;
    p.first_task = n_tasks;
    n_tasks += job.m == 0 ? 0 : (w.n_rows + p.rows_per_task - 1) / p.rows_per_task;
  }
  ctx.pool.run(n_tasks, [&](int64_t task, int) {
    // The job owning this task: the last one starting at or before it (jobs with no
    // tokens own no tasks and are never found).
    int j = static_cast<int>(std::upper_bound(plans, plans + n_jobs, task,
                                              [](int64_t t, const JobPlan& p) { return t < p.first_task; }) -
                             plans) - 1;
    const JobPlan& p = plans[j];
    const MatmulJob& job = jobs[j];
    const int64_t r0 = (task - p.first_task) * p.rows_per_task;
    const int64_t r1 = std::min(job.w->n_rows, r0 + p.rows_per_task);
    if (p.packed) {
      p.mk->gemm_packed(job.w->packed, job.w->n_cols, p.a, p.a_row_bytes, r0, r1, job.m, job.y, job.ldy);
    } else {
      p.mk->gemm(job.w->data, job.w->row_bytes, p.a, p.a_row_bytes, job.w->n_cols, r0, r1, job.m, job.y, job.ldy);
    }
  });
}

}  // namespace deepcpu
