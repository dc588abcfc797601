// gemm throughput per ISA table against the scalar one, for a 4096 x 4096 weight matrix:
// m = 1 (GEMV: memory-bound, also reported as GB/s of weights streamed) and m = 16, 64,
// 512 (compute-bound). Prints the machine, then Google Benchmark's table, then each
// table's ratio to scalar measured in this same run.
//
//   build-kern/bench/kernels_bench [--threads=1] [--gemv_mib=1024] [benchmark flags]
//
// For m = 1 the weights rotate through --gemv_mib MiB of copies so the stream comes from
// DRAM rather than a large L3. Scalar runs fewer rows at large m (the GOPS stay per row).
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "kernels/kernels.h"
#include "runtime/thread_pool.h"

namespace {

using deepcpu::DType;
using deepcpu::ThreadPool;
namespace k = deepcpu::kernels;

constexpr int64_t kK = 4096, kRows = 4096;
int g_threads = 1;
int64_t g_gemv_mib = 1024;

struct Weights {
  size_t row_bytes = 0;
  std::vector<uint8_t> bytes;  // n_copies matrices back to back
  int64_t n_copies = 1;
};

// One random weight matrix per type, quantized/converted by the scalar table, repeated
// n_copies times (memcpy; the contents do not matter for speed).
const Weights& weights(DType type, bool many_copies) {
  static std::map<std::pair<DType, bool>, Weights> cache;
  auto it = cache.find({type, many_copies});
  if (it != cache.end()) return it->second;
  k::Table ref;
  k::make_table(k::Isa::kScalar, &ref);
  Weights w;
  w.row_bytes = deepcpu::row_bytes(type, kK);
  const size_t matrix_bytes = w.row_bytes * kRows;
  w.n_copies = many_copies ? std::max<int64_t>(1, (g_gemv_mib << 20) / static_cast<int64_t>(matrix_bytes)) : 1;
  w.bytes.resize(matrix_bytes * w.n_copies);
  std::mt19937 rng(1);
  std::normal_distribution<float> dist;
  std::vector<float> row(kK);
  for (int64_t r = 0; r < kRows; ++r) {
    for (auto& x : row) x = dist(rng);
    uint8_t* dst = w.bytes.data() + r * w.row_bytes;
    if (type == DType::kF32)
      std::memcpy(dst, row.data(), w.row_bytes);
    else
      ref.matmul(type)->convert_row(row.data(), dst, kK);
  }
  for (int64_t c = 1; c < w.n_copies; ++c) std::memcpy(w.bytes.data() + c * matrix_bytes, w.bytes.data(), matrix_bytes);
  return cache.emplace(std::make_pair(type, many_copies), std::move(w)).first->second;
}

ThreadPool& pool() {
  static ThreadPool p(g_threads);
  return p;
}

void BM_gemm(benchmark::State& state, k::Isa isa, DType type) {
  const int64_t m = state.range(0);
  k::Table t;
  if (!k::make_table(isa, &t)) {
    state.SkipWithError("this CPU cannot run this ISA");
    return;
  }
  const k::MatmulKernels& mk = *t.matmul(type);
  // Scalar at large m would take seconds per call: it runs a slice of the rows.
  const int64_t rows = (isa == k::Isa::kScalar && m > 1) ? std::max<int64_t>(64, kRows * 4 / m) : kRows;
  const Weights& w = weights(type, m == 1);
  const size_t matrix_bytes = w.row_bytes * kRows;

  std::vector<float> x(static_cast<size_t>(m * kK));
  std::mt19937 rng(2);
  std::normal_distribution<float> dist;
  for (auto& v : x) v = dist(rng);
  std::vector<uint8_t> a(w.row_bytes * m);
  for (int64_t it = 0; it < m; ++it) mk.convert_row(x.data() + it * kK, a.data() + it * w.row_bytes, kK);
  std::vector<float> c(static_cast<size_t>(m * kRows));

  int64_t copy = 0;
  const int64_t rows_per_task = 16;
  for (auto _ : state) {
    const uint8_t* wm = w.bytes.data() + copy * matrix_bytes;
    copy = (copy + 1) % w.n_copies;
    pool().parallel_for(rows, rows_per_task, [&](int64_t r0, int64_t r1, int) {
      mk.gemm(wm, w.row_bytes, a.data(), w.row_bytes, kK, r0, r1, m, c.data(), kRows);
    });
    benchmark::DoNotOptimize(c.data());
    benchmark::ClobberMemory();
  }
  const double ops = 2.0 * static_cast<double>(rows) * kK * m;
  state.counters["GOPS"] = benchmark::Counter(ops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["weight_GBs"] =
      benchmark::Counter(static_cast<double>(rows) * w.row_bytes * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(std::string(k::isa_name(isa)) + "/" + std::string(deepcpu::dtype_name(type)) +
                 " rows=" + std::to_string(rows));
}

// Collects GOPS per (type, m, isa) to print ratios to scalar after the run.
class RatioReporter : public benchmark::ConsoleReporter {
 public:
  struct Key {
    std::string type;
    int64_t m;
    bool operator<(const Key& o) const { return type != o.type ? type < o.type : m < o.m; }
  };
  std::map<Key, std::map<std::string, std::pair<double, double>>> gops;  // isa -> (GOPS, GB/s)

  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& r : runs) {
      if (r.error_occurred || r.run_type != Run::RT_Iteration) continue;
      // Name: gemm/<type>/<isa>/<m>[/...]; keep the first repetition's aggregate-free run.
      const std::string name = r.benchmark_name();
      std::vector<std::string> parts;
      size_t b = 0;
      for (size_t e; (e = name.find('/', b)) != std::string::npos; b = e + 1) parts.push_back(name.substr(b, e - b));
      parts.push_back(name.substr(b));
      if (parts.size() < 4) continue;
      const auto g = r.counters.find("GOPS"), bw = r.counters.find("weight_GBs");
      if (g == r.counters.end() || bw == r.counters.end()) continue;
      const std::string m = parts[3].substr(parts[3].find(':') + 1);  // "m:16"
      gops[{parts[1], std::stoll(m)}][parts[2]] = {g->second.value, bw->second.value};
    }
  }

  void PrintRatios() const {
    std::printf("\nratio to scalar (same run), threads=%d\n%-6s %5s %-8s %10s %10s %8s\n", g_threads, "type", "m",
                "isa", "GOPS", "GB/s", "x scalar");
    for (const auto& [key, by_isa] : gops) {
      const auto s = by_isa.find("scalar");
      for (const auto& [isa, v] : by_isa) {
        const double ratio = s != by_isa.end() && s->second.first > 0 ? v.first / s->second.first : 0.0;
        std::printf("%-6s %5lld %-8s %10.2f %10.2f %8.2f\n", key.type.c_str(), static_cast<long long>(key.m),
                    isa.c_str(), v.first, v.second, ratio);
      }
    }
  }
};

}  // namespace

