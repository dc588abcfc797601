// deepcpu logits: the top-K logits at every prompt position as JSON, for diffing against
// llama.cpp's reference (tests/data/reference, whose `top10` has the same shape):
//   {"prompt_ids":[...],"top":[[[id,logit],...] for each prompt position]}
// Sorted by logit desc, then id asc, like the reference.
#include "cli_common.h"
#include "commands.h"

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <numeric>

namespace deepcpu::tools {

int cmd_logits(int argc, char** argv) {
  EngineFlags ef;
  std::optional<std::string> prompt_text, prompt_file;
  int top = 10;
  bool no_parse_special = false;
  CLI::App app{"Print the top-K logits at every prompt position as one JSON object:\n"
               "{\"prompt_ids\":[...],\"top\":[[[id,logit],...] per position]}"};
  app.name("deepcpu logits");
  // The context is sized to the prompt unless -c says otherwise.
  ef.ctx = 0;
  add_engine_flags(app, ef, {.threads = true, .ctx = true, .batch = true, .cache_types = true, .flash_attn = true});
  app.add_option("-p,--prompt", prompt_text, "prompt text");
  app.add_option("-f,--file", prompt_file, "read the prompt from a file");
  app.add_option("--top", top, "logits per position")->capture_default_str();
  app.add_flag("--no-parse-special", no_parse_special, "treat special-token text in the prompt as plain text");
  if (int rc = parse_args(app, argc, argv); rc >= 0) return rc;
  if (top <= 0) return fail("logits", fmt::format("--top {}: must be positive", top));

  auto prompt = read_prompt(prompt_text, prompt_file);
  if (!prompt.is_ok()) return fail("logits", prompt.status().message());
  // Tokenizing needs the model's vocab, which needs the engine; size the context after a
  // first guess and reload only if the prompt turns out longer.
  const bool ctx_given = ef.ctx > 0;
  if (!ctx_given) ef.ctx = 512;
  auto options = engine_options(ef);
  if (!options.is_ok()) return fail("logits", options.status().message());
  auto loaded = load_engine(*options);
  if (!loaded.is_ok()) return fail("logits", loaded.status().message());
  std::vector<TokenId> ids = (*loaded)->tokenizer().tokenize(*prompt, true, !no_parse_special);
  if (ids.empty()) return fail("logits", "the prompt is empty and the model adds no BOS");
  if (static_cast<int>(ids.size()) > options->n_ctx) {
    if (ctx_given)
      return fail("logits", fmt::format("the prompt is {} tokens but the context holds {} (-c {}); raise -c",
                                        ids.size(), options->n_ctx, options->n_ctx));
    options->n_ctx = static_cast<int>(ids.size());
    loaded = load_engine(*options, false);
    if (!loaded.is_ok()) return fail("logits", loaded.status().message());
  }
  Engine& engine = **loaded;
  const int n_vocab = engine.n_vocab();
  top = std::min(top, n_vocab);

  nlohmann::json out_top = nlohmann::json::array();
  std::vector<float> rows;
  Batch batch;
  std::vector<TokenId> order(n_vocab);
  for (size_t begin = 0; begin < ids.size(); begin += options->n_batch) {
    const size_t end = std::min(ids.size(), begin + options->n_batch);
    batch.clear();
    for (size_t i = begin; i < end; ++i) batch.add(ids[i], static_cast<int32_t>(i), 0, true);
    if (Status st = engine.decode(batch, &rows); !st.is_ok())
      return fail("logits", fmt::format("prompt tokens [{}, {}): {}", begin, end, st.message()));
    for (size_t r = 0; r < end - begin; ++r) {
      const float* row = rows.data() + r * n_vocab;
      std::iota(order.begin(), order.end(), 0);
      std::partial_sort(order.begin(), order.begin() + top, order.end(), [row](TokenId a, TokenId b) {
        return row[a] > row[b] || (row[a] == row[b] && a < b);
      });
      nlohmann::json pos = nlohmann::json::array();
      for (int k = 0; k < top; ++k) pos.push_back({order[k], row[order[k]]});
      out_top.push_back(std::move(pos));
    }
  }
  const nlohmann::json j = {{"prompt_ids", ids}, {"top", std::move(out_top)}};
  std::printf("%s\n", j.dump().c_str());
  return 0;
}

}  // namespace deepcpu::tools
