// Packed vs unpacked Q8_0 gemm of the best table, measured in one run, alternating them
// so machine noise hits all alike (where the best table is AMX, the avx512 table's VNNI
// packed gemm is a third column, "vnni", and the ratio column is vnni / packed time): GEMV (m = 1, and m = 2, 4 with --m; weights rotating through
// --gemv_mib MiB of copies so they stream from DRAM) as GB/s of weights, GEMM as GOPS,
// for 4096x4096 and DeepSeek-R1's expert shapes (gate/up: 2048 rows x k 7168, down:
// 7168 rows x k 2048). Times are medians over --reps runs of CPU time of the process
// (threads busy-spinning in the pool count too, so with --threads=2 wall time is also
// shown). Plain executable (no Google Benchmark needed):
//
//   build-pack/bench/packed_bench [--threads=1] [--reps=7] [--gemv_mib=512] [--m=1]
//
// --m=N runs only m = N (any N >= 1; by default 1, 16, 64 and 512).
// DEEPCPU_NO_AMX=1 in the environment drops the AMX table (then there is no vnni column).
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "bench_util.h"
#include "kernels/kernels.h"
#include "runtime/huge_alloc.h"
#include "runtime/thread_pool.h"

using bench::median;
using bench::now;

namespace {

using deepcpu::ThreadPool;
namespace k = deepcpu::kernels;

struct Shape {
  const char* name;
  int64_t rows, k;
};

}  // namespace

