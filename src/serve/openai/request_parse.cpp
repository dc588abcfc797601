// See request_parse.h. Unknown fields are ignored, as OpenAI's clients send many we do not
// use (user, metadata, ...); known fields are checked for type and range.
#include "serve/openai/request_parse.h"

#include <fmt/format.h>

#include <cmath>
#include <limits>

namespace deepcpu::serve {

using nlohmann::json;

std::string json_kind(const json& v) {
  switch (v.type()) {
    case json::value_t::null: return "null";
    case json::value_t::boolean: return "a boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned: return "an integer";
    case json::value_t::number_float: return "a number";
    case json::value_t::string: return "a string";
    case json::value_t::array: return "an array";
    case json::value_t::object: return "an object";
    default: return "an unsupported value";
  }
}

namespace {

// Thrown only inside this file and caught by the two parse functions: it keeps each field
// read to one line. Nothing escapes to the HTTP layer.
struct FieldError {
  std::string message;
};

[[noreturn]] void bad(const std::string& field, const std::string& expected, const json& got) {
  throw FieldError{fmt::format("request body: '{}' must be {}; got {}.", field, expected, json_kind(got))};
}
[[noreturn]] void bad_value(const std::string& field, const std::string& why) {
  throw FieldError{fmt::format("request body: '{}' {}.", field, why)};
}

const json* field(const json& body, const char* name) {
  auto it = body.find(name);
  if (it == body.end() || it->is_null()) return nullptr;
  return &*it;
}

std::optional<double> get_number(const json& body, const char* name) {
  const json* v = field(body, name);
  if (!v) return std::nullopt;
  if (!v->is_number()) bad(name, "a number", *v);
  const double d = v->get<double>();
  if (!std::isfinite(d)) bad_value(name, "must be finite");
  return d;
}

std::optional<int64_t> get_int(const json& body, const char* name) {
  const json* v = field(body, name);
  if (!v) return std::nullopt;
  if (v->is_number_integer() || v->is_number_unsigned()) {
    if (v->is_number_unsigned() && v->get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      bad_value(name, "is too large");
    return v->get<int64_t>();
  }
  // 5.0 is accepted as 5 (JavaScript clients have one number type).
  if (v->is_number_float()) {
    const double d = v->get<double>();
    if (std::isfinite(d) && d == std::floor(d) && std::abs(d) < 9e15) return static_cast<int64_t>(d);
  }
  bad(name, "an integer", *v);
}

std::optional<bool> get_bool(const json& body, const char* name) {
  const json* v = field(body, name);
  if (!v) return std::nullopt;
  if (!v->is_boolean()) bad(name, "a boolean", *v);
  return v->get<bool>();
}

int clamp_int(int64_t v, const char* name, int64_t lo, int64_t hi) {
  if (v < lo || v > hi) bad_value(name, fmt::format("must be between {} and {}; got {}", lo, hi, v));
  return static_cast<int>(v);
}

// Fields shared by both endpoints: sampling, stop, max tokens, streaming.
void parse_common(const json& body, const RequestDefaults& defaults, ParsedRequest& r) {
  if (!body.is_object()) throw FieldError{fmt::format("request body must be a JSON object; got {}.", json_kind(body))};
  GenerationRequest& g = r.generation;
  g.sampling = defaults.sampling;
  g.max_tokens = defaults.n_predict;
  if (const json* m = field(body, "model")) {
    if (!m->is_string()) bad("model", "a string", *m);
    r.model = m->get<std::string>();
  }
  if (auto v = get_bool(body, "stream")) r.stream = *v;
  if (const json* so = field(body, "stream_options")) {
    if (!so->is_object()) bad("stream_options", "an object", *so);
    if (auto v = get_bool(*so, "include_usage")) r.include_usage = *v;
  }
  // max_completion_tokens is the newer name; -1 keeps llama.cpp's "no limit".
  for (const char* name : {"max_tokens", "max_completion_tokens", "n_predict"}) {
    if (auto v = get_int(body, name)) g.max_tokens = clamp_int(*v, name, -1, std::numeric_limits<int>::max());
  }
  if (auto v = get_number(body, "temperature")) {
    if (*v < 0) bad_value("temperature", fmt::format("must be >= 0; got {}", *v));
    g.sampling.temperature = static_cast<float>(*v);
  }
  if (auto v = get_number(body, "top_p")) {
    if (*v < 0 || *v > 1) bad_value("top_p", fmt::format("must be between 0 and 1; got {}", *v));
    g.sampling.top_p = static_cast<float>(*v);
  }
  if (auto v = get_int(body, "top_k")) g.sampling.top_k = clamp_int(*v, "top_k", -1, std::numeric_limits<int>::max());
  if (auto v = get_number(body, "min_p")) {
    if (*v < 0 || *v > 1) bad_value("min_p", fmt::format("must be between 0 and 1; got {}", *v));
    g.sampling.min_p = static_cast<float>(*v);
  }
  if (auto v = get_number(body, "presence_penalty")) {
    if (*v < -2 || *v > 2) bad_value("presence_penalty", fmt::format("must be between -2 and 2; got {}", *v));
    g.sampling.presence_penalty = static_cast<float>(*v);
  }
  if (auto v = get_number(body, "frequency_penalty")) {
    if (*v < -2 || *v > 2) bad_value("frequency_penalty", fmt::format("must be between -2 and 2; got {}", *v));
    g.sampling.frequency_penalty = static_cast<float>(*v);
  }
  if (auto v = get_number(body, "repeat_penalty")) {
    if (*v < 0) bad_value("repeat_penalty", fmt::format("must be >= 0; got {}", *v));
    g.sampling.repeat_penalty = static_cast<float>(*v);
  }
  if (auto v = get_int(body, "seed")) {
    // Negative seeds (llama.cpp's -1) mean "random".
    g.sampling.seed = *v < 0 ? kRandomSeed : static_cast<uint64_t>(*v);
  }
  if (auto v = get_bool(body, "ignore_eos")) g.ignore_eos = *v;
  if (auto v = get_int(body, "n")) {
    if (*v != 1) bad_value("n", fmt::format("must be 1 (one choice per request is supported); got {}", *v));
  }
  if (const json* s = field(body, "stop")) {
    if (s->is_string()) {
      g.stop.push_back(s->get<std::string>());
    } else if (s->is_array()) {
      for (size_t i = 0; i < s->size(); ++i) {
        if (!(*s)[i].is_string()) bad(fmt::format("stop[{}]", i), "a string", (*s)[i]);
        g.stop.push_back((*s)[i].get<std::string>());
      }
    } else {
      bad("stop", "a string or an array of strings", *s);
    }
  }
  if (Status st = Sampler::validate(g.sampling); !st.is_ok()) throw FieldError{"request body: " + st.message()};
}

std::string message_content(const json& content, size_t i) {
  const std::string name = fmt::format("messages[{}].content", i);
  if (content.is_null()) return "";
  if (content.is_string()) return content.get<std::string>();
  if (!content.is_array()) bad(name, "a string or an array of parts", content);
  std::string text;
  for (size_t k = 0; k < content.size(); ++k) {
    const json& part = content[k];
    const std::string pname = fmt::format("{}[{}]", name, k);
    if (part.is_string()) {  // lenient: a bare string part
      text += part.get<std::string>();
      continue;
    }
    if (!part.is_object()) bad(pname, "an object", part);
    const json* type = field(part, "type");
    if (!type || !type->is_string()) bad(pname + ".type", "a string", type ? *type : json());
    if (*type != "text")
      bad_value(pname + ".type", fmt::format("'{}' is not supported; only 'text' parts are", type->get<std::string>()));
    const json* t = field(part, "text");
    if (!t || !t->is_string()) bad(pname + ".text", "a string", t ? *t : json());
    text += t->get<std::string>();
  }
  return text;
}

template <typename Fn>
std::variant<ParsedRequest, ApiError> guarded(Fn&& fn) {
  try {
    return fn();
  } catch (const FieldError& e) {
    return ApiError{400, e.message};
  } catch (const json::exception& e) {
    return ApiError{400, fmt::format("request body: {}", e.what())};
  }
}

}  // namespace

std::variant<ParsedRequest, ApiError> parse_chat_request(const json& body, const RequestDefaults& defaults) {
  return guarded([&] {
    ParsedRequest r;
    parse_common(body, defaults, r);
    const json* msgs = field(body, "messages");
    if (!msgs) throw FieldError{"request body: 'messages' is required."};
    if (!msgs->is_array()) bad("messages", "an array", *msgs);
    if (msgs->empty()) bad_value("messages", "must hold at least one message");
    for (size_t i = 0; i < msgs->size(); ++i) {
      const json& m = (*msgs)[i];
      if (!m.is_object()) bad(fmt::format("messages[{}]", i), "an object", m);
      const json* role = field(m, "role");
      if (!role || !role->is_string()) bad(fmt::format("messages[{}].role", i), "a string", role ? *role : json());
      const std::string rs = role->get<std::string>();
      if (rs != "system" && rs != "developer" && rs != "user" && rs != "assistant" && rs != "tool")
        bad_value(fmt::format("messages[{}].role", i),
                  fmt::format("'{}' is not one of system, developer, user, assistant, tool", rs));
      auto it = m.find("content");
      r.messages.push_back(ChatMessage{rs, it == m.end() ? std::string() : message_content(*it, i)});
    }
    if (const json* lp = field(body, "logprobs")) {
      if (!lp->is_boolean()) bad("logprobs", "a boolean", *lp);
      r.logprobs = lp->get<bool>();
    }
    if (auto v = get_int(body, "top_logprobs")) {
      r.top_logprobs = clamp_int(*v, "top_logprobs", 0, 20);
      if (!r.logprobs) bad_value("top_logprobs", "needs 'logprobs': true");
    }
    r.generation.n_logprobs = r.logprobs ? r.top_logprobs : -1;
    return r;
  });
}

std::variant<ParsedRequest, ApiError> parse_completion_request(const json& body, const RequestDefaults& defaults) {
  return guarded([&] {
    ParsedRequest r;
    parse_common(body, defaults, r);
    const json* p = field(body, "prompt");
    if (!p) throw FieldError{"request body: 'prompt' is required."};
    // A string, a list of token ids, or a list holding one of those (OpenAI allows batches;
    // one prompt per request is supported).
    const json* one = p;
    if (p->is_array() && p->size() == 1 && ((*p)[0].is_string() || (*p)[0].is_array())) one = &(*p)[0];
    if (one->is_string()) {
      r.prompt_text = one->get<std::string>();
    } else if (one->is_array()) {
      r.prompt_is_tokens = true;
      for (size_t i = 0; i < one->size(); ++i) {
        const json& t = (*one)[i];
        if (!t.is_number_integer() && !t.is_number_unsigned()) {
          if (t.is_string()) bad_value("prompt", "must be one string, or token ids; a list of several prompts is not supported");
          bad(fmt::format("prompt[{}]", i), "a token id (integer)", t);
        }
        r.prompt_tokens.push_back(t.get<TokenId>());
      }
    } else {
      bad("prompt", "a string or an array of token ids", *p);
    }
    if (auto v = get_int(body, "logprobs")) {
      r.logprobs = true;
      r.top_logprobs = clamp_int(*v, "logprobs", 0, 20);
    } else if (const json* lp = field(body, "logprobs"); lp && lp->is_boolean()) {
      r.logprobs = lp->get<bool>();
    }
    r.generation.n_logprobs = r.logprobs ? r.top_logprobs : -1;
    return r;
  });
}

}  // namespace deepcpu::serve
