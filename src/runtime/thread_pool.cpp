// The pool's job hand-off. A job is published by writing (cursor_, call_, ctx_) and
// then bumping generation_; workers spin on generation_ for a while and then sleep on
// cv_. The driver runs tasks too, then waits for n_busy_ (workers still inside the job)
// to reach zero, so when run() returns no worker touches the job's context any more.
#include "runtime/thread_pool.h"

#include "base/log.h"

#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#if defined(__x86_64__)
#include <immintrin.h>
#define DEEPCPU_PAUSE() _mm_pause()
#elif defined(__aarch64__)
#define DEEPCPU_PAUSE() __asm__ __volatile__("yield")
#else
#define DEEPCPU_PAUSE() std::this_thread::yield()
#endif

namespace deepcpu {

namespace {
constexpr int kSpinIterations = 20000;  // ~50-100 us before a worker goes to sleep (poll 50)
constexpr int kMaxCpu = 4096;           // as runtime/numa.h's kMaxCpus

std::atomic<bool> g_warned_affinity{false};

// Pins the calling thread; the first refusal in the process is logged, later ones not.
void pin_or_warn(const std::vector<int>& cpus, int thread) {
  if (cpus.empty() || pin_current_thread(cpus)) return;
  const int err = errno;
  if (!g_warned_affinity.exchange(true)) {
    std::string list;
    for (int c : cpus) list += (list.empty() ? "" : ",") + std::to_string(c);
    DEEPCPU_LOG_WARN("warning: cannot pin thread {} to CPUs {} ({}); threads run unpinned", thread, list,
                     std::strerror(err));
  }
}
}  // namespace

bool pin_current_thread(const std::vector<int>& cpus) {
  cpu_set_t* set = CPU_ALLOC(kMaxCpu);
  const size_t bytes = CPU_ALLOC_SIZE(kMaxCpu);
  CPU_ZERO_S(bytes, set);
  for (int c : cpus)
    if (c >= 0 && c < kMaxCpu) CPU_SET_S(c, bytes, set);
  const int rc = pthread_setaffinity_np(pthread_self(), bytes, set);
  CPU_FREE(set);
  if (rc != 0) errno = rc;
  return rc == 0;
}

std::vector<int> current_thread_cpus() {
  cpu_set_t* set = CPU_ALLOC(kMaxCpu);
  const size_t bytes = CPU_ALLOC_SIZE(kMaxCpu);
  CPU_ZERO_S(bytes, set);
  std::vector<int> out;
  if (pthread_getaffinity_np(pthread_self(), bytes, set) == 0) {
    for (int c = 0; c < kMaxCpu; ++c)
      if (CPU_ISSET_S(c, bytes, set)) out.push_back(c);
  }
  CPU_FREE(set);
  return out;
}

ThreadPool::ThreadPool(int n_threads, ThreadPoolOptions options)
    : n_threads_(std::max(1, n_threads)),
      options_(std::move(options)),
      spin_iterations_(kSpinIterations / 50 * std::clamp(options_.poll, 0, 100)) {
  part_of_thread_.assign(static_cast<size_t>(n_threads_), 0);
  for (size_t t = 0; t < part_of_thread_.size() && t < options_.part_of_thread.size(); ++t)
    part_of_thread_[t] = std::clamp(options_.part_of_thread[t], 0, kMaxNumaParts - 1);
  n_parts_ = 1 + *std::max_element(part_of_thread_.begin(), part_of_thread_.end());
  for (int p : part_of_thread_) ++threads_per_part_[p];
  workers_.reserve(n_threads_ - 1);
  for (int t = 1; t < n_threads_; ++t) workers_.emplace_back([this, t] { worker_loop(t); });
}

void ThreadPool::pin_caller() {
  pinned_caller_ = std::this_thread::get_id();
  pin_or_warn(options_.cpus[0], 0);
}

ThreadPool::~ThreadPool() {
  stop_.store(true, std::memory_order_release);
  generation_.fetch_add(1, std::memory_order_seq_cst);
  {
    std::lock_guard<std::mutex> lock(mu_);
    cv_.notify_all();
  }
  for (auto& w : workers_) w.join();
}

int ThreadPool::threads_in_part(int p) const {
  return p >= 0 && p < n_parts_ ? threads_per_part_[p] : 0;
}

void ThreadPool::work(int thread) {
  // The thread's own part first, then the others in turn (one part: just part 0).
  const int home = job_parts_ == 1 ? 0 : part_of_thread_[thread] % job_parts_;
  for (int i = 0; i < job_parts_; ++i) {
    PartCursor& c = cursor_[(home + i) % job_parts_];
    for (;;) {
      const int64_t task = c.next.fetch_add(1, std::memory_order_relaxed);
      if (task >= c.end) break;
      call_(ctx_, task, thread);
    }
  }
}

void ThreadPool::worker_loop(int thread) {
  if (static_cast<size_t>(thread) < options_.cpus.size()) pin_or_warn(options_.cpus[thread], thread);
  uint64_t seen = 0;
  for (;;) {
    uint64_t gen = generation_.load(std::memory_order_acquire);
    for (int spin = 0; gen == seen && spin < spin_iterations_; ++spin) {
      // Now and then let another thread have the core: with more threads than free
      // cores a spinner would otherwise starve the worker the driver is waiting for.
      if (spin % 1024 == 1023)
        std::this_thread::yield();
      else
        DEEPCPU_PAUSE();
      gen = generation_.load(std::memory_order_acquire);
    }
    if (gen == seen) {
      // Sleep. n_sleeping_ is raised before the predicate reads generation_ (both
      // seq_cst), and dispatch() bumps generation_ before reading n_sleeping_: either the
      // driver sees a sleeper and notifies under mu_, or this check sees the new job.
      std::unique_lock<std::mutex> lock(mu_);
      n_sleeping_.fetch_add(1, std::memory_order_seq_cst);
      cv_.wait(lock, [&] { return generation_.load(std::memory_order_seq_cst) != seen; });
      n_sleeping_.fetch_sub(1, std::memory_order_relaxed);
      gen = generation_.load(std::memory_order_acquire);
    }
    seen = gen;
    if (stop_.load(std::memory_order_acquire)) return;
    work(thread);
    n_busy_.fetch_sub(1, std::memory_order_release);
  }
}

void ThreadPool::dispatch(int64_t n_tasks, Trampoline call, const void* ctx) {
  const int64_t first[2] = {0, n_tasks};
  dispatch_parts(1, first, call, ctx);
}

void ThreadPool::dispatch_parts(int n_parts, const int64_t* first, Trampoline call, const void* ctx) {
  const int64_t n_tasks = first[n_parts] - first[0];
  if (n_tasks <= 0) return;
  // One compare per job; the syscall only when a new thread drives the pool.
  if (options_.pin_caller && !options_.cpus.empty() && std::this_thread::get_id() != pinned_caller_) pin_caller();
  if (n_threads_ == 1 || n_tasks == 1) {
    for (int64_t i = first[0]; i < first[n_parts]; ++i) call(ctx, i, 0);
    return;
  }
  call_ = call;
  ctx_ = ctx;
  job_parts_ = std::clamp(n_parts, 1, kMaxNumaParts);
  for (int p = 0; p < job_parts_; ++p) {
    cursor_[p].next.store(first[p], std::memory_order_relaxed);
    cursor_[p].end = p + 1 < job_parts_ ? first[p + 1] : first[n_parts];
  }
  n_busy_.store(n_threads_ - 1, std::memory_order_relaxed);
  generation_.fetch_add(1, std::memory_order_seq_cst);
  if (n_sleeping_.load(std::memory_order_seq_cst) > 0) {
    std::lock_guard<std::mutex> lock(mu_);
    cv_.notify_all();
  }
  work(0);
  // Workers may be descheduled on a loaded machine: spin, then give the core away.
  for (int spin = 0; n_busy_.load(std::memory_order_acquire) != 0; ++spin) {
    if (spin % 1024 == 1023 || spin > kSpinIterations)
      std::this_thread::yield();
    else
      DEEPCPU_PAUSE();
  }
  call_ = nullptr;
  ctx_ = nullptr;
}

void ThreadPool::run(int64_t n_tasks, const TaskFn& fn) {
  dispatch(
      n_tasks, [](const void* ctx, int64_t task, int thread) { (*static_cast<const TaskFn*>(ctx))(task, thread); },
      &fn);
}

void ThreadPool::parallel_for(int64_t n, int64_t min_chunk, const std::function<void(int64_t, int64_t, int)>& fn) {
  if (n <= 0) return;
  min_chunk = std::max<int64_t>(1, min_chunk);
  // About 4 chunks per thread balances uneven rows without many tiny tasks.
  struct Ctx {
    int64_t n, chunk;
    const std::function<void(int64_t, int64_t, int)>* fn;
  };
  const Ctx ctx{n, std::max(min_chunk, (n + 4 * n_threads_ - 1) / (4 * n_threads_)), &fn};
  dispatch(
      (n + ctx.chunk - 1) / ctx.chunk,
      [](const void* p, int64_t task, int thread) {
        const auto* c = static_cast<const Ctx*>(p);
        const int64_t b = task * c->chunk;
        (*c->fn)(b, std::min(c->n, b + c->chunk), thread);
      },
      &ctx);
}

}  // namespace deepcpu
