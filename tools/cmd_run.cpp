// deepcpu run: generate a continuation of one prompt, streaming it to stdout as it comes
// (or one JSON object with --json). The loop is llama.cpp's: the prompt in n_batch-sized
// decode() calls, then one token at a time through the KV cache. Sampling is the
// Sampler's, detokenizing the StreamDecoder's; this file only wires them to flags.
#include "cli_common.h"
#include "commands.h"
#include "sampling/sampler.h"

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>

namespace deepcpu::tools {

namespace {

struct RunFlags {
  EngineFlags engine;
  std::optional<std::string> prompt;
  std::optional<std::string> prompt_file;
  int n_predict = 128;
  SamplingParams sampling;
  bool ignore_eos = false;
  bool no_parse_special = false;
  bool json = false;
};

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void write_out(const std::string& s) {
  if (s.empty()) return;
  std::fwrite(s.data(), 1, s.size(), stdout);
  std::fflush(stdout);
}

}  // namespace

int cmd_run(int argc, char** argv) {
  RunFlags f;
  CLI::App app{
      "Generate text from a prompt, streamed to stdout; timings go to stderr.\n"
      "With --json, prints instead one line {\"prompt_ids\":[...],\"ids\":[...],\"text\":...,\"completion\":...}:\n"
      "text is prompt + continuation detokenized (as llama-simple prints it, without special tokens),\n"
      "completion the continuation alone."};
  app.name("deepcpu run");
  add_engine_flags(app, f.engine, {.flash_attn = true});
  app.add_option("-p,--prompt", f.prompt, "prompt text");
  app.add_option("-f,--file", f.prompt_file, "read the prompt from a file");
  app.add_option("-n,--n-predict", f.n_predict, "tokens to generate (-1: until EOG or the context is full)")
      ->capture_default_str();
  add_sampling_flags(app, f.sampling, "");
  app.add_flag("--ignore-eos", f.ignore_eos, "keep generating after an end-of-generation token");
  app.add_flag("--no-parse-special", f.no_parse_special, "treat special-token text in the prompt as plain text");
  app.add_flag("--json", f.json, "print one JSON object instead of streaming text");
  if (int rc = parse_args(app, argc, argv); rc >= 0) return rc;

  auto prompt = read_prompt(f.prompt, f.prompt_file);
  if (!prompt.is_ok()) return fail("run", prompt.status().message());
  auto options = engine_options(f.engine);
  if (!options.is_ok()) return fail("run", options.status().message());
  auto loaded = load_engine(*options);
  if (!loaded.is_ok()) return fail("run", loaded.status().message());
  Engine& engine = **loaded;
  const Tokenizer& tok = engine.tokenizer();
  const int n_vocab = engine.n_vocab();
  const int n_ctx = options->n_ctx;

  const std::vector<TokenId> prompt_ids = tok.tokenize(*prompt, true, !f.no_parse_special);
  if (prompt_ids.empty()) return fail("run", "the prompt is empty and the model adds no BOS; nothing to continue");
  if (static_cast<int>(prompt_ids.size()) > n_ctx)
    return fail("run", fmt::format("the prompt is {} tokens but the context holds {} (-c {}); shorten the prompt or "
                                   "raise -c",
                                   prompt_ids.size(), n_ctx, n_ctx));

  // Prompt: n_batch tokens per decode() call, logits only for the last token.
  const auto t_prompt = std::chrono::steady_clock::now();
  std::vector<float> logits;
  Batch batch;
  for (size_t begin = 0; begin < prompt_ids.size(); begin += options->n_batch) {
    const size_t end = std::min(prompt_ids.size(), begin + options->n_batch);
    batch.clear();
    for (size_t i = begin; i < end; ++i)
      batch.add(prompt_ids[i], static_cast<int32_t>(i), 0, i + 1 == prompt_ids.size());
    if (Status st = engine.decode(batch, &logits); !st.is_ok())
      return fail("run", fmt::format("prompt tokens [{}, {}): {}", begin, end, st.message()));
  }
  const double prompt_s = seconds_since(t_prompt);

  Sampler sampler(f.sampling, n_vocab);
  for (TokenId id : prompt_ids) sampler.accept(id);
  StreamDecoder stream(tok, false);
  std::vector<TokenId> ids;
  const auto t_gen = std::chrono::steady_clock::now();
  int32_t pos = static_cast<int32_t>(prompt_ids.size());
  bool ctx_full = false;
  while (f.n_predict < 0 || static_cast<int>(ids.size()) < f.n_predict) {
    const TokenId id = sampler.sample(logits.data());
    sampler.accept(id);
    if (tok.is_eog(id) && !f.ignore_eos) break;
    ids.push_back(id);
    if (!f.json) write_out(stream.push(id));
    if (f.n_predict >= 0 && static_cast<int>(ids.size()) == f.n_predict) break;
    if (pos >= n_ctx) {
      ctx_full = true;
      break;
    }
    batch.clear();
    batch.add(id, pos++, 0, true);
    if (Status st = engine.decode(batch, &logits); !st.is_ok())
      return fail("run", fmt::format("generated token {} at position {}: {}", ids.size(), pos - 1, st.message()));
  }
  const double gen_s = seconds_since(t_gen);
  if (!f.json) {
    write_out(stream.flush());
    write_out("\n");
  } else {
    std::vector<TokenId> all = prompt_ids;
    all.insert(all.end(), ids.begin(), ids.end());
    const nlohmann::json j = {{"prompt_ids", prompt_ids},
                              {"ids", ids},
                              {"text", tok.detokenize(all, false)},
                              {"completion", tok.detokenize(ids, false)}};
    // Invalid UTF-8 in a piece (a byte-level token cut mid-character) becomes U+FFFD.
    write_out(j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
  }
  if (ctx_full) std::fprintf(stderr, "deepcpu run: stopped: the context (-c %d) is full\n", n_ctx);
  std::fprintf(stderr, "prompt: %zu tokens in %.1f ms (%.1f t/s) | generation: %zu tokens in %.1f ms (%.1f t/s)\n",
               prompt_ids.size(), prompt_s * 1e3, prompt_ids.size() / std::max(prompt_s, 1e-9), ids.size(),
               gen_s * 1e3, ids.size() / std::max(gen_s, 1e-9));
  return 0;
}

}  // namespace deepcpu::tools