int main(int argc, char** argv) {
  // Our own flags first; the rest go to Google Benchmark.
  std::vector<char*> rest;
  for (int i = 0; i < argc; ++i) {
    if (std::strncmp(argv[i], "--threads=", 10) == 0)
      g_threads = std::max(1, std::atoi(argv[i] + 10));
    else if (std::strncmp(argv[i], "--gemv_mib=", 11) == 0)
      g_gemv_mib = std::max(1, std::atoi(argv[i] + 11));
    else
      rest.push_back(argv[i]);
  }
  int n_rest = static_cast<int>(rest.size());

  std::printf("cpu features: %s\nbest table: %s, threads: %d, k=%lld rows=%lld, gemv weights rotate over %lld MiB\n",
              k::cpu_features_string().c_str(), k::isa_name(k::table().isa), g_threads,
              static_cast<long long>(kK), static_cast<long long>(kRows), static_cast<long long>(g_gemv_mib));
  std::string cmd;
  for (int i = 0; i < argc; ++i) cmd += std::string(i ? " " : "") + argv[i];
  std::printf("command: %s\n", cmd.c_str());

  for (DType type : {DType::kQ8_0, DType::kF16, DType::kBF16, DType::kF32}) {
    for (k::Isa isa : {k::Isa::kScalar, k::Isa::kAvx2, k::Isa::kAvx512, k::Isa::kNeon, k::Isa::kSve}) {
      k::Table probe;
      if (!k::make_table(isa, &probe)) continue;
      const std::string name =
          std::string("gemm/") + std::string(deepcpu::dtype_name(type)) + "/" + k::isa_name(isa);
      auto* b = benchmark::RegisterBenchmark(name.c_str(), BM_gemm, isa, type);
      b->ArgName("m")->Unit(benchmark::kMillisecond)->UseRealTime();
      for (int64_t m : {1, 16, 64, 512}) b->Arg(m);
    }
  }
  benchmark::Initialize(&n_rest, rest.data());
  RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  reporter.PrintRatios();
  benchmark::Shutdown();
  return 0;
}
