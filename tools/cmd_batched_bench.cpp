// deepcpu batched-bench: llama.cpp's llama-batched-bench, same flags, same table, same
// jsonl fields. For every (PP, TG, B): clear the cache, prefill B sequences of PP tokens
// (in -b sized decode() calls), then TG steps that each decode one token of every
// sequence in a single decode() call. The speeds are what the engine computed; this file
// only times decode() calls and prints.
#include "bench_common.h"
#include "cli_common.h"
#include "commands.h"
#include "engine/engine.h"
#include "kernels/kernels.h"
#include "runtime/bandwidth.h"

#include <CLI/CLI.hpp>
#include <sys/resource.h>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

namespace deepcpu::tools {

namespace {

struct BatchedBenchFlags {
  EngineFlags engine;
  std::string n_pp = "128,256,512";  // llama-batched-bench's defaults
  std::string n_tg = "128,256";
  std::string n_pl = "1,2,4,8,16,32";
  std::string flash_attn = "auto";
  bool pps = false;
  int repetitions = 1;
  std::string output_format = "md";
};



// llama.cpp's flash-attention values: on/off/auto and their 1/0/-1 spellings.
Result<int> parse_flash_attn(const std::string& v) {
  if (v == "on" || v == "1" || v == "true" || v == "enabled") return 1;
  if (v == "off" || v == "0" || v == "false" || v == "disabled") return 0;
  if (v == "auto" || v == "-1") return -1;
  return error("-fa '{}': use on, off or auto (or 1, 0)", v);
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : v[v.size() / 2];
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Decodes `batch` in slices of n_batch tokens, like llama-batched-bench's decode_helper.
Status decode_in_slices(Engine& engine, const Batch& batch, int n_batch, std::vector<float>* logits) {
  Batch part;
  for (size_t b0 = 0; b0 < batch.size(); b0 += n_batch) {
    const size_t b1 = std::min(batch.size(), b0 + static_cast<size_t>(n_batch));
    part.clear();
    for (size_t i = b0; i < b1; ++i) part.add(batch.tokens[i], batch.pos[i], batch.seq[i], batch.want_logits[i]);
    if (Status st = engine.decode(part, logits); !st) return st;
  }
  return Status::ok();
}

}  // namespace

int cmd_batched_bench(int argc, char** argv) {
  const auto t_start = std::chrono::steady_clock::now();
  BatchedBenchFlags f;
  CLI::App app{
      "Benchmark batched decoding like llama-batched-bench: for every PP x TG x B, prefill B sequences of PP\n"
      "tokens, then generate TG tokens for all B sequences, one decode() call per step."};
  app.name("deepcpu batched-bench");
  add_engine_flags(app, f.engine);
  app.add_option("--n-pp", f.n_pp, "(-npp) prompt lengths, comma-separated")->capture_default_str();
  app.add_option("--n-tg", f.n_tg, "(-ntg) generated tokens per sequence, comma-separated")->capture_default_str();
  app.add_option("--n-pl", f.n_pl, "(-npl) parallel sequences, comma-separated")->capture_default_str();
  app.add_option("--flash-attn", f.flash_attn, "(-fa) on|off|auto (auto: on)")
      ->capture_default_str();
  app.add_flag("--pps", f.pps, "(-pps) the prompt is shared by all sequences (see the header for how it is run)");
  app.add_option("-r,--repetitions", f.repetitions, "runs per row; the table shows medians (llama.cpp runs once)")
      ->capture_default_str();
  app.add_option("--output-format", f.output_format, "md or jsonl")
      ->check(CLI::IsMember({"md", "jsonl"}))
      ->capture_default_str();

  // llama-batched-bench's multi-letter single-dash flags, which CLI11 would read as bundles.
  std::vector<std::string> args(argv, argv + argc);
  for (std::string& a : args) {
    for (const auto& [alias, name] : {std::pair{"-npp", "--n-pp"}, {"-ntg", "--n-tg"}, {"-npl", "--n-pl"},
                                      {"-pps", "--pps"}}) {
      const std::string al = alias;
      if (a == al) a = name;
      else if (a.rfind(al + "=", 0) == 0) a = name + a.substr(al.size());
    }
  }
  std::vector<char*> ptrs;
  for (std::string& a : args) ptrs.push_back(a.data());
  if (int rc = parse_args(app, static_cast<int>(ptrs.size()), ptrs.data()); rc >= 0) return rc;

  auto n_pp = parse_int_list(f.n_pp, "-npp", 1);
  if (!n_pp) return fail("batched-bench", n_pp.status().message());
  auto n_tg = parse_int_list(f.n_tg, "-ntg", 0);
  if (!n_tg) return fail("batched-bench", n_tg.status().message());
  auto n_pl = parse_int_list(f.n_pl, "-npl", 1);
  if (!n_pl) return fail("batched-bench", n_pl.status().message());
  auto fa = parse_flash_attn(f.flash_attn);
  if (!fa) return fail("batched-bench", fa.status().message());
  if (f.repetitions < 1) return fail("batched-bench", fmt::format("-r {}: need at least one run", f.repetitions));
  auto options = engine_options(f.engine);
  if (!options) return fail("batched-bench", options.status().message());
  options->n_seq_max = *std::max_element(n_pl->begin(), n_pl->end());
  options->flash_attn = *fa != 0;  // auto -> on, as llama.cpp chooses on CPU
  auto loaded = load_engine(*options, false);
  if (!loaded) return fail("batched-bench", loaded.status().message());
  Engine& engine = **loaded;
  engine.wait_warm();
  const EngineOptions& eo = engine.options();
  const ModelSummary& sm = engine.summary();
  const bool jsonl = f.output_format == "jsonl";

  // The header: on stdout for md, on stderr for jsonl so stdout stays one JSON object a line.
  FILE* head = jsonl ? stderr : stdout;
  const MachineInfo mi = machine_info();
  const char* fa_name = *fa == 1 ? "on" : *fa == 0 ? "off" : "auto";
  std::fprintf(head, "command: %s\n", command_line(argc, argv).c_str());
  std::fprintf(head, "machine: %s, %d CPUs, %d NUMA node(s), LLC %.0f MiB, load average %.1f; kernels %s (%s)\n",
               mi.cpu_model.c_str(), mi.n_cpus, mi.n_numa_nodes, mi.llc_bytes / 1048576.0, mi.load_avg_1m,
               kernels::isa_name(kernels::table().isa), kernels::cpu_features_string().c_str());
  std::fprintf(head, "model: %s (%s '%s', %.2f M params, %.1f MiB of weights)\n", eo.model_path.c_str(),
               sm.arch.c_str(), sm.name.c_str(), sm.n_params / 1e6, sm.weight_bytes / 1048576.0);
  std::fprintf(head, "flash attention: -fa %s -> the engine runs the %s attention path\n", fa_name,
               eo.flash_attn ? "flash (online softmax)" : "plain");
  if (f.pps) {
    std::fprintf(head,
                 "-pps: the engine cannot copy a sequence's cache yet, so the shared prompt is evaluated once per "
                 "sequence: T_PP covers B prompts, S_PP = B*PP/T_PP and N_KV = B*(PP+TG) (llama.cpp evaluates it "
                 "once: N_KV = PP+B*TG)\n");
  }
  if (f.repetitions > 1) std::fprintf(head, "each row: median of %d runs\n", f.repetitions);
  std::fprintf(head,
               "\nmain: n_kv_max = %d, n_batch = %d, n_ubatch = %d, flash_attn = %d, is_pp_shared = %d, "
               "n_threads = %d, n_threads_batch = %d, type_k = %s, type_v = %s\n\n",
               eo.n_ctx, eo.n_batch, eo.n_ubatch, eo.flash_attn ? 1 : 0, f.pps ? 1 : 0, eo.n_threads, eo.n_threads,
               std::string(dtype_name(eo.cache_type_k)).c_str(), std::string(dtype_name(eo.cache_type_v)).c_str());
  std::fflush(head);

  std::mt19937 rng(1234);
  std::uniform_int_distribution<int> token(0, engine.n_vocab() - 1);
  std::vector<float> logits;
  Batch batch;
  auto clear_cache = [&] {
    for (int s = 0; s < eo.n_seq_max; ++s) engine.truncate_sequence(s, 0);
  };

  // Warm-up (llama-batched-bench does the same): 16 tokens so first-touch costs stay out of the table.
  for (int i = 0; i < std::min(16, eo.n_ctx); ++i) batch.add(token(rng), i, 0, false);
  if (Status st = decode_in_slices(engine, batch, eo.n_batch, &logits); !st)
    return fail("batched-bench", fmt::format("warm-up: {}", st.message()));
  clear_cache();

  if (!jsonl) {
    std::printf("|%6s | %6s | %4s | %6s | %8s | %8s | %8s | %8s | %8s | %8s |\n", "PP", "TG", "B", "N_KV", "T_PP s",
                "S_PP t/s", "T_TG s", "S_TG t/s", "T s", "S t/s");
    std::printf("|%6s-|-%6s-|-%4s-|-%6s-|-%8s-|-%8s-|-%8s-|-%8s-|-%8s-|-%8s-|\n", "------", "------", "----",
                "------", "--------", "--------", "--------", "--------", "--------", "--------");
  }
  std::vector<std::string> skipped;
  for (int pp : *n_pp) {
    for (int tg : *n_tg) {
      for (int pl : *n_pl) {
        // Without a sequence copy every sequence holds its own prompt, shared or not.
        const int n_kv = pl * (pp + tg);
        if (n_kv > eo.n_ctx) {
          skipped.push_back(fmt::format("PP {} TG {} B {} needs {} cache cells > -c {}", pp, tg, pl, n_kv, eo.n_ctx));
          continue;
        }
        std::vector<double> t_pps, t_tgs;
        for (int rep = 0; rep < f.repetitions; ++rep) {
          clear_cache();
          batch.clear();
          for (int s = 0; s < pl; ++s)
            for (int j = 0; j < pp; ++j) batch.add(token(rng), j, s, j == pp - 1);
          const auto t0 = std::chrono::steady_clock::now();
          if (Status st = decode_in_slices(engine, batch, eo.n_batch, &logits); !st)
            return fail("batched-bench", fmt::format("prefill PP {} B {}: {}", pp, pl, st.message()));
          t_pps.push_back(seconds_since(t0));
          const auto t1 = std::chrono::steady_clock::now();
          for (int i = 0; i < tg; ++i) {
            batch.clear();
            for (int s = 0; s < pl; ++s) batch.add(token(rng), pp + i, s, true);
            if (Status st = engine.decode(batch, &logits); !st)
              return fail("batched-bench", fmt::format("generation step {} of TG {} B {}: {}", i, tg, pl, st.message()));
          }
          t_tgs.push_back(seconds_since(t1));
        }
        const double t_pp = median(t_pps), t_tg = median(t_tgs), t = t_pp + t_tg;
        const double s_pp = pl * pp / std::max(t_pp, 1e-9);
        const double s_tg = tg > 0 ? pl * tg / std::max(t_tg, 1e-9) : 0.0;
        const double s = (pl * pp + pl * tg) / std::max(t, 1e-9);
        if (jsonl) {
          std::printf(
              "{\"n_kv_max\": %d, \"n_batch\": %d, \"n_ubatch\": %d, \"flash_attn\": %d, \"is_pp_shared\": %d, "
              "\"n_gpu_layers\": 0, \"n_threads\": %d, \"n_threads_batch\": %d, \"type_k\": \"%s\", \"type_v\": \"%s\", "
              "\"repetitions\": %d, \"pp\": %d, \"tg\": %d, \"pl\": %d, \"n_kv\": %d, \"t_pp\": %f, \"speed_pp\": %f, "
              "\"t_tg\": %f, \"speed_tg\": %f, \"t\": %f, \"speed\": %f}\n",
              eo.n_ctx, eo.n_batch, eo.n_ubatch, eo.flash_attn ? 1 : 0, f.pps ? 1 : 0, eo.n_threads, eo.n_threads,
              std::string(dtype_name(eo.cache_type_k)).c_str(), std::string(dtype_name(eo.cache_type_v)).c_str(),
              f.repetitions, pp, tg, pl, n_kv, t_pp, s_pp, t_tg, s_tg, t, s);
        } else {
          std::printf("|%6d | %6d | %4d | %6d | %8.3f | %8.2f | %8.3f | %8.2f | %8.3f | %8.2f |\n", pp, tg, pl, n_kv,
                      t_pp, s_pp, t_tg, s_tg, t, s);
        }
        std::fflush(stdout);
      }
    }
  }
  clear_cache();
  for (const std::string& s : skipped) std::fprintf(head, "skipped (as llama-batched-bench does): %s\n", s.c_str());
  // On a shared machine the wall-clock speeds above depend on how much CPU we were given.
  rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  const double cpu_s = ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
  const double wall_s = seconds_since(t_start);
  std::fprintf(head, "\nprocess CPU time %.1f s over %.1f s wall: %.0f%% of %d thread(s); load average now %.1f\n", cpu_s,
               wall_s, 100.0 * cpu_s / std::max(wall_s, 1e-9) / eo.n_threads, eo.n_threads, machine_info().load_avg_1m);
  return 0;
}

}  // namespace deepcpu::tools