int main(int argc, char** argv) {
  int threads = 1, reps = 7;
  int64_t gemv_mib = 512, only_m = 0;
  for (int i = 1; i < argc; ++i) {
    if (!std::strncmp(argv[i], "--threads=", 10)) threads = std::max(1, std::atoi(argv[i] + 10));
    if (!std::strncmp(argv[i], "--reps=", 7)) reps = std::max(1, std::atoi(argv[i] + 7));
    if (!std::strncmp(argv[i], "--gemv_mib=", 11)) gemv_mib = std::max(1, std::atoi(argv[i] + 11));
    if (!std::strncmp(argv[i], "--m=", 4)) only_m = std::atoi(argv[i] + 4);
  }
  const k::Table& t = k::table();
  const k::MatmulKernels& q8 = t.q8_0;
  k::Table vnni_table;
  const bool with_vnni = t.isa == k::Isa::kAmx && k::make_table(k::Isa::kAvx512, &vnni_table);
  std::printf("table %s, threads %d, reps %d (median), gemv rotates over %lld MiB, THP: %s\n", k::isa_name(t.isa),
              threads, reps, static_cast<long long>(gemv_mib), deepcpu::thp_mode().c_str());
  if (q8.gemm_packed == nullptr) {
    std::printf("no packed kernels in this table\n");
    return 0;
  }
  ThreadPool pool(threads);
  const Shape shapes[] = {{"4096x4096", 4096, 4096}, {"r1 gate/up 2048x7168", 2048, 7168}, {"r1 down 7168x2048", 7168, 2048}};
  std::printf("%-22s %4s %12s %12s %12s %12s %7s%s   (cpu-time based; wall in [])\n", "shape", "m", "plain",
              "packed", "plain wall", "packed wall", "ratio", with_vnni ? "         vnni  vnni wall  amx/vnni" : "");
  for (const Shape& s : shapes) {
    const size_t rb = deepcpu::row_bytes(deepcpu::DType::kQ8_0, s.k);
    const size_t plain_bytes = rb * s.rows, packed_bytes = q8.packed_bytes(s.rows, s.k);
    std::mt19937 rng(1);
    std::normal_distribution<float> dist;
    std::vector<float> x(s.k);
    std::vector<uint8_t> one(plain_bytes);
    for (int64_t r = 0; r < s.rows; ++r) {
      for (auto& v : x) v = dist(rng);
      q8.convert_row(x.data(), one.data() + r * rb, s.k);
    }
    std::vector<int64_t> ms = {1, 16, 64, 512};
    if (only_m > 0) ms = {only_m};
    for (int64_t m : ms) {
      const int64_t copies = m <= 4 ? std::max<int64_t>(1, (gemv_mib << 20) / static_cast<int64_t>(plain_bytes)) : 1;
      deepcpu::HugeBuffer plain(plain_bytes * copies), packed(packed_bytes * copies);
      for (int64_t c = 0; c < copies; ++c) {
        std::memcpy(plain.data() + c * plain_bytes, one.data(), plain_bytes);
        q8.pack_rows(one.data(), rb, s.rows, s.k, packed.data() + c * packed_bytes);
      }
      std::vector<uint8_t> a(rb * m);
      for (int64_t it = 0; it < m; ++it) {
        for (auto& v : x) v = dist(rng);
        q8.convert_row(x.data(), a.data() + it * rb, s.k);
      }
      std::vector<float> c(static_cast<size_t>(m * s.rows));
      // Calls per timed run: enough for ~20 ms.
      const double work = double(s.rows) * s.k * m;
      const int calls = static_cast<int>(std::clamp(4e9 / std::max(work, 1.0) / (m <= 4 ? 20 : 1), 1.0, 2000.0));
      const int n_runs = with_vnni ? 3 : 2;
      std::vector<double> cpu[3], wall[3];
      int64_t copy = 0;
      for (int rep = 0; rep < reps + 1; ++rep) {
        for (int variant = 0; variant < n_runs; ++variant) {
          const int packed_run = variant > 0;
          const k::MatmulKernels& pk = variant == 2 ? vnni_table.q8_0 : q8;
          const double c0 = now(CLOCK_PROCESS_CPUTIME_ID), w0 = now(CLOCK_MONOTONIC);
          for (int call = 0; call < calls; ++call) {
            const int64_t cp = copy++ % copies;
            if (packed_run) {
              const uint8_t* wp = packed.data() + cp * packed_bytes;
              const int64_t groups = (s.rows + k::kPackRows - 1) / k::kPackRows;
              pool.parallel_for(groups, 1, [&](int64_t g0, int64_t g1, int) {
                pk.gemm_packed(wp, s.k, a.data(), rb, g0 * k::kPackRows, std::min(s.rows, g1 * k::kPackRows), m,
                               c.data(), s.rows);
              });
            } else {
              const uint8_t* wm = plain.data() + cp * plain_bytes;
              pool.parallel_for(s.rows, 16, [&](int64_t r0, int64_t r1, int) {
                q8.gemm(wm, rb, a.data(), rb, s.k, r0, r1, m, c.data(), s.rows);
              });
            }
          }
          const double dc = now(CLOCK_PROCESS_CPUTIME_ID) - c0, dw = now(CLOCK_MONOTONIC) - w0;
          if (rep > 0) {  // the first round warms up
            cpu[variant].push_back(dc / calls);
            wall[variant].push_back(dw / calls);
          }
        }
      }
      // GEMV: GB/s of weights per core-second x threads (= per wall second when busy);
      // GEMM: GOPS likewise.
      auto rate = [&](double sec, bool packed_run) {
        if (m <= 4) return (packed_run ? double(packed_bytes) : double(plain_bytes)) / sec * 1e-9;
        return 2.0 * work / sec * 1e-9;
      };
      const double pc = median(cpu[0]), kc = median(cpu[1]), pw = median(wall[0]), kw = median(wall[1]);
      std::printf("%-22s %4lld %9.2f %s %9.2f %s [%7.2f] [%7.2f] %6.2fx", s.name, static_cast<long long>(m),
                  rate(pc / threads, false), m <= 4 ? "GB/s" : "GOPS", rate(kc / threads, true),
                  m <= 4 ? "GB/s" : "GOPS", rate(pw, false), rate(kw, true), pc / kc);
      if (with_vnni) {
        const double vc = median(cpu[2]), vw = median(wall[2]);
        std::printf(" %9.2f %s [%7.2f] %6.2fx", rate(vc / threads, true), m <= 4 ? "GB/s" : "GOPS", rate(vw, true),
                    vc / kc);
      }
      std::printf("\n");
      std::fflush(stdout);
    }
  }
  return 0;
}
