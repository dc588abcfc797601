// Request bodies of /v1/chat/completions and /v1/completions -> what the scheduler needs.
// Every wrong field is a 400 whose message names it ("request body: 'temperature' must be
// a number; got a string."). Templates and tokenizing are the caller's (handlers.cpp).
#pragma once

#include "chat/chat_template.h"
#include "serve/openai/errors.h"
#include "serve/scheduler/request.h"

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace deepcpu::serve {

// Server-wide defaults from the command line (--temp, -n, ...).
struct RequestDefaults {
  SamplingParams sampling;
  int n_predict = -1;
};

struct ParsedRequest {
  std::vector<ChatMessage> messages;   // chat
  std::string prompt_text;             // completions, when the prompt is text
  std::vector<TokenId> prompt_tokens;  // completions, when the prompt is token ids
  bool prompt_is_tokens = false;
  bool stream = false;
  bool include_usage = false;
  bool logprobs = false;
  int top_logprobs = 0;
  std::string model;
  GenerationRequest generation;  // everything but the prompt
};

// Both return an ApiError (400) naming the first wrong field.
std::variant<ParsedRequest, ApiError> parse_chat_request(const nlohmann::json& body, const RequestDefaults& defaults);
std::variant<ParsedRequest, ApiError> parse_completion_request(const nlohmann::json& body,
                                                               const RequestDefaults& defaults);

// "a string", "a number", ... for messages.
std::string json_kind(const nlohmann::json& v);

}  // namespace deepcpu::serve
