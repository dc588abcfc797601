// See cli_common.h.
#include "cli_common.h"

#include "tensor/dtype.h"

#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <sys/stat.h>
#include <unistd.h>

namespace deepcpu::tools {

std::string default_model_path() {
#ifdef DEEPCPU_DEFAULT_MODEL
  return DEEPCPU_DEFAULT_MODEL;
#else
  return "";
#endif
}

void add_engine_flags(CLI::App& app, EngineFlags& f, EngineFlagSet which) {
  app.add_option("-m,--model", f.model, "GGUF model (part 1 of a split model); default: " + default_model_path());
  if (which.threads) {
    app.add_option("-t,--threads", f.threads, "threads (0: all cores)")->capture_default_str();
    app.add_option("--numa", f.numa,
                   "distribute: spread threads over the NUMA nodes, interleave the weights; isolate: only the node "
                   "the process started on; numactl: the CPUs numactl/taskset gave the process (single-node: no-op)");
    app.add_option("-C,--cpu-mask", f.cpu_mask, "CPU affinity mask in hex (0xff: CPUs 0-7); adds to --cpu-range");
    app.add_option("--cpu-range", f.cpu_range, "(-Cr) CPU range lo-hi for affinity; adds to --cpu-mask");
    app.add_option("--cpu-strict", f.cpu_strict,
                   "1: pin each thread to one CPU of the mask (of all allowed CPUs without one); 0: any of them")
        ->capture_default_str();
    app.add_option("--poll", f.poll, "0..100: how long idle threads spin before sleeping (0: sleep at once)")
        ->capture_default_str();
  }
  if (which.ctx) app.add_option("-c,--ctx-size", f.ctx, "KV cache size in tokens")->capture_default_str();
  if (which.batch) {
    app.add_option("-b,--batch-size", f.batch, "most tokens per decode call")->capture_default_str();
    app.add_option("--ubatch-size", f.ubatch, "(-ub) most tokens per forward pass")->capture_default_str();
  }
  app.add_flag("--no-warmup", f.no_warmup,
               "skip the warm-up at load (a short decode, then scratch memory sized and touched for a full ubatch, "
               "so the first large request does not pay for fresh memory)");
  app.add_flag("--no-repack", f.no_repack,
               "use the weights in place from the mapped file instead of repacked copies in huge pages "
               "(for models larger than RAM; slower)");
  if (which.flash_attn) {
    app.add_option("--flash-attn", f.flash_attn, "(-fa) flash attention: on, off or auto (auto: on)")
        ->capture_default_str()
        ->expected(0, 1)
        ->default_str("auto");
  }
  if (which.cache_types) {
    app.add_option("--cache-type-k", f.cache_type_k, "(-ctk) KV cache type for K: f16, bf16, q8_0")
        ->capture_default_str();
    app.add_option("--cache-type-v", f.cache_type_v, "(-ctv) KV cache type for V: f16, bf16, q8_0")
        ->capture_default_str();
  }
}

std::vector<std::string> normalize_llama_args(int argc, char** argv) {
  static const std::pair<std::string_view, std::string_view> kAliases[] = {
      {"-ub", "--ubatch-size"}, {"-ctk", "--cache-type-k"}, {"-ctv", "--cache-type-v"}, {"-fa", "--flash-attn"},
      {"-Cr", "--cpu-range"},
  };
  std::vector<std::string> out;
  out.reserve(argc);
  for (int i = 0; i < argc; ++i) {
    std::string arg = argv[i];
    if (i > 0) {
      for (const auto& [alias, name] : kAliases) {
        if (arg == alias) {
          arg = name;
        } else if (arg.size() > alias.size() && arg.compare(0, alias.size(), alias) == 0 && arg[alias.size()] == '=') {
          arg = std::string(name) + arg.substr(alias.size());
        }
      }
    }
    out.push_back(std::move(arg));
  }
  return out;
}

int parse_args(CLI::App& app, int argc, char** argv) {
  std::vector<std::string> args = normalize_llama_args(argc, argv);
  std::vector<char*> ptrs;
  for (std::string& a : args) ptrs.push_back(a.data());
  try {
    app.parse(static_cast<int>(ptrs.size()), ptrs.data());
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return 2;
  }
  return -1;
}

Result<DType> parse_cache_type(std::string_view value, std::string_view flag) {
  // The KV cache stores these three; llama.cpp spells them the same way.
  const std::optional<DType> t = dtype_from_name(value);
  if (!t || (*t != DType::kF16 && *t != DType::kBF16 && *t != DType::kQ8_0))
    return error("{} '{}': unsupported KV cache type; use f16, bf16 or q8_0", flag, value);
  return *t;
}

void add_sampling_flags(CLI::App& app, SamplingParams& s, const std::string& scope) {
  app.add_option("--temp", s.temperature, scope + "temperature; 0: greedy")->capture_default_str();
  app.add_option("--top-k", s.top_k, scope + "top-k (0: off)")->capture_default_str();
  app.add_option("--top-p", s.top_p, scope + "top-p (1: off)")->capture_default_str();
  app.add_option("--min-p", s.min_p, scope + "min-p (0: off)")->capture_default_str();
  app.add_option("--repeat-penalty", s.repeat_penalty, scope + "repeat penalty (1: off)")->capture_default_str();
  app.add_option("--repeat-last-n", s.repeat_last_n, "tokens the repeat penalty looks back over (-1: all)")
      ->capture_default_str();
  app.add_option("-s,--seed", s.seed, scope + "RNG seed (default: random)");
}

Result<bool> parse_flash_attn(std::string_view v) {
  if (v == "on" || v == "1" || v == "auto" || v == "-1" || v == "enabled" || v.empty()) return true;
  if (v == "off" || v == "0" || v == "disabled") return false;
  return error("-fa/--flash-attn '{}': use on, off or auto", v);
}

Result<PlacementRequest> placement_request(const EngineFlags& f) {
  PlacementRequest p;
  auto numa = parse_numa_strategy(f.numa);
  if (!numa.is_ok()) return error("--numa: {}", numa.status().message());
  p.numa = *numa;
  if (!f.cpu_mask.empty()) {
    auto m = parse_cpu_mask(f.cpu_mask);
    if (!m.is_ok()) return error("-C/--cpu-mask: {}", m.status().message());
    p.cpu_mask = *m;
  }
  if (!f.cpu_range.empty()) {
    auto r = parse_cpu_range(f.cpu_range);
    if (!r.is_ok()) return error("-Cr/--cpu-range: {}", r.status().message());
    p.cpu_mask.insert(p.cpu_mask.end(), r->begin(), r->end());  // the two flags add up
    std::sort(p.cpu_mask.begin(), p.cpu_mask.end());
    p.cpu_mask.erase(std::unique(p.cpu_mask.begin(), p.cpu_mask.end()), p.cpu_mask.end());
  }
  if (f.cpu_strict != 0 && f.cpu_strict != 1) return error("--cpu-strict {}: use 0 or 1", f.cpu_strict);
  p.strict = f.cpu_strict == 1;
  if (f.poll < 0 || f.poll > 100) return error("--poll {}: use 0..100 (0: no spinning, 50: the default)", f.poll);
  p.poll = f.poll;
  return p;
}

Result<EngineOptions> engine_options(const EngineFlags& f) {
  EngineOptions o;
  auto placement = placement_request(f);
  if (!placement.is_ok()) return placement.status();
  o.placement = *placement;
  auto fa = parse_flash_attn(f.flash_attn);
  if (!fa.is_ok()) return fa.status();
  o.flash_attn = *fa;
  o.repack = !f.no_repack;
  o.warmup = !f.no_warmup;
  // Flag values first: they are wrong whatever the model is.
  auto k = parse_cache_type(f.cache_type_k, "-ctk/--cache-type-k");
  if (!k.is_ok()) return k.status();
  auto v = parse_cache_type(f.cache_type_v, "-ctv/--cache-type-v");
  if (!v.is_ok()) return v.status();
  o.model_path = f.model.empty() ? default_model_path() : f.model;
  if (o.model_path.empty()) return error("no model: pass -m MODEL.gguf");
  struct stat st {};
  if (stat(o.model_path.c_str(), &st) != 0)
    return error("model file '{}' not found{}", o.model_path, f.model.empty() ? " (the default model; pass -m)" : " (-m)");
  if (f.threads < 0) return error("-t {}: the thread count must be >= 0 (0: all cores)", f.threads);
  if (f.ctx <= 0) return error("-c {}: the context size must be positive", f.ctx);
  if (f.batch <= 0) return error("-b {}: the batch size must be positive", f.batch);
  if (f.ubatch <= 0) return error("-ub {}: the ubatch size must be positive", f.ubatch);
  o.n_threads = f.threads;
  o.n_ctx = f.ctx;
  o.n_batch = f.batch;
  o.n_ubatch = std::min(f.ubatch, f.batch);
  o.cache_type_k = *k;
  o.cache_type_v = *v;
  return o;
}

ProgressBar::ProgressBar(std::string label, FILE* out) : label_(std::move(label)), out_(out) {}
ProgressBar::~ProgressBar() { finish(); }

void ProgressBar::update(float fraction) {
  fraction = std::clamp(fraction, 0.0f, 1.0f);
  const int percent = static_cast<int>(fraction * 100.0f);
  if (percent == last_percent_) return;
  last_percent_ = percent;
  constexpr int kWidth = 30;
  const int filled = percent * kWidth / 100;
  // On a terminal redraw in place; into a file or pipe only the finished line, to keep logs short.
  const bool tty = isatty(fileno(out_));
  if (!tty && percent != 100) return;
  std::fprintf(out_, "%s%s [%.*s%*s] %3d%%%s", tty ? "\r" : "", label_.c_str(), filled,
               "##############################", kWidth - filled, "", percent, tty ? "" : "\n");
  std::fflush(out_);
  open_ = tty;
}

void ProgressBar::finish() {
  if (open_) std::fputc('\n', out_);
  open_ = false;
}

Result<std::unique_ptr<Engine>> load_engine(EngineOptions options, bool show_progress) {
  std::unique_ptr<ProgressBar> bar;
  if (show_progress) {
    const std::string& p = options.model_path;
    bar = std::make_unique<ProgressBar>("loading " + p.substr(p.rfind('/') + 1));
    options.progress = [b = bar.get()](float f) { b->update(f); };
  }
  auto r = Engine::load(options);
  if (bar) bar->finish();
  if (!r.is_ok()) {
    // Engine errors about the file already start with its path; others get it prefixed.
    const std::string msg = r.status().message();
    if (msg.rfind(options.model_path, 0) == 0) return r.status();
    return error("{}: {}", options.model_path, msg);
  }
  return r;
}

Result<std::string> read_prompt(const std::optional<std::string>& text, const std::optional<std::string>& file) {
  if (text && file) return error("give the prompt with -p or -f, not both");
  if (text) return *text;
  if (!file) return error("no prompt: pass -p TEXT or -f FILE");
  std::ifstream in(*file, std::ios::binary);
  if (!in) return error("-f '{}': cannot read the prompt file", *file);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int fail(std::string_view cmd, std::string_view message) {
  std::fprintf(stderr, "deepcpu %.*s: %.*s\n", static_cast<int>(cmd.size()), cmd.data(),
               static_cast<int>(message.size()), message.data());
  return 1;
}

}  // namespace deepcpu::tools
