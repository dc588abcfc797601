// See response.h.
#include "serve/openai/response.h"

#include <atomic>
#include <chrono>
#include <random>

namespace deepcpu::serve {

using nlohmann::json;

ResponseMeta new_response_meta(bool chat, const std::string& model) {
  static std::atomic<uint64_t> counter{0};
  static const uint64_t boot = std::random_device{}();
  ResponseMeta m;
  char buf[40];
  std::snprintf(buf, sizeof buf, "%08llx%08llx", static_cast<unsigned long long>(boot & 0xffffffffu),
                static_cast<unsigned long long>(++counter));
  m.id = std::string(chat ? "chatcmpl-" : "cmpl-") + buf;
  m.created = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  m.model = model;
  return m;
}

json usage_json(const GenerationStats& s) {
  return {{"prompt_tokens", s.n_prompt},
          {"completion_tokens", s.n_generated},
          {"total_tokens", s.n_prompt + s.n_generated},
          {"prompt_tokens_details", {{"cached_tokens", s.n_cached}}}};
}

json timings_json(const GenerationStats& s) {
  const int n_eval = s.n_prompt - s.n_cached;
  auto per_token = [](double ms, int n) { return n > 0 ? ms / n : 0.0; };
  auto per_second = [](double ms, int n) { return ms > 0 ? 1e3 * n / ms : 0.0; };
  return {{"cache_n", s.n_cached},
          {"prompt_n", n_eval},
          {"prompt_ms", s.prompt_ms},
          {"prompt_per_token_ms", per_token(s.prompt_ms, n_eval)},
          {"prompt_per_second", per_second(s.prompt_ms, n_eval)},
          {"predicted_n", s.n_generated},
          {"predicted_ms", s.gen_ms},
          {"predicted_per_token_ms", per_token(s.gen_ms, s.n_generated)},
          {"predicted_per_second", per_second(s.gen_ms, s.n_generated)}};
}

namespace {

json bytes_of(const std::string& s) {
  json b = json::array();
  for (unsigned char c : s) b.push_back(static_cast<int>(c));
  return b;
}

}  // namespace

json chat_logprobs_json(const Tokenizer& tok, const std::vector<TokenLogprob>& lps) {
  json content = json::array();
  for (const TokenLogprob& lp : lps) {
    const std::string piece = tok.token_to_piece(lp.id, true);
    json top = json::array();
    for (const auto& [id, v] : lp.top) {
      const std::string p = tok.token_to_piece(id, true);
      top.push_back({{"token", p}, {"logprob", v}, {"bytes", bytes_of(p)}});
    }
    content.push_back({{"token", piece}, {"logprob", lp.logprob}, {"bytes", bytes_of(piece)}, {"top_logprobs", top}});
  }
  return {{"content", content}};
}

json completion_logprobs_json(const Tokenizer& tok, const std::vector<TokenLogprob>& lps) {
  json tokens = json::array(), token_logprobs = json::array(), top = json::array();
  for (const TokenLogprob& lp : lps) {
    tokens.push_back(tok.token_to_piece(lp.id, true));
    token_logprobs.push_back(lp.logprob);
    json t = json::object();
    for (const auto& [id, v] : lp.top) t[tok.token_to_piece(id, true)] = v;
    top.push_back(t);
  }
  return {{"tokens", tokens}, {"token_logprobs", token_logprobs}, {"top_logprobs", top}};
}

json chat_chunk(const ResponseMeta& m, json delta, const std::string& finish_reason, const json& logprobs) {
  json choice = {{"index", 0}, {"delta", std::move(delta)}, {"logprobs", logprobs},
                 {"finish_reason", finish_reason.empty() ? json(nullptr) : json(finish_reason)}};
  return {{"id", m.id},       {"object", "chat.completion.chunk"}, {"created", m.created},
          {"model", m.model}, {"system_fingerprint", "deepcpu"},   {"choices", json::array({choice})}};
}

json completion_chunk(const ResponseMeta& m, const std::string& text, const std::string& finish_reason,
                      const json& logprobs) {
  json choice = {{"index", 0}, {"text", text}, {"logprobs", logprobs},
                 {"finish_reason", finish_reason.empty() ? json(nullptr) : json(finish_reason)}};
  return {{"id", m.id},       {"object", "text_completion"},     {"created", m.created},
          {"model", m.model}, {"system_fingerprint", "deepcpu"}, {"choices", json::array({choice})}};
}

std::string dump_json(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

std::string sse_event(const json& j) { return "data: " + dump_json(j) + "\n\n"; }

}  // namespace deepcpu::serve
