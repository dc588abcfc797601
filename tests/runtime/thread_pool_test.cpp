// ThreadPool: every task runs exactly once on a valid thread, for 1..4 threads and many
// back-to-back jobs (the spin path) and jobs after a pause (the sleep/wake path);
// parallel_for covers [0, n) once in contiguous chunks; no allocation per call; the pool
// can be destroyed idle, asleep, or right after construction. Placement: a pinned pool
// still runs every task once, each worker's affinity reads back as asked (where the
// kernel lets us pin), the caller is pinned only with pin_caller, and --poll 0 works.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <new>
#include <thread>
#include <vector>

#include "runtime/thread_pool.h"

namespace {
// Counts every global allocation in this binary, to check run()/parallel_for() make none.
std::atomic<int64_t> g_n_allocs{0};
}  // namespace

void* operator new(std::size_t n) {
  g_n_allocs.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace deepcpu {
namespace {

void expect_each_task_once(ThreadPool& pool, int64_t n_tasks) {
  std::vector<std::atomic<int>> hits(static_cast<size_t>(n_tasks));
  std::atomic<int> bad_thread{0};
  pool.run(n_tasks, [&](int64_t task, int thread) {
    hits[task].fetch_add(1, std::memory_order_relaxed);
    if (thread < 0 || thread >= pool.n_threads()) bad_thread.fetch_add(1);
  });
  for (int64_t i = 0; i < n_tasks; ++i) ASSERT_EQ(hits[i].load(), 1) << "task " << i << " of " << n_tasks;
  EXPECT_EQ(bad_thread.load(), 0);
}

TEST(ThreadPool, EveryTaskRunsExactlyOnce) {
  for (int n_threads = 1; n_threads <= 4; ++n_threads) {
    ThreadPool pool(n_threads);
    EXPECT_EQ(pool.n_threads(), n_threads);
    for (int64_t n_tasks : {0, 1, 2, 3, 4, 5, 7, 64, 1000}) expect_each_task_once(pool, n_tasks);
  }
}

TEST(ThreadPool, ManyBackToBackJobs) {
  for (int n_threads = 1; n_threads <= 4; ++n_threads) {
    ThreadPool pool(n_threads);
    std::atomic<int64_t> sum{0};
    int64_t want = 0;
    for (int job = 0; job < 3000; ++job) {
      const int64_t n_tasks = job % 37;
      pool.run(n_tasks, [&](int64_t task, int) { sum.fetch_add(task + 1, std::memory_order_relaxed); });
      want += n_tasks * (n_tasks + 1) / 2;
    }
    EXPECT_EQ(sum.load(), want) << n_threads << " threads";
  }
}

TEST(ThreadPool, WakesWorkersThatWentToSleep) {
  ThreadPool pool(3);
  for (int round = 0; round < 4; ++round) {
    std::this_thread::sleep_for(std::chrono::milliseconds(30));  // past the spin phase
    expect_each_task_once(pool, 100);
  }
}

TEST(ThreadPool, AllThreadsTakePart) {
  // With tasks that wait for each other, a job can only finish if every thread runs one.
  for (int n_threads = 2; n_threads <= 4; ++n_threads) {
    ThreadPool pool(n_threads);
    std::atomic<int> arrived{0};
    std::vector<std::atomic<int>> by_thread(n_threads);
    pool.run(n_threads, [&](int64_t, int thread) {
      by_thread[thread].fetch_add(1);
      arrived.fetch_add(1);
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
      while (arrived.load() < n_threads && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
    });
    EXPECT_EQ(arrived.load(), n_threads);
    for (int t = 0; t < n_threads; ++t) EXPECT_EQ(by_thread[t].load(), 1) << "thread " << t;
  }
}

TEST(ThreadPoolParts, EveryTaskOfEveryPartRunsOnce) {
  // Threads 0, 2 in part 0; 1, 3 in part 1; a third part nobody is home to still runs.
  ThreadPoolOptions o;
  o.part_of_thread = {0, 1, 0, 1};
  ThreadPool pool(4, o);
  EXPECT_EQ(pool.n_parts(), 2);
  EXPECT_EQ(pool.threads_in_part(0), 2);
  EXPECT_EQ(pool.threads_in_part(1), 2);
  EXPECT_EQ(pool.threads_in_part(2), 0);
  const std::vector<std::vector<int64_t>> cases = {
      {0, 10, 25}, {0, 0, 7}, {0, 9, 9}, {0, 1, 2, 3}, {5, 6, 40, 41}, {0, 0, 0}, {0, 1000, 1001}};
  for (const auto& first : cases) {
    const int n_parts = static_cast<int>(first.size()) - 1;
    std::vector<std::atomic<int>> hits(static_cast<size_t>(first.back()));
    pool.run_parts(n_parts, first.data(), [&](int64_t task, int) { hits[task].fetch_add(1); });
    for (int64_t i = 0; i < first.back(); ++i) {
      ASSERT_EQ(hits[i].load(), i >= first[0] ? 1 : 0) << "task " << i << " parts " << n_parts;
    }
  }
}

TEST(ThreadPoolParts, ThreadsStartOnTheirOwnPart) {
  // Two parts of two tasks; each task waits until both threads have started one. Were
  // both threads to start in one part, that part's tasks would take both and the first
  // tasks run would not be one per part; with home parts each thread's first task is
  // in its own part.
  ThreadPoolOptions o;
  o.part_of_thread = {1, 0};  // the caller (thread 0) is home to part 1
  ThreadPool pool(2, o);
  const int64_t first[3] = {0, 2, 4};
  std::vector<std::atomic<int>> first_part(2);
  for (auto& f : first_part) f = -1;
  std::atomic<int> started{0};
  pool.run_parts(2, first, [&](int64_t task, int thread) {
    int expected = -1;
    first_part[thread].compare_exchange_strong(expected, task < 2 ? 0 : 1);
    started.fetch_add(1);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (started.load() < 2 && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
  });
  EXPECT_EQ(first_part[0].load(), 1);
  EXPECT_EQ(first_part[1].load(), 0);
  EXPECT_EQ(started.load(), 4);
}

TEST(ThreadPoolParts, NoPartsMeansOnePart) {
  ThreadPool pool(3);
  EXPECT_EQ(pool.n_parts(), 1);
  EXPECT_EQ(pool.threads_in_part(0), 3);
  const int64_t first[3] = {0, 5, 9};  // a job with more parts than the pool still runs whole
  std::atomic<int> n{0};
  pool.run_parts(2, first, [&](int64_t, int) { n.fetch_add(1); });
  EXPECT_EQ(n.load(), 9);
}

TEST(ThreadPool, ParallelForCoversRangeOnceInContiguousChunks) {
  for (int n_threads = 1; n_threads <= 4; ++n_threads) {
    ThreadPool pool(n_threads);
    for (int64_t n : {0, 1, 2, 3, 10, 17, 100, 1000, 4097}) {
      for (int64_t min_chunk : {0, 1, 4, 16, 5000}) {
        std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
        std::atomic<int> bad{0};
        pool.parallel_for(n, min_chunk, [&](int64_t b, int64_t e, int thread) {
          if (b < 0 || e > n || b >= e || thread < 0 || thread >= n_threads) bad.fetch_add(1);
          // Only the last chunk may be shorter than min_chunk.
          if (e - b < min_chunk && e != n) bad.fetch_add(1);
          for (int64_t i = b; i < e; ++i) hits[i].fetch_add(1, std::memory_order_relaxed);
        });
        EXPECT_EQ(bad.load(), 0) << "n=" << n << " min_chunk=" << min_chunk;
        for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[i].load(), 1) << "n=" << n << " i=" << i;
      }
    }
  }
}

TEST(ThreadPool, RunAndParallelForDoNotAllocate) {
  ThreadPool pool(3);
  std::atomic<int64_t> sum{0};
  const ThreadPool::TaskFn task = [&](int64_t t, int) { sum.fetch_add(t, std::memory_order_relaxed); };
  const std::function<void(int64_t, int64_t, int)> chunk = [&](int64_t b, int64_t e, int) {
    sum.fetch_add(e - b, std::memory_order_relaxed);
  };
  pool.run(8, task);  // warm up
  const int64_t before = g_n_allocs.load();
  for (int i = 0; i < 100; ++i) {
    pool.run(8, task);
    pool.parallel_for(1000, 8, chunk);
  }
  EXPECT_EQ(g_n_allocs.load() - before, 0);
}

TEST(ThreadPool, DestroyIdleAsleepOrFresh) {
  for (int n_threads = 1; n_threads <= 4; ++n_threads) {
    { ThreadPool fresh(n_threads); }
    {
      ThreadPool spinning(n_threads);
      expect_each_task_once(spinning, 10);
    }
    {
      ThreadPool asleep(n_threads);
      expect_each_task_once(asleep, 10);
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  SUCCEED();
}

// The CPUs this test may pin to, and whether pinning works here at all (a container may
// forbid it; then the pool must still work, unpinned).
struct PinEnv {
  std::vector<int> allowed;
  bool can_pin = false;
};
PinEnv pin_env() {
  PinEnv e;
  e.allowed = current_thread_cpus();
  e.can_pin = !e.allowed.empty() && pin_current_thread(e.allowed);
  return e;
}

// Restores the test thread's affinity when a test pinned it.
struct RestoreAffinity {
  std::vector<int> saved = current_thread_cpus();
  ~RestoreAffinity() { pin_current_thread(saved); }
};

// Runs one task per thread, all waiting for each other, and returns each thread's affinity.
std::vector<std::vector<int>> affinity_by_thread(ThreadPool& pool) {
  const int n = pool.n_threads();
  std::vector<std::vector<int>> out(n);
  std::atomic<int> arrived{0};
  pool.run(n, [&](int64_t, int thread) {
    out[thread] = current_thread_cpus();
    arrived.fetch_add(1);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (arrived.load() < n && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
  });
  return out;
}

TEST(ThreadPoolPinning, PinnedPoolRunsEveryTaskOnceAndAffinityReadsBack) {
  RestoreAffinity restore;
  const PinEnv env = pin_env();
  ASSERT_FALSE(env.allowed.empty());
  for (int n_threads = 1; n_threads <= 4; ++n_threads) {
    ThreadPoolOptions o;
    // One CPU each, wrapping round the allowed CPUs (4 threads on this 2-core box share).
    for (int t = 0; t < n_threads; ++t) o.cpus.push_back({env.allowed[t % env.allowed.size()]});
    o.pin_caller = true;
    ThreadPool pool(n_threads, o);
    for (int64_t n_tasks : {0, 1, 2, 7, 64, 1000}) expect_each_task_once(pool, n_tasks);
    for (int job = 0; job < 300; ++job) expect_each_task_once(pool, job % 9);
    const auto got = affinity_by_thread(pool);
    if (!env.can_pin) continue;  // the pool ran unpinned, which is all we can ask here
    for (int t = 0; t < n_threads; ++t) EXPECT_EQ(got[t], o.cpus[t]) << "thread " << t << " of " << n_threads;
    EXPECT_EQ(current_thread_cpus(), o.cpus[0]);  // the caller too (pin_caller)
  }
}

TEST(ThreadPoolPinning, CpuSetsAndPartialListsAsAsked) {
  RestoreAffinity restore;
  const PinEnv env = pin_env();
  if (!env.can_pin) GTEST_SKIP() << "this process may not set thread affinity";
  ThreadPoolOptions o;
  o.cpus = {{}, env.allowed};  // thread 0: left alone; thread 1: the whole set; thread 2: not listed
  ThreadPool pool(3, o);
  const auto got = affinity_by_thread(pool);
  EXPECT_EQ(got[0], env.allowed);
  EXPECT_EQ(got[1], env.allowed);
  EXPECT_EQ(got[2], env.allowed);  // inherited from the creating thread, untouched
}

TEST(ThreadPoolPinning, CallerIsPinnedOnlyWhenAsked) {
  RestoreAffinity restore;
  const PinEnv env = pin_env();
  if (!env.can_pin || env.allowed.size() < 2) GTEST_SKIP() << "needs 2 CPUs this process may pin to";
  const std::vector<int> last = {env.allowed.back()};
  {
    ThreadPoolOptions o;
    o.cpus = {last, last};
    ThreadPool pool(2, o);  // pin_caller off: a server thread driving the pool stays free
    expect_each_task_once(pool, 10);
    EXPECT_EQ(current_thread_cpus(), env.allowed);
    EXPECT_EQ(affinity_by_thread(pool)[1], last);
  }
  {
    ThreadPoolOptions o;
    o.cpus = {last, last};
    o.pin_caller = true;
    ThreadPool pool(2, o);
    EXPECT_EQ(current_thread_cpus(), env.allowed) << "pinned before the first run()";
    expect_each_task_once(pool, 10);
    EXPECT_EQ(current_thread_cpus(), last);
    // Another thread driving the pool is pinned at its first run() as well.
    std::vector<int> other;
    std::thread([&] {
      pin_current_thread(env.allowed);
      expect_each_task_once(pool, 10);
      other = current_thread_cpus();
    }).join();
    EXPECT_EQ(other, last);
  }
}

TEST(ThreadPoolPinning, PollZeroSleepsAtOnceAndStillWakes) {
  for (int poll : {0, 1, 100}) {
    ThreadPoolOptions o;
    o.poll = poll;
    ThreadPool pool(3, o);
    for (int job = 0; job < 500; ++job) expect_each_task_once(pool, 1 + job % 11);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    expect_each_task_once(pool, 50);
  }
}

TEST(ThreadPoolPinning, ImpossibleCpuOnlyWarns) {
  // CPU 4000 does not exist: the kernel refuses, the pool warns once and runs unpinned.
  RestoreAffinity restore;
  const std::vector<int> before = current_thread_cpus();
  ThreadPoolOptions o;
  o.cpus = {{4000}, {4000}, {4000}};
  o.pin_caller = true;
  ThreadPool pool(3, o);
  for (int job = 0; job < 20; ++job) expect_each_task_once(pool, 17);
  EXPECT_EQ(current_thread_cpus(), before);
}

}  // namespace
}  // namespace deepcpu
