// ThreadPool: every task runs exactly once on a valid thread, for 1..4 threads and many
// back-to-back jobs (the spin path) and jobs after a pause (the sleep/wake path);
// parallel_for covers [0, n) once in contiguous chunks; no allocation per call; the pool
// can be destroyed idle, asleep, or right after construction.
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

}  // namespace
}  // namespace deepcpu
