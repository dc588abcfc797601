// Flags and helpers that several subcommands share: the model / threads / context / batch /
// KV-type flags in llama.cpp's spelling, turning them into EngineOptions, the loading
// progress bar, and prompt input. Each cmd_*.cpp keeps its own flags and output format.
#pragma once

#include "base/status.h"
#include "engine/engine.h"
#include "sampling/sampler.h"

#include <CLI/CLI.hpp>

#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace deepcpu::tools {

// The model shipped with the build (DEEPCPU_DEFAULT_MODEL), used when -m is absent.
std::string default_model_path();

// Flags that say which model to load and how the engine is sized.
struct EngineFlags {
  std::string model;        // -m, --model ("" -> default_model_path())
  int threads = 0;          // -t, --threads (0: all cores)
  int ctx = 4096;           // -c, --ctx-size (llama.cpp's default)
  int batch = 2048;         // -b, --batch-size
  int ubatch = 512;         // -ub, --ubatch-size
  std::string cache_type_k = "f16";  // -ctk, --cache-type-k
  std::string cache_type_v = "f16";  // -ctv, --cache-type-v
  std::string flash_attn = "auto";   // -fa, --flash-attn: on|off|auto (auto = on, as llama.cpp on CPU)
  bool no_repack = false;            // --no-repack: compute from the mapped file (models larger than RAM)
  bool no_warmup = false;            // --no-warmup: skip the warm-up decode and scratch sizing at load
  // Thread placement, llama.cpp's spelling (see runtime/numa.h for the meanings).
  std::string numa;       // --numa distribute|isolate|numactl ("": off)
  std::string cpu_mask;   // -C, --cpu-mask: hex
  std::string cpu_range;  // -Cr, --cpu-range: lo-hi
  int cpu_strict = 0;     // --cpu-strict 0|1
  int poll = 50;          // --poll 0..100
};
struct EngineFlagSet {
  bool threads = true, ctx = true, batch = true, cache_types = true;  // threads: -t and the placement flags
  bool flash_attn = false;  // commands that parse -fa themselves leave this off
};
void add_engine_flags(CLI::App& app, EngineFlags& flags, EngineFlagSet which = {});

// llama.cpp spells some flags with one dash and several letters (-ub, -ctk, -ctv, -fa),
// which CLI11 reads as bundled short flags. This rewrites them to their long names
// (also in the -ctk=q8_0 form) before CLI11 sees argv.
std::vector<std::string> normalize_llama_args(int argc, char** argv);

// Parses argv with the rewriting above. Returns -1 to go on, else the exit code to return
// (0 after --help, 2 after a usage error, the message already printed).
int parse_args(CLI::App& app, int argc, char** argv);

// "f16" | "bf16" | "q8_0" -> DType; anything else is an error naming `flag`.
Result<DType> parse_cache_type(std::string_view value, std::string_view flag);

// llama.cpp's -fa values: on/off/auto and 1/0/-1 (a bare -fa means on). auto -> on.
Result<bool> parse_flash_attn(std::string_view value);

// The sampling flags (--temp, --top-k, --top-p, --min-p, --repeat-penalty, --repeat-last-n,
// -s/--seed) with llama.cpp's spelling; `scope` prefixes their help ("" or "default ").
void add_sampling_flags(CLI::App& app, SamplingParams& s, const std::string& scope);

// Checks the flags (model file present, positive sizes, cache types) into EngineOptions.
Result<EngineOptions> engine_options(const EngineFlags& flags);
// --numa, -C, -Cr, --cpu-strict, --poll into a PlacementRequest; errors name the flag.
Result<PlacementRequest> placement_request(const EngineFlags& flags);

// A one-line loading indicator on stderr fed by EngineOptions::progress; redraws only
// when the whole percent changes, and ends its line in finish() or the destructor.
class ProgressBar {
 public:
  explicit ProgressBar(std::string label, FILE* out = stderr);
  ~ProgressBar();
  void update(float fraction);
  void finish();

 private:
  std::string label_;
  FILE* out_;
  int last_percent_ = -1;
  bool open_ = false;
};

// Loads the engine with a progress bar on stderr; the Status names the model file.
Result<std::unique_ptr<Engine>> load_engine(EngineOptions options, bool show_progress = true);

// The prompt from -p TEXT or -f FILE (exactly one of them).
Result<std::string> read_prompt(const std::optional<std::string>& text, const std::optional<std::string>& file);

// Prints "deepcpu <cmd>: <message>" to stderr; returns 1 (the exit code for bad input).
int fail(std::string_view cmd, std::string_view message);

}  // namespace deepcpu::tools
