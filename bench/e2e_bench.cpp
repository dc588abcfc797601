// End to end through Engine, repack on vs off in the same process: load time, prefill
// (one ubatch of --pp tokens) and decode (--tg tokens one at a time) as CPU-ms and
// wall-ms per token, median over --reps runs, the two modes alternating.
//
//   build-pack/bench/e2e_bench -m /tmp/mini.gguf [-t 2] [--pp 128] [--tg 32] [--reps 3]
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "bench_util.h"
#include "engine/engine.h"

using bench::median;
using bench::now;

int main(int argc, char** argv) {
  std::string model = "/tmp/mini.gguf";
  int threads = 2, pp = 128, tg = 32, reps = 3;
  for (int i = 1; i + 1 < argc; ++i) {
    const std::string a = argv[i];
    if (a == "-m") model = argv[++i];
    else if (a == "-t") threads = std::atoi(argv[++i]);
    else if (a == "--pp") pp = std::atoi(argv[++i]);
    else if (a == "--tg") tg = std::atoi(argv[++i]);
    else if (a == "--reps") reps = std::atoi(argv[++i]);
  }
  struct Stats {
    std::vector<double> load_w, pp_c, pp_w, tg_c, tg_w;
  } st[2];
  for (int rep = 0; rep < reps; ++rep) {
    for (int repack = 0; repack < 2; ++repack) {
      deepcpu::EngineOptions o;
      o.model_path = model;
      o.n_threads = threads;
      o.n_ctx = pp + tg + 8;
      o.n_ubatch = std::max(pp, 1);
      o.repack = repack != 0;
      const double lw = now(CLOCK_MONOTONIC);
      auto e = deepcpu::Engine::load(o);
      if (!e) {
        std::fprintf(stderr, "load failed: %s\n", e.status().message().c_str());
        return 1;
      }
      st[repack].load_w.push_back(now(CLOCK_MONOTONIC) - lw);
      deepcpu::Engine& eng = *e.value();
      const int n_vocab = eng.n_vocab();
      deepcpu::Batch b;
      std::vector<float> logits;
      for (int i = 0; i < pp; ++i) b.add(static_cast<deepcpu::TokenId>((i * 7919 + 13) % n_vocab), i, 0, i == pp - 1);
      double c0 = now(CLOCK_PROCESS_CPUTIME_ID), w0 = now(CLOCK_MONOTONIC);
      if (!eng.decode(b, &logits)) return 1;
      st[repack].pp_c.push_back((now(CLOCK_PROCESS_CPUTIME_ID) - c0) * 1e3 / pp);
      st[repack].pp_w.push_back((now(CLOCK_MONOTONIC) - w0) * 1e3 / pp);
      c0 = now(CLOCK_PROCESS_CPUTIME_ID);
      w0 = now(CLOCK_MONOTONIC);
      for (int i = 0; i < tg; ++i) {
        b.clear();
        b.add(static_cast<deepcpu::TokenId>((i * 31 + 5) % n_vocab), pp + i, 0, true);
        if (!eng.decode(b, &logits)) return 1;
      }
      st[repack].tg_c.push_back((now(CLOCK_PROCESS_CPUTIME_ID) - c0) * 1e3 / tg);
      st[repack].tg_w.push_back((now(CLOCK_MONOTONIC) - w0) * 1e3 / tg);
    }
  }
  std::printf("%s, -t %d, pp %d, tg %d, median of %d (CPU ms/token counts every pool thread, spinning included)\n",
              model.c_str(), threads, pp, tg, reps);
  std::printf("%-10s %9s %12s %12s %12s %12s\n", "repack", "load s", "pp cpu-ms/t", "pp wall-ms/t", "tg cpu-ms/t",
              "tg wall-ms/t");
  for (int r = 0; r < 2; ++r) {
    std::printf("%-10s %9.2f %12.3f %12.3f %12.3f %12.3f\n", r ? "on" : "off", median(st[r].load_w),
                median(st[r].pp_c), median(st[r].pp_w), median(st[r].tg_c), median(st[r].tg_w));
  }
  std::printf("speedup (off/on): pp cpu %.2fx wall %.2fx, tg cpu %.2fx wall %.2fx\n",
              median(st[0].pp_c) / median(st[1].pp_c), median(st[0].pp_w) / median(st[1].pp_w),
              median(st[0].tg_c) / median(st[1].tg_c), median(st[0].tg_w) / median(st[1].tg_w));
  return 0;
}
