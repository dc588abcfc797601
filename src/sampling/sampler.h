// Picking the next token from a logits row: llama.cpp's default chain
// (penalties -> top-k -> top-p -> min-p -> temperature -> draw), greedy at temperature <= 0.
// Deterministic for a fixed seed: the same seed and logits give the same tokens.
// Also the log-softmax helpers behind OpenAI `logprobs`. Grammar and chat parsing live elsewhere.
#pragma once

#include "base/status.h"
#include "tokenizer/tokenizer.h"

#include <cstdint>
#include <random>
#include <utility>
#include <vector>

namespace deepcpu {

// LLAMA_DEFAULT_SEED: "pick a random seed"; Sampler::seed() then reports the one picked.
inline constexpr uint64_t kRandomSeed = 0xFFFFFFFF;

struct SamplingParams {
  float temperature = 0.8f;    // <= 0: greedy (argmax, ties to the lower id)
  int top_k = 40;              // <= 0: off
  float top_p = 0.95f;         // >= 1: off
  float min_p = 0.05f;         // <= 0: off
  float repeat_penalty = 1.0f; // 1: off (llama.cpp --repeat-penalty)
  int repeat_last_n = 64;      // tokens the penalties look back over; -1: whole history
  float presence_penalty = 0.0f;
  float frequency_penalty = 0.0f;
  uint64_t seed = 0xFFFFFFFF;  // LLAMA_DEFAULT_SEED: pick a random seed
};

class Sampler {
 public:
  Sampler(const SamplingParams& params, int n_vocab);

  // Bad values from a request or flag (NaN temperature, top_p outside [0, 1], ...), named
  // by field. The constructor assumes they passed: it only DEEPCPU_CHECKs n_vocab.
  static Status validate(const SamplingParams& params);

  // Picks a token from one row of n_vocab logits (not modified). Does not record it:
  // call accept() with the token actually emitted.
  TokenId sample(const float* logits);
  // Records a token in the penalty history (prompt tokens and generated ones).
  void accept(TokenId token);
  // Forgets the history and restarts the random stream. As llama.cpp's dist sampler does,
  // a fixed seed replays the same stream; kRandomSeed picks a fresh seed.
  void reset();
  uint64_t seed() const { return seed_; }
  const SamplingParams& params() const { return params_; }

  // log_softmax(logits)[id], computed in double.
  static float logprob(const float* logits, int n_vocab, TokenId id);
  // The min(n, n_vocab) most likely tokens with their log_softmax values, most likely first
  // (ties: lower id first). Replaces *out; allocates only what *out needs to hold n pairs.
  static void top_logprobs(const float* logits, int n_vocab, int n,
                           std::vector<std::pair<TokenId, float>>* out);

 private:
  struct Candidate {
    TokenId id;
    float logit;
    float p;
  };

  void seed_rng();
  bool penalties_on() const;
  void apply_penalties();          // on cand_ while it is still indexed by id
  void top_k(int k);               // leaves cand_ sorted by logit, descending
  void softmax();                  // cand_ sorted: fills p, normalized
  double uniform01();

  SamplingParams params_;
  int n_vocab_;
  uint64_t seed_;
  std::mt19937 rng_;
  // Penalty window: a ring of the last repeat_last_n accepted tokens (or every token when
  // repeat_last_n is -1, then it only grows). history_pos_ is where the next one goes.
  std::vector<TokenId> history_;
  size_t history_pos_ = 0;
  std::vector<TokenId> window_sorted_;  // scratch for counting repeats; reused
  std::vector<Candidate> cand_;         // reused: no allocation per token
};

}  // namespace deepcpu
