// deepcpu bench: llama.cpp's llama-bench pp/tg tests (t/s as mean ± sd over -r runs)
// with two columns llama-bench lacks: the read bandwidth measured by a STREAM-like probe
// at start (runtime/bandwidth.h) and, for tg rows, tg as a share of the roofline
// bandwidth / weight bytes read per token (engine/weight_traffic.h).
// `deepcpu bench bandwidth` runs only the probe, for 1..t threads.
#include <fmt/format.h>
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "bench_common.h"
#include "cli_common.h"
#include "commands.h"
#include "engine/engine.h"
#include "engine/weight_traffic.h"
#include "kernels/kernels.h"
#include "runtime/bandwidth.h"

namespace deepcpu::tools {

namespace {



std::string machine_line() {
  const MachineInfo mi = machine_info();
  return fmt::format("{}, {} CPUs, {} NUMA node(s), LLC {:.0f} MiB, load average {:.1f}; kernels {} ({})", mi.cpu_model,
                     mi.n_cpus, mi.n_numa_nodes, mi.llc_bytes / 1048576.0, mi.load_avg_1m,
                     kernels::isa_name(kernels::table().isa), kernels::cpu_features_string());
}

int default_threads() { return static_cast<int>(std::max(1u, std::thread::hardware_concurrency())); }

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// "1.6B" / "260K": llama-bench's size label from the parameter count.
std::string params_label(int64_t n) {
  if (n >= 1000000000) return fmt::format("{:.1f}B", n / 1e9);
  if (n >= 1000000) return fmt::format("{:.0f}M", n / 1e6);
  return fmt::format("{:.0f}K", n / 1e3);
}

// The type holding most of the weight bytes ("Q8_0"), as llama-bench names a model's ftype.
std::string main_type(const gguf::Model& file) {
  std::map<std::string, size_t> bytes;
  for (const gguf::TensorInfo* t : file.tensors()) bytes[std::string(dtype_name(t->type))] += t->size_bytes;
  std::string best = "?";
  size_t most = 0;
  for (const auto& [name, b] : bytes) {
    if (b > most) most = b, best = name;
  }
  std::transform(best.begin(), best.end(), best.begin(), ::toupper);
  return best;
}

struct Sample {
  std::vector<double> ts;  // tokens per second, one per run
  double mean() const {
    double s = 0;
    for (double v : ts) s += v;
    return ts.empty() ? 0 : s / ts.size();
  }
  double sd() const {  // sample standard deviation, as llama-bench
    if (ts.size() < 2) return 0;
    const double m = mean();
    double s = 0;
    for (double v : ts) s += (v - m) * (v - m);
    return std::sqrt(s / (ts.size() - 1));
  }
};

// llama-bench's test_prompt: n_prompt random tokens in n_batch-sized decode() calls.
Status run_prompt(Engine& engine, int n_prompt, int n_batch, std::mt19937& rng) {
  std::uniform_int_distribution<int> token(0, engine.n_vocab() - 1);
  std::vector<float> logits;
  Batch batch;
  for (int b0 = 0; b0 < n_prompt; b0 += n_batch) {
    const int b1 = std::min(n_prompt, b0 + n_batch);
    batch.clear();
    for (int i = b0; i < b1; ++i) batch.add(token(rng), i, 0, i == n_prompt - 1);
    if (Status st = engine.decode(batch, &logits); !st) return st;
  }
  return Status::ok();
}

// llama-bench's test_gen: n_gen single-token decode() calls (random tokens: sampling is not timed).
Status run_gen(Engine& engine, int start_pos, int n_gen, std::mt19937& rng) {
  std::uniform_int_distribution<int> token(0, engine.n_vocab() - 1);
  std::vector<float> logits;
  Batch batch;
  for (int i = 0; i < n_gen; ++i) {
    batch.clear();
    batch.add(token(rng), start_pos + i, 0, true);
    if (Status st = engine.decode(batch, &logits); !st) return st;
  }
  return Status::ok();
}

int cmd_bench_bandwidth(int argc, char** argv) {
  int threads = default_threads();
  int runs = 5;
  size_t size_mib = 0;
  CLI::App app{"Measure the read bandwidth (STREAM-like, read-only) for 1..t threads."};
  app.name("deepcpu bench bandwidth");
  app.add_option("-t,--threads", threads, "most threads; the probe runs for 1..t")->capture_default_str();
  app.add_option("-r,--repetitions", runs, "timed passes per thread count")->capture_default_str();
  app.add_option("--size-mib", size_mib, "buffer size in MiB (0: max(1 GiB, 4 x LLC))")->capture_default_str();
  if (int rc = parse_args(app, argc, argv); rc >= 0) return rc;
  if (threads < 1) return fail("bench bandwidth", fmt::format("-t {}: need at least one thread", threads));
  if (runs < 1) return fail("bench bandwidth", fmt::format("-r {}: need at least one pass", runs));

  // argv[-1] is "bench": cmd_bench handed us its argv from "bandwidth" on.
  std::printf("command: %s\nmachine: %s\n", command_line(argc + 1, argv - 1).c_str(), machine_line().c_str());
  std::printf(
      "probe: each thread sums its own slice of one anonymous buffer (THP requested); best and median of %d "
      "passes\n\n",
      runs);
  std::printf(
      "| threads | buffer MiB | best GB/s | median GB/s |\n|-------: | ---------: | --------: | ----------: |\n");
  for (int t = 1; t <= threads; ++t) {
    const BandwidthResult r = measure_read_bandwidth({t, size_mib << 20, runs});
    if (r.best_gbs <= 0)
      return fail("bench bandwidth", fmt::format("could not map a {} MiB buffer", r.buffer_bytes >> 20));
    std::printf("| %7d | %10zu | %9.2f | %11.2f |\n", t, r.buffer_bytes >> 20, r.best_gbs, r.median_gbs);
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace

int cmd_bench(int argc, char** argv) {
  if (argc >= 2 && std::string(argv[1]) == "bandwidth") return cmd_bench_bandwidth(argc - 1, argv + 1);
  const auto t_start = std::chrono::steady_clock::now();

  EngineFlags ef;
  std::string n_prompt_list = "512", n_gen_list = "128", threads_list = std::to_string(default_threads());
  std::string fa_list = "0", output = "md";
  int repetitions = 5;
  size_t bw_size_mib = 0;
  CLI::App app{
      "Benchmark prompt processing (pp) and token generation (tg) like llama-bench, plus the machine's read\n"
      "bandwidth and tg as a percentage of the bandwidth roofline. `deepcpu bench bandwidth` runs only the probe."};
  app.name("deepcpu bench");
  add_engine_flags(app, ef, EngineFlagSet{.threads = false, .ctx = false, .batch = true, .cache_types = true});
  app.add_option("-p,--n-prompt", n_prompt_list, "prompt lengths of the pp tests, comma-separated (0: none)")
      ->capture_default_str();
  app.add_option("-n,--n-gen", n_gen_list, "token counts of the tg tests, comma-separated (0: none)")
      ->capture_default_str();
  app.add_option("-t,--threads", threads_list, "thread counts, comma-separated")->capture_default_str();
  app.add_option("--flash-attn", fa_list, "(-fa) flash attention 0/1, comma-separated")->capture_default_str();
  app.add_option("-r,--repetitions", repetitions, "runs per test")->capture_default_str();
  app.add_option("-o,--output", output, "md, json or jsonl")
      ->check(CLI::IsMember({"md", "json", "jsonl"}))
      ->capture_default_str();
  app.add_option("--bw-size-mib", bw_size_mib, "bandwidth probe buffer in MiB (0: max(1 GiB, 4 x LLC))")
      ->capture_default_str();
  if (int rc = parse_args(app, argc, argv); rc >= 0) return rc;

  auto n_prompts = parse_int_list(n_prompt_list, "-p", 0);
  if (!n_prompts) return fail("bench", n_prompts.status().message());
  auto n_gens = parse_int_list(n_gen_list, "-n", 0);
  if (!n_gens) return fail("bench", n_gens.status().message());
  auto threads = parse_int_list(threads_list, "-t", 1);
  if (!threads) return fail("bench", threads.status().message());
  auto fas = parse_int_list(fa_list, "-fa", 0);
  if (!fas) return fail("bench", fas.status().message());
  for (int v : *fas)
    if (v > 1) return fail("bench", fmt::format("-fa '{}': use 0 or 1", fa_list));
  if (repetitions < 1) return fail("bench", fmt::format("-r {}: need at least one run", repetitions));
  ef.threads = threads->front();
  auto base_options = engine_options(ef);
  if (!base_options) return fail("bench", base_options.status().message());
  int max_tokens = 1;
  for (int v : *n_prompts) max_tokens = std::max(max_tokens, v);
  for (int v : *n_gens) max_tokens = std::max(max_tokens, v);
  base_options->n_ctx = max_tokens;  // llama-bench sizes the context to the longest test

  const bool md = output == "md";
  FILE* head = md ? stdout : stderr;
  std::fprintf(head, "command: %s\nmachine: %s\n", command_line(argc, argv).c_str(), machine_line().c_str());

  // The probe first, before the model takes memory, once per thread count.
  std::map<int, BandwidthResult> bandwidth;
  for (int t : *threads) {
    if (bandwidth.count(t)) continue;
    bandwidth[t] = measure_read_bandwidth({t, bw_size_mib << 20, 5});
    std::fprintf(head, "read bandwidth, %d thread(s): %.2f GB/s (best of 5 passes over %zu MiB; median %.2f)\n", t,
                 bandwidth[t].best_gbs, bandwidth[t].buffer_bytes >> 20, bandwidth[t].median_gbs);
  }

  nlohmann::json rows = nlohmann::json::array();
  bool header_printed = false;
  std::mt19937 rng(1234);
  for (int t : *threads) {
    for (int fa : *fas) {
      EngineOptions o = *base_options;
      o.n_threads = t;
      o.flash_attn = fa != 0;
      auto loaded = load_engine(o, false);
      if (!loaded) return fail("bench", loaded.status().message());
      Engine& engine = **loaded;
      engine.wait_warm();
      const ModelSummary& sm = engine.summary();
      auto traffic = weight_traffic(engine.gguf_file());
      if (!traffic) return fail("bench", traffic.status().message());
      const double bytes_per_token = static_cast<double>(traffic->bytes_per_token());
      const std::string model_label =
          fmt::format("{} {} {}", sm.arch, params_label(sm.n_params), main_type(engine.gguf_file()));
      const double bw = bandwidth[t].best_gbs;
      const double roofline_ts = bytes_per_token > 0 ? bw * 1e9 / bytes_per_token : 0;

      if (!header_printed) {
        header_printed = true;
        std::fprintf(head, "model: %s (%s '%s', %.2f M params, %.1f MiB of weights)\n", o.model_path.c_str(),
                     sm.arch.c_str(), sm.name.c_str(), sm.n_params / 1e6, sm.weight_bytes / 1048576.0);
        if (traffic->n_expert > 0) {
          std::fprintf(head,
                       "weights read per generated token: %.1f MB = %.1f MB dense/shared + %.1f MB routed experts "
                       "(%d of %d) + one token_embd row%s\n",
                       bytes_per_token / 1e6, traffic->dense_bytes / 1e6, traffic->expert_bytes_per_token / 1e6,
                       traffic->n_expert_used, traffic->n_expert,
                       traffic->tied_embeddings ? " (tied output: whole)" : "");
        } else {
          std::fprintf(head,
                       "weights read per generated token: %.1f MB (all weights but token_embd, of which one row)\n",
                       bytes_per_token / 1e6);
        }
        std::fprintf(head,
                     "roofline t/s = read bandwidth / weight bytes per token (KV cache reads not counted)\n"
                     "fa: 1 runs the engine's flash (online-softmax) attention path, 0 the plain one\n\n");
        if (md) {
          std::printf("| %-30s | %10s | %10s | %-7s | %7s | %2s | %6s | %6s | %8s | %13s | %20s | %8s | %19s |\n",
                      "model", "size", "params", "backend", "threads", "fa", "type_k", "type_v", "n_ubatch", "test",
                      "t/s", "bw GB/s", "tg % of roofline");
          std::printf("| %-30s | %10s | %10s | %-7s | %7s | %2s | %6s | %6s | %8s | %13s | %20s | %8s | %19s |\n",
                      "------------------------------", "---------:", "---------:", "-------",
                      "------:", "-:", "------", "------",
                      "-------:", "------------:", "-------------------:", "-------:", "------------------:");
        }
      }

      struct Test {
        int n_prompt, n_gen;
      };
      std::vector<Test> tests;
      for (int p : *n_prompts)
        if (p > 0) tests.push_back({p, 0});
      for (int n : *n_gens)
        if (n > 0) tests.push_back({0, n});
      {
        for (const Test& test : tests) {
          auto clear = [&] { engine.truncate_sequence(0, 0); };
          // Warm-up run, as llama-bench: the prompt once, or one generated token.
          clear();
          Status st =
              test.n_prompt > 0 ? run_prompt(engine, test.n_prompt, o.n_batch, rng) : run_gen(engine, 0, 1, rng);
          if (!st) return fail("bench", fmt::format("warm-up: {}", st.message()));
          Sample sample;
          std::vector<double> samples_ns;
          for (int rep = 0; rep < repetitions; ++rep) {
            clear();
            const auto t0 = std::chrono::steady_clock::now();
            st = test.n_prompt > 0 ? run_prompt(engine, test.n_prompt, o.n_batch, rng)
                                   : run_gen(engine, 0, test.n_gen, rng);
            const double s = seconds_since(t0);
            if (!st) return fail("bench", st.message());
            samples_ns.push_back(s * 1e9);
            sample.ts.push_back((test.n_prompt + test.n_gen) / std::max(s, 1e-9));
          }
          clear();
          const std::string name =
              test.n_prompt > 0 ? fmt::format("pp{}", test.n_prompt) : fmt::format("tg{}", test.n_gen);
          const bool tg = test.n_gen > 0;
          const double pct = tg && roofline_ts > 0 ? 100.0 * sample.mean() / roofline_ts : 0;
          if (md) {
            const std::string ts = fmt::format("{:.2f} ± {:.2f}", sample.mean(), sample.sd());
            const std::string roof = tg ? fmt::format("{:.1f}% of {:.1f}", pct, roofline_ts) : "-";
            const std::string params = sm.n_params >= 1000000000 ? fmt::format("{:.2f} B", sm.n_params / 1e9)
                                                                 : fmt::format("{:.2f} M", sm.n_params / 1e6);
            std::printf(
                "| %-30s | %6.2f GiB | %10s | %-7s | %7d | %2d | %6s | %6s | %8d | %13s | %20s | %8.2f | %19s |\n",
                model_label.c_str(), sm.weight_bytes / 1073741824.0, params.c_str(), "CPU", t, fa,
                std::string(dtype_name(o.cache_type_k)).c_str(), std::string(dtype_name(o.cache_type_v)).c_str(),
                o.n_ubatch, name.c_str(), ts.c_str(), bw, roof.c_str());
            std::fflush(stdout);
          }
          nlohmann::json row = {{"model_filename", o.model_path},
                                {"model_type", model_label},
                                {"model_size", sm.weight_bytes},
                                {"model_n_params", sm.n_params},
                                {"backends", "CPU"},
                                {"cpu_info", machine_info().cpu_model},
                                {"isa", kernels::isa_name(kernels::table().isa)},
                                {"n_batch", o.n_batch},
                                {"n_ubatch", o.n_ubatch},
                                {"n_threads", t},
                                {"type_k", dtype_name(o.cache_type_k)},
                                {"type_v", dtype_name(o.cache_type_v)},
                                {"flash_attn", fa},
                                {"n_prompt", test.n_prompt},
                                {"n_gen", test.n_gen},
                                {"repetitions", repetitions},
                                {"avg_ts", sample.mean()},
                                {"stddev_ts", sample.sd()},
                                {"samples_ts", sample.ts},
                                {"samples_ns", samples_ns},
                                {"bandwidth_gbs", bw},
                                {"weight_bytes_per_token", traffic->bytes_per_token()},
                                {"roofline_ts", roofline_ts},
                                {"roofline_pct", tg ? nlohmann::json(pct) : nlohmann::json(nullptr)}};
          if (output == "jsonl") {
            std::printf("%s\n", row.dump().c_str());
            std::fflush(stdout);
          }
          rows.push_back(std::move(row));
        }
      }
    }
  }
  if (output == "json") std::printf("%s\n", rows.dump(2).c_str());
  // On a shared machine the wall-clock speeds above depend on how much CPU we were given.
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  const double cpu_s = ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
  const double wall_s = seconds_since(t_start);
  std::fprintf(head, "\nprocess CPU time %.1f s over %.1f s wall (largest -t %d); load average now %.1f\n", cpu_s,
               wall_s, *std::max_element(threads->begin(), threads->end()), machine_info().load_avg_1m);
  return 0;
}

}  // namespace deepcpu::tools
