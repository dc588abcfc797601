// Picking the next token from a logits row: llama.cpp's default chain
// (penalties -> top-k -> top-p -> min-p -> temperature -> draw), greedy at temperature <= 0.
// Deterministic for a fixed seed: the same seed and logits give the same tokens.
#pragma once

#include "tokenizer/tokenizer.h"

#include <cstdint>
#include <deque>
#include <random>
#include <vector>

namespace deepcpu {

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

  // Picks a token from one row of n_vocab logits (not modified).
  TokenId sample(const float* logits);
  // Records a token in the penalty history (prompt tokens and generated ones).
  void accept(TokenId token);
  void reset();
  uint64_t seed() const { return seed_; }

 private:
  SamplingParams params_;
  int n_vocab_;
  uint64_t seed_;
  std::mt19937 rng_;
  std::deque<TokenId> history_;
  struct Candidate {
    TokenId id;
    float logit;
    float p;
  };
  std::vector<Candidate> cand_;  // reused: no allocation per token
};

}  // namespace deepcpu
