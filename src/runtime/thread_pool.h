// A persistent pool of worker threads (-t N counts the caller as one of them).
// run(n_tasks, fn) calls fn(task, thread) for every task in [0, n_tasks), handing tasks
// out through an atomic counter, and returns when all are done. Workers spin briefly
// for the next job and then sleep, so back-to-back ops in the forward pay no wake-up.
// One job at a time: run() is called from a single driving thread. Neither run() nor
// parallel_for() allocates: a job is a plain function pointer plus a context pointer.
//
// Placement (ThreadPoolOptions): workers pin themselves to their CPU set when they start.
// Thread 0 is whoever calls run(), often a thread the pool does not own (a server's
// scheduler loop, the CLI's main thread), so it is pinned only with pin_caller, at its
// first run(), and it stays pinned after the pool is gone; threads it creates later
// inherit that. Engine asks for it because its decode() runs on one driving thread that
// creates no threads afterwards, and an unpinned thread 0 would wander onto a worker's
// CPU and make that worker's share of every op wait. A CPU set the kernel refuses
// (containers, cpusets) logs one warning for the process and the thread runs unpinned.
#pragma once

#include "runtime/numa.h"

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace deepcpu {

struct ThreadPoolOptions {
  // cpus[t]: the CPUs thread t may run on. Empty (or an empty set for a thread): that
  // thread is left to the OS. Threads past cpus.size() are left alone too.
  std::vector<std::vector<int>> cpus;
  // Also apply cpus[0] to the thread calling run() (see above).
  bool pin_caller = false;
  // llama.cpp's --poll 0..100: how long an idle worker spins for the next job before it
  // sleeps on the condvar. Linear; 50 (llama.cpp's default) is ~50-100 us, 0 sleeps at once.
  int poll = 50;
  // --numa distribute: part_of_thread[t] is the NUMA part (runtime/numa.h NodeSplit) whose
  // weights thread t's node holds; run_parts() hands it that part's tasks first. Empty:
  // every thread is in part 0.
  std::vector<int> part_of_thread = {};
};

// Sets the calling thread's affinity; false (errno kept) when the kernel refuses.
bool pin_current_thread(const std::vector<int>& cpus);
// The calling thread's affinity, sorted (pthread_getaffinity_np).
std::vector<int> current_thread_cpus();

class ThreadPool {
 public:
  explicit ThreadPool(int n_threads, ThreadPoolOptions options = {});
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int n_threads() const { return n_threads_; }

  using TaskFn = std::function<void(int64_t task, int thread)>;
  void run(int64_t n_tasks, const TaskFn& fn);
  // Any callable fn(int64_t task, int thread), called through a plain function pointer:
  // no std::function is built, so a lambda with many captures costs no allocation.
  template <typename F>
  void run(int64_t n_tasks, const F& fn) {
    dispatch(
        n_tasks, [](const void* ctx, int64_t task, int thread) { (*static_cast<const F*>(ctx))(task, thread); },
        &fn);
  }

  // As run(), but the tasks are in n_parts runs: [first[p], first[p + 1]) belong to part
  // p, whose weights live on one NUMA node. Each thread takes its own part's tasks first
  // and helps the other parts only when its own are gone, so a node's threads read their
  // node's memory except at the tail. `first` has n_parts + 1 entries, n_parts is at most
  // kMaxNumaParts; with one part this is run(first[1], ...).
  template <typename F>
  void run_parts(int n_parts, const int64_t* first, const F& fn) {
    dispatch_parts(
        n_parts, first, [](const void* ctx, int64_t task, int thread) { (*static_cast<const F*>(ctx))(task, thread); },
        &fn);
  }
  int n_parts() const { return n_parts_; }                 // 1 + the largest part_of_thread
  int threads_in_part(int p) const;                        // how many threads have part p (>= 1 per part)

  // Splits [0, n) into contiguous chunks of at least `min_chunk` and calls
  // fn(begin, end, thread) on each; the split never affects what a chunk computes.
  void parallel_for(int64_t n, int64_t min_chunk, const std::function<void(int64_t, int64_t, int)>& fn);

 private:
  // A job without std::function: call(ctx, task, thread).
  using Trampoline = void (*)(const void* ctx, int64_t task, int thread);
  void dispatch(int64_t n_tasks, Trampoline call, const void* ctx);
  void dispatch_parts(int n_parts, const int64_t* first, Trampoline call, const void* ctx);
  void worker_loop(int thread);
  void work(int thread);

  void pin_caller();

  int n_threads_;
  ThreadPoolOptions options_;
  int n_parts_ = 1;
  std::vector<int> part_of_thread_;  // every thread's, clamped into [0, kMaxNumaParts)
  int threads_per_part_[kMaxNumaParts] = {};
  int spin_iterations_;                // from options_.poll
  std::thread::id pinned_caller_{};    // the caller pin_caller last pinned
  std::vector<std::thread> workers_;
  std::mutex mu_;  // only for sleeping and waking; the hot path is the atomics below
  std::condition_variable cv_;
  // Each hot atomic on its own cache line: workers hammer cursor_ while the
  // driver polls n_busy_, and spinning workers poll generation_.
  alignas(64) std::atomic<uint64_t> generation_{0};
  // The next task of each part of the current job (one part for run()).
  struct alignas(64) PartCursor {
    std::atomic<int64_t> next{0};
    int64_t end = 0;
  };
  PartCursor cursor_[kMaxNumaParts];
  alignas(64) std::atomic<int> n_busy_{0};
  std::atomic<int> n_sleeping_{0};
  std::atomic<bool> stop_{false};
  // Written by the driver before generation_ is bumped, read by workers after they see it.
  int job_parts_ = 1;
  Trampoline call_ = nullptr;
  const void* ctx_ = nullptr;
};

}  // namespace deepcpu
