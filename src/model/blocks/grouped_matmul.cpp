#include "model/blocks/grouped_matmul.h"

#include "base/check.h"

#include <algorithm>

namespace deepcpu {

namespace {

// Per job: its kernels and its converted activations.
struct JobPlan {
  const kernels::MatmulKernels* mk;
  const uint8_t* a;
  size_t a_row_bytes;
  int64_t rows_per_task;
  bool packed;  // use the weight's packed copy (kernels.h packed layout)
};

// A run of tasks over rows [r0, r1) of one job, all inside one part of its packed copy
// (NUMA: runtime/numa.h NodeSplit); segments are ordered by part, so each part's tasks
// are contiguous for ThreadPool::run_parts.
struct Segment {
  int job;
  int part;
  int64_t r0, r1;
  int64_t first_task;
};

}  // namespace

void matmul_grouped(ForwardCtx& ctx, const MatmulJob* jobs, int n_jobs) {
  if (n_jobs <= 0) return;
  auto* plans = static_cast<JobPlan*>(ctx.arena.alloc_bytes(sizeof(JobPlan) * n_jobs));
  double total_work = 0;
  for (int j = 0; j < n_jobs; ++j) total_work += static_cast<double>(jobs[j].w->n_rows) * jobs[j].w->n_cols * jobs[j].m;
  // Aim at ~8 tasks per thread over the whole group, but no task below ~16k MACs.
  const double task_work = std::max(16384.0, total_work / (8.0 * ctx.pool.n_threads()));
  int n_parts = 1;
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
    if (p.packed) n_parts = std::max(n_parts, w.n_parts);
  }
  // Segments part by part; a job that is not packed (or has fewer parts) goes whole into
  // part 0, whose threads start on it and the others help when their parts are done.
  auto* segs = static_cast<Segment*>(ctx.arena.alloc_bytes(sizeof(Segment) * n_jobs * n_parts));
  int n_segs = 0;
  int64_t first_task[kMaxNumaParts + 1] = {0};
  int64_t n_tasks = 0;
  for (int part = 0; part < n_parts; ++part) {
    for (int j = 0; j < n_jobs; ++j) {
      const Weight& w = *jobs[j].w;
      if (jobs[j].m == 0) continue;  // no tokens, no tasks
      const bool split = plans[j].packed && w.n_parts > 1;
      if (!split && part > 0) continue;
      const int64_t r0 = split ? w.part_row[part] : 0;
      const int64_t r1 = split ? w.part_row[part + 1] : w.n_rows;
      if (r1 <= r0) continue;
      segs[n_segs++] = {j, split ? part : 0, r0, r1, n_tasks};
      n_tasks += (r1 - r0 + plans[j].rows_per_task - 1) / plans[j].rows_per_task;
    }
    first_task[part + 1] = n_tasks;
  }
  ctx.pool.run_parts(n_parts, first_task, [&](int64_t task, int) {
    // The segment owning this task: the last one starting at or before it.
    const Segment& sg = *(std::upper_bound(segs, segs + n_segs, task,
                                           [](int64_t t, const Segment& s) { return t < s.first_task; }) - 1);
    const JobPlan& p = plans[sg.job];
    const MatmulJob& job = jobs[sg.job];
    const int64_t r0 = sg.r0 + (task - sg.first_task) * p.rows_per_task;
    const int64_t r1 = std::min(sg.r1, r0 + p.rows_per_task);
    if (p.packed) {
      gemm_packed_part(*p.mk, *job.w, sg.part, p.a, p.a_row_bytes, r0, r1, job.m, job.y, job.ldy);
    } else {
      p.mk->gemm(job.w->data, job.w->row_bytes, p.a, p.a_row_bytes, job.w->n_cols, r0, r1, job.m, job.y, job.ldy);
    }
  });
}

}  // namespace deepcpu
