// JSON bodies the OpenAI endpoints send: full responses, SSE chunks, usage and
// llama.cpp-style `timings`, and logprobs in OpenAI's chat and legacy completion shapes.
#pragma once

#include "serve/scheduler/request.h"
#include "tokenizer/tokenizer.h"

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace deepcpu::serve {

// Identity of one response, shared by all its chunks.
struct ResponseMeta {
  std::string id;     // "chatcmpl-..." / "cmpl-..."
  int64_t created = 0;
  std::string model;
};

ResponseMeta new_response_meta(bool chat, const std::string& model);

nlohmann::json usage_json(const GenerationStats& s);
nlohmann::json timings_json(const GenerationStats& s);

// Chat: logprobs.content entries; completions: the legacy {tokens, token_logprobs, ...}.
nlohmann::json chat_logprobs_json(const Tokenizer& tok, const std::vector<TokenLogprob>& lps);
nlohmann::json completion_logprobs_json(const Tokenizer& tok, const std::vector<TokenLogprob>& lps);

// One chat.completion.chunk with the given delta (and finish_reason when not empty).
nlohmann::json chat_chunk(const ResponseMeta& m, nlohmann::json delta, const std::string& finish_reason,
                          const nlohmann::json& logprobs = nullptr);
// One text_completion chunk (streamed completions).
nlohmann::json completion_chunk(const ResponseMeta& m, const std::string& text, const std::string& finish_reason,
                                const nlohmann::json& logprobs = nullptr);

// "data: {...}\n\n"; invalid UTF-8 becomes U+FFFD.
std::string sse_event(const nlohmann::json& j);
std::string dump_json(const nlohmann::json& j);

}  // namespace deepcpu::serve
