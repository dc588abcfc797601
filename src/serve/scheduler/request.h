// What the scheduler is asked to do (a tokenized prompt plus how to sample and when to
// stop) and what it sends back on the request's channel (text pieces, then one Done).
// The OpenAI mapping (serve/openai) builds these; the scheduler never sees JSON.
#pragma once

#include "sampling/sampler.h"
#include "tokenizer/tokenizer.h"

#include <string>
#include <utility>
#include <vector>

namespace deepcpu::serve {

struct GenerationRequest {
  std::vector<TokenId> prompt;
  SamplingParams sampling;
  int max_tokens = -1;             // -1: until EOG, a stop string or the context is full
  std::vector<std::string> stop;   // stop strings; the text stops before the first match
  bool ignore_eos = false;
  int n_logprobs = -1;             // -1: none; 0: the chosen token's; n: also the top n
};

struct TokenLogprob {
  TokenId id = -1;
  float logprob = 0.0f;
  std::vector<std::pair<TokenId, float>> top;
};

// Timing and counts of one finished request, llama.cpp's `timings` fields.
struct GenerationStats {
  int n_prompt = 0;        // prompt tokens
  int n_cached = 0;        // of them, reused from the slot's cache (not evaluated)
  int n_generated = 0;     // tokens sampled (EOG included, as llama.cpp counts)
  double prompt_ms = 0.0;  // from slot assignment to the first sampled token
  double gen_ms = 0.0;     // from the first sampled token to the end
  double queue_ms = 0.0;   // waiting for a slot
  int slot = -1;
};

struct GenerationEvent {
  enum class Kind { kText, kDone, kError };
  Kind kind = Kind::kText;
  std::string text;                    // kText: the next piece of output (UTF-8 complete)
  std::vector<TokenLogprob> logprobs;  // kText: tokens whose text is in this piece (if asked)
  std::string finish_reason;           // kDone: "stop" or "length"
  GenerationStats stats;               // kDone
  int http_status = 500;               // kError
  std::string error;                   // kError
};

}  // namespace deepcpu::serve
