// What one ThreadPool job costs with nothing to do: dispatch + join (the barrier every op
// of the forward pays), for 1, 2 and all-core pools, unpinned and pinned one CPU per
// thread (pin_caller on, as Engine does), back-to-back (workers still spinning) and after
// a pause past the spin phase (workers asleep on the condvar: the wake path); plus a
// parallel_for over tiny chunks. Prints the machine and the command first.
//
//   build/bench/threadpool_bench --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
//
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "runtime/numa.h"
#include "runtime/thread_pool.h"

namespace {

using deepcpu::ThreadPool;
using deepcpu::ThreadPoolOptions;

// The bench's own affinity at start-up, restored after every pinned run so that unpinned
// ones that follow are not confined to one CPU.
std::vector<int> g_allowed;
std::vector<int> g_sizes;  // pool sizes: 1, 2, all CPUs

void args(benchmark::internal::Benchmark* b) {
  b->ArgNames({"threads", "pinned"});
  for (int n : g_sizes)
    for (int pinned : {0, 1}) b->Args({n, pinned});
}

ThreadPoolOptions options(int n_threads, bool pinned) {
  ThreadPoolOptions o;
  if (pinned) {
    for (int t = 0; t < n_threads; ++t) o.cpus.push_back({g_allowed[t % g_allowed.size()]});
    o.pin_caller = true;
  }
  return o;
}

// A job of n_threads empty tasks: every thread (if it is awake in time) takes one.
void BM_dispatch(benchmark::State& state) {
  const int n_threads = static_cast<int>(state.range(0));
  const bool pinned = state.range(1) != 0;
  {
    ThreadPool pool(n_threads, options(n_threads, pinned));
    auto noop = [&](int64_t task, int) { benchmark::DoNotOptimize(task); };
    pool.run(n_threads, noop);  // pins the caller, wakes the workers
    for (auto _ : state) pool.run(n_threads, noop);
  }
  deepcpu::pin_current_thread(g_allowed);
}

// Same job after sleeping 2 ms (the workers spin ~50-100 us, then sleep): the wake path.
// Manual time: only the run() is measured, not the sleep.
void BM_dispatch_after_pause(benchmark::State& state) {
  const int n_threads = static_cast<int>(state.range(0));
  const bool pinned = state.range(1) != 0;
  {
    ThreadPool pool(n_threads, options(n_threads, pinned));
    auto noop = [&](int64_t task, int) { benchmark::DoNotOptimize(task); };
    pool.run(n_threads, noop);
    for (auto _ : state) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
      const auto t0 = std::chrono::steady_clock::now();
      pool.run(n_threads, noop);
      const auto t1 = std::chrono::steady_clock::now();
      state.SetIterationTime(std::chrono::duration<double>(t1 - t0).count());
    }
  }
  deepcpu::pin_current_thread(g_allowed);
}

// parallel_for over 64 elements per thread in chunks of >= 1, each element a few adds:
// the shape of a small elementwise op in decode.
void BM_parallel_for_tiny(benchmark::State& state) {
  const int n_threads = static_cast<int>(state.range(0));
  const bool pinned = state.range(1) != 0;
  {
    ThreadPool pool(n_threads, options(n_threads, pinned));
    const int64_t n = 64 * n_threads;
    std::vector<float> x(static_cast<size_t>(n), 1.0f), y(static_cast<size_t>(n), 0.0f);
    const std::function<void(int64_t, int64_t, int)> fn = [&](int64_t b, int64_t e, int) {
      for (int64_t i = b; i < e; ++i) y[i] = y[i] * 0.5f + x[i];
    };
    pool.parallel_for(n, 1, fn);
    for (auto _ : state) {
      pool.parallel_for(n, 1, fn);
      benchmark::ClobberMemory();
    }
    benchmark::DoNotOptimize(y.data());
  }
  deepcpu::pin_current_thread(g_allowed);
}

}  // namespace

int main(int argc, char** argv) {
  g_allowed = deepcpu::current_thread_cpus();
  if (g_allowed.empty()) g_allowed = {0};
  const int n_all = static_cast<int>(g_allowed.size());
  const deepcpu::CpuTopology& topo = deepcpu::system_topology();
  std::printf("machine: %u hardware threads, this process may use CPUs %s, NUMA nodes with CPUs: %d\n",
              std::thread::hardware_concurrency(), deepcpu::format_cpu_list(g_allowed).c_str(),
              topo.n_nodes_with_cpus());
  std::string cmd;
  for (int i = 0; i < argc; ++i) cmd += std::string(i ? " " : "") + argv[i];
  std::printf("command: %s\n", cmd.c_str());
  if (!deepcpu::pin_current_thread(g_allowed)) std::printf("note: thread affinity cannot be set here; 'pinned' runs are unpinned\n");

  g_sizes = {1, 2};
  if (n_all > 2) g_sizes.push_back(n_all);
  benchmark::RegisterBenchmark("dispatch_back_to_back", BM_dispatch)->Apply(args)->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark("dispatch_after_pause", BM_dispatch_after_pause)
      ->Apply(args)
      ->UseManualTime()
      ->Iterations(200)
      ->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark("parallel_for_tiny", BM_parallel_for_tiny)->Apply(args)->Unit(benchmark::kMicrosecond);

  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
