// Everything that is not generation: health, model list, server properties, slots,
// Prometheus metrics, tokenize/detokenize, and the web chat page at GET /.
#include "serve/http/http_server.h"
#include "serve/openai/request_parse.h"
#include "serve/openai/response.h"
#include "serve/openai/routes.h"

#if __has_include("serve/webui/webui.h")
#include "serve/webui/webui.h"
#define DEEPCPU_HAVE_WEBUI 1
#endif

#include <fmt/format.h>

#include <chrono>

namespace deepcpu::serve {

using nlohmann::json;

namespace {

std::string_view index_html() {
#ifdef DEEPCPU_HAVE_WEBUI
  return webui_index_html();
#else
  return "<!doctype html><html><head><meta charset=utf-8><title>deepcpu</title></head>"
         "<body><p>deepcpu is serving the OpenAI API at /v1 (this build has no web page).</p></body></html>";
#endif
}

bool require_ready(const ServerState& state, httplib::Response& res) {
  if (state.is_ready()) return true;
  send_error(res, 503, "the model is loading; retry when GET /health answers 200");
  return false;
}

// Parses a JSON object body; on failure the response already holds the 400.
std::optional<json> object_body(const httplib::Request& req, httplib::Response& res) {
  try {
    json j = json::parse(req.body);
    if (!j.is_object()) {
      send_error(res, 400, fmt::format("request body must be a JSON object; got {}.", json_kind(j)));
      return std::nullopt;
    }
    return j;
  } catch (const json::parse_error& e) {
    send_error(res, 400, fmt::format("request body is not valid JSON: {}", e.what()));
    return std::nullopt;
  }
}

std::string metrics_text(const ServerState& state) {
  const SchedulerMetrics m = state.scheduler->metrics();
  std::string out;
  auto metric = [&](const char* name, const char* type, const char* help, double value) {
    out += fmt::format("# HELP deepcpu_{0} {1}\n# TYPE deepcpu_{0} {2}\ndeepcpu_{0} {3}\n", name, help, type, value);
  };
  metric("requests_total", "counter", "Requests admitted to a slot.", static_cast<double>(m.requests_total));
  metric("requests_rejected_total", "counter", "Requests refused with 503 because the queue was full.",
         static_cast<double>(m.requests_rejected));
  metric("requests_cancelled_total", "counter", "Requests whose client went away before the end.",
         static_cast<double>(m.requests_cancelled));
  metric("kv_cache_full_total", "counter", "Requests ended early because the shared KV cache was full.",
         static_cast<double>(m.kv_exhausted_total));
  metric("prompt_tokens_total", "counter", "Prompt tokens evaluated (cache hits excluded).",
         static_cast<double>(m.prompt_tokens_total));
  metric("prompt_seconds_total", "counter", "Time spent on prompts.", m.prompt_seconds_total);
  metric("tokens_predicted_total", "counter", "Tokens generated.", static_cast<double>(m.tokens_predicted_total));
  metric("tokens_predicted_seconds_total", "counter", "Time spent generating.", m.predicted_seconds_total);
  metric("prompt_tokens_per_second", "gauge", "Average prompt throughput.",
         m.prompt_seconds_total > 0 ? m.prompt_tokens_total / m.prompt_seconds_total : 0.0);
  metric("predicted_tokens_per_second", "gauge", "Average generation throughput per request.",
         m.predicted_seconds_total > 0 ? m.tokens_predicted_total / m.predicted_seconds_total : 0.0);
  metric("steps_total", "counter", "Engine steps (batched forward passes).", static_cast<double>(m.steps_total));
  metric("slots_total", "gauge", "Slots (-np).", state.config.n_slots);
  metric("slots_busy", "gauge", "Slots working on a request now.", m.slots_busy);
  metric("slots_busy_max", "gauge", "The most slots busy at once since start.", m.slots_busy_max);
  metric("queue_depth", "gauge", "Requests waiting for a slot.", static_cast<double>(m.queue_depth));
  metric("queue_capacity", "gauge", "Requests that may wait before 503.", static_cast<double>(m.queue_capacity));
  // llama-server's names for the same gauges, so dashboards and load tools written for it
  // (e.g. ../shared/tools/chat_load.py) read deepcpu unchanged.
  auto llama_metric = [&](const char* name, const char* help, double value) {
    out += fmt::format("# HELP llamacpp:{0} {1}\n# TYPE llamacpp:{0} gauge\nllamacpp:{0} {2}\n", name, help, value);
  };
  llama_metric("requests_processing", "Requests being processed (busy slots).", m.slots_busy);
  llama_metric("requests_deferred", "Requests waiting for a slot.", static_cast<double>(m.queue_depth));
  return out;
}

json sampling_json(const ServeConfig& c) {
  const SamplingParams& s = c.defaults.sampling;
  return {{"n_predict", c.defaults.n_predict}, {"temperature", s.temperature}, {"top_k", s.top_k},
          {"top_p", s.top_p},                  {"min_p", s.min_p},             {"repeat_penalty", s.repeat_penalty},
          {"repeat_last_n", s.repeat_last_n},  {"seed", s.seed}};
}

}  // namespace

void add_info_routes(httplib::Server& server, ServerState& state) {
  server.Get("/health", [&state](const httplib::Request&, httplib::Response& res) {
    if (!state.is_ready()) {
      res.set_header("Retry-After", "1");
      return send_error(res, 503, "Loading model");
    }
    send_json(res, {{"status", "ok"}});
  });

  auto models = [&state](const httplib::Request&, httplib::Response& res) {
    const int64_t created =
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    json model = {{"id", state.config.model_id}, {"object", "model"}, {"created", created}, {"owned_by", "deepcpu"}};
    if (state.is_ready()) {
      const ModelSummary& s = state.engine->summary();
      model["meta"] = {{"arch", s.arch},       {"n_params", s.n_params}, {"size", s.weight_bytes},
                       {"n_vocab", s.n_vocab}, {"n_ctx_train", s.n_ctx_train}};
    }
    send_json(res, {{"object", "list"}, {"data", json::array({model})}});
  };
  server.Get("/v1/models", models);
  server.Get("/models", models);

  server.Get("/props", [&state](const httplib::Request&, httplib::Response& res) {
    const ServeConfig& c = state.config;
    json props = {{"model_path", c.model_path},
                  {"model_alias", c.model_id},
                  {"total_slots", c.n_slots},
                  {"n_ctx", c.n_ctx},
                  {"default_generation_settings", {{"n_ctx", c.n_ctx}, {"params", sampling_json(c)}}},
                  {"reasoning_format", c.reasoning_format == ReasoningFormat::kDeepseek ? "deepseek" : "none"},
                  {"webui", c.webui},
                  {"is_loading", !state.is_ready()},
                  {"build_info", "deepcpu"}};
    if (state.is_ready()) {
      props["chat_template"] = state.chat_template ? state.chat_template->name() : "";
      props["generation_starts_in_reasoning"] =
          state.chat_template ? state.chat_template->generation_starts_in_reasoning() : false;
      props["model_arch"] = state.engine->summary().arch;
    }
    send_json(res, props);
  });

  server.Get("/slots", [&state](const httplib::Request&, httplib::Response& res) {
    if (!require_ready(state, res)) return;
    json slots = json::array();
    for (const SlotInfo& s : state.scheduler->slots()) {
      slots.push_back({{"id", s.id},
                       {"is_processing", s.busy},
                       {"n_ctx", state.config.n_ctx},
                       {"n_prompt_tokens", s.n_prompt},
                       {"n_cached", s.n_cached},
                       {"n_decoded", s.n_generated}});
    }
    send_json(res, slots);
  });

  server.Get("/metrics", [&state](const httplib::Request&, httplib::Response& res) {
    if (!state.config.metrics)
      return send_error(res, 501, "metrics are off: start the server with --metrics to enable GET /metrics");
    if (!require_ready(state, res)) return;
    res.set_content(metrics_text(state), "text/plain; version=0.0.4");
  });

  server.Post("/tokenize", [&state](const httplib::Request& req, httplib::Response& res) {
    if (!require_ready(state, res)) return;
    auto body = object_body(req, res);
    if (!body) return;
    auto content = body->find("content");
    if (content == body->end() || !content->is_string())
      return send_error(res, 400,
                        fmt::format("request body: 'content' must be a string; got {}.",
                                    content == body->end() ? "nothing" : json_kind(*content)));
    bool add_special = false, with_pieces = false;
    for (auto [name, out] : {std::pair{"add_special", &add_special}, std::pair{"with_pieces", &with_pieces}}) {
      auto it = body->find(name);
      if (it == body->end() || it->is_null()) continue;
      if (!it->is_boolean())
        return send_error(res, 400, fmt::format("request body: '{}' must be a boolean; got {}.", name, json_kind(*it)));
      *out = it->get<bool>();
    }
    const Tokenizer& tok = state.engine->tokenizer();
    const std::vector<TokenId> ids = tok.tokenize(content->get<std::string>(), add_special, true);
    json tokens = json::array();
    for (TokenId id : ids) {
      if (with_pieces) tokens.push_back({{"id", id}, {"piece", tok.token_to_piece(id, true)}});
      else tokens.push_back(id);
    }
    send_json(res, {{"tokens", tokens}});
  });

  server.Post("/detokenize", [&state](const httplib::Request& req, httplib::Response& res) {
    if (!require_ready(state, res)) return;
    auto body = object_body(req, res);
    if (!body) return;
    auto tokens = body->find("tokens");
    if (tokens == body->end() || !tokens->is_array())
      return send_error(res, 400,
                        fmt::format("request body: 'tokens' must be an array of token ids; got {}.",
                                    tokens == body->end() ? "nothing" : json_kind(*tokens)));
    const int n_vocab = state.engine->n_vocab();
    std::vector<TokenId> ids;
    for (size_t i = 0; i < tokens->size(); ++i) {
      const json& t = (*tokens)[i];
      if (!t.is_number_integer() && !t.is_number_unsigned())
        return send_error(res, 400, fmt::format("request body: 'tokens[{}]' must be an integer; got {}.", i, json_kind(t)));
      const int64_t id = t.get<int64_t>();
      if (id < 0 || id >= n_vocab)
        return send_error(res, 400,
                          fmt::format("request body: 'tokens[{}]' is {}, outside the vocabulary [0, {})", i, id, n_vocab));
      ids.push_back(static_cast<TokenId>(id));
    }
    send_json(res, {{"content", state.engine->tokenizer().detokenize(ids, true)}});
  });

  if (state.config.webui) {
    auto page = [](const httplib::Request&, httplib::Response& res) {
      const std::string_view html = index_html();
      res.set_content(html.data(), html.size(), "text/html; charset=utf-8");
    };
    server.Get("/", page);
    server.Get("/index.html", page);
  }
}

}  // namespace deepcpu::serve
