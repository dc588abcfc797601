// The pool's job hand-off. A job is published by writing (n_tasks_, call_, ctx_) and
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

void ThreadPool::work(int thread) {
  for (;;) {
    const int64_t task = next_task_.fetch_add(1, std::memory_order_relaxed);
    if (task >= n_tasks_) break;
    call_(ctx_, task, thread);
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
  if (n_tasks <= 0) return;
  // One compare per job; the syscall only when a new thread drives the pool.
  if (options_.pin_caller && !options_.cpus.empty() && std::this_thread::get_id() != pinned_caller_) pin_caller();
  if (n_threads_ == 1 || n_tasks == 1) {
    for (int64_t i = 0; i < n_tasks; ++i) call(ctx, i, 0);
    return;
  }
  call_ = call;
  ctx_ = ctx;
  n_tasks_ = n_tasks;
  next_task_.store(0, std::memory_order_relaxed);
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
