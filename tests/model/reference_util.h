// Helpers for the llama.cpp reference tests (tests/model/reference_test.cpp): reading the
// zoo-reference/1 JSONs in tests/data/reference, finding each model's GGUF, driving the
// Engine the way llama.cpp's reference run did (prompt in one batch, then single tokens),
// and comparing logits rows with the reference top-10 lists.
// Numerical policy (tolerances and why) lives here so every test states the same bound.
#pragma once

#include "base/status.h"
#include "engine/engine.h"

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace deepcpu::test {

// [(id, logit)], sorted by logit desc, then id asc (the reference's order).
using TopList = std::vector<std::pair<TokenId, float>>;

struct RefVariant {
  std::string error;  // non-empty: llama.cpp refused this setting (e.g. q8_0 KV, head_dim 16)
  std::vector<TokenId> greedy_ids;
  std::optional<int> first_divergence;  // from the baseline's greedy_ids
  TopList last_prompt_top10;
  double last_prompt_max_abs_diff = 0;  // vs the baseline, full vocab
  std::vector<TopList> top10;           // f32_dequant only: teacher-forced, P+32 positions
};

struct RefPrompt {
  std::string id;
  std::string text;
  bool parse_special = false;
  std::vector<TokenId> prompt_ids;
  std::vector<TokenId> greedy_ids;
  std::vector<float> greedy_step_gap;  // top1 - top2 at each greedy step
  std::vector<TopList> top10;          // teacher-forced, P+32 positions
  TopList last_prompt_top200;          // trimmed from last_prompt_logits
  std::map<std::string, RefVariant> variants;

  const RefVariant* variant(const std::string& name) const;
  std::vector<TokenId> prompt_and_greedy() const;
};

// How the weights are stored, which decides how close to llama.cpp we can be.
enum class WeightClass { kF32, kF16, kBF16, kQ8_0 };
const char* weight_class_name(WeightClass w);

struct Reference {
  std::string name;  // file stem: "ds3-tiny-Q8_0"
  std::string model_file;
  std::vector<std::string> also_valid_for;
  std::string model_desc;
  int n_vocab = 0;
  WeightClass weights = WeightClass::kF32;
  std::vector<RefPrompt> prompts;
};

// Stems of tests/data/reference/*.json, sorted: the registry the tests run over.
std::vector<std::string> reference_names();
// Parses tests/data/reference/<name>.json (throws std::runtime_error naming the field).
const Reference& reference(const std::string& name);
// The model's GGUF via fixture("models/<model_file>"), "" when neither tests/data nor
// ../shared has it.
std::string model_path(const Reference& ref);

// Max |Δlogit| we accept against llama.cpp's baseline, and the reason for the number.
struct Tolerance {
  float logit;
  const char* reason;
};
Tolerance tolerance_for(WeightClass w);

// MoE routing is a hard top-k: a near-tie between two experts' scores flips which expert
// runs, and that token's logits then move by several logits. llama.cpp's own f32_dequant vs
// baseline runs show it: ds3-tiny-F16 'zh' has one teacher-forced position off by 3.4 (all
// others ≤0.025), ds3-tiny-Q8_0 'zh' 4 of 53 positions off by up to 6.9. So for MoE archs a
// few positions may exceed the tolerance; this is the share allowed.
constexpr double kMoeOutlierShare = 0.10;
bool is_moe_arch(const std::string& arch);

// Engine with the reference's settings: 2 threads, n_ctx = n_batch = n_ubatch = 512, KV f16.
EngineOptions reference_options(const std::string& model_path);
Result<std::unique_ptr<Engine>> load_engine(const EngineOptions& options);

// argmax with ties to the lower id, as the reference's greedy step.
TokenId argmax(const float* row, int n);
TopList top_k(const float* row, int n, int k);

// Decodes `ids` into sequence `seq` starting at position `pos0`, `chunk` tokens per
// decode() call (0: all at once). Returns one logits row per token when `all_logits`,
// else only the last token's row.
Result<std::vector<float>> decode_tokens(Engine& engine, const std::vector<TokenId>& ids, int32_t seq,
                                         int32_t pos0, bool all_logits, int chunk = 0);

struct GreedyRun {
  std::vector<TokenId> ids;
  // The logits each greedy token was picked from, n_gen rows of n_vocab.
  std::vector<float> step_logits;
};
// llama.cpp's reference loop: the prompt in one batch (or `chunk`-sized calls), then one
// token per decode() through the KV cache. If `forced` is given, those tokens are fed
// instead of our argmax (teacher forcing through the cache); ids still holds our argmax.
Result<GreedyRun> greedy(Engine& engine, const std::vector<TokenId>& prompt, int n_gen, int32_t seq = 0,
                         int chunk = 0, const std::vector<TokenId>* forced = nullptr);

// How one logits row compares with a reference top-10 list.
struct RowCompare {
  double max_abs = 0;     // over the reference's ids
  TokenId worst_id = -1;  // where max_abs is reached
  TokenId our_top1 = -1;
  float ref_gap = 0;      // reference top1 - top2
};
RowCompare compare_row(const float* row, int n_vocab, const TopList& ref);

// Per-position comparison of many rows against many reference lists.
struct SeqCompare {
  std::vector<RowCompare> rows;
  double max_abs = 0;
  int worst_pos = -1;
  // positions over the tolerance, or whose top-1 differs where the reference top1-top2
  // gap is over 2·tol (each of the two logits may move by tol)
  std::vector<int> bad_positions;
};
SeqCompare compare_rows(const std::vector<float>& rows, int n_vocab, const std::vector<TopList>& ref,
                        double tol, size_t n_positions);

std::string format_top(const TopList& top, size_t n = 5);
std::string format_ids(const std::vector<TokenId>& ids, size_t from = 0, size_t n = 8);
// Max |a-b| over two equally long vectors; `where` gets the index.
double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b, size_t* where = nullptr);
// Length of the common prefix.
size_t common_prefix(const std::vector<TokenId>& a, const std::vector<TokenId>& b);

}  // namespace deepcpu::test
