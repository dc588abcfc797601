// POST /v1/chat/completions and /v1/completions: parse, template, tokenize, submit to the
// scheduler, then either wait for the whole answer or stream it as SSE chunks. A client
// that goes away mid-stream makes a write fail; the request is cancelled and the scheduler
// frees its slot at its next step.
#include "chat/reasoning.h"
#include "serve/http/http_server.h"
#include "serve/openai/response.h"
#include "serve/openai/routes.h"

#include <fmt/format.h>

namespace deepcpu::serve {

using nlohmann::json;

namespace {

constexpr auto kPollInterval = std::chrono::milliseconds(200);

// Chat prompts: the template writes BOS text itself when the model wants it; add it only
// when the vocab asks for one and the text does not begin with it.
std::vector<TokenId> tokenize_chat_prompt(const Tokenizer& tok, const std::string& text) {
  const bool has_bos_text = tok.bos() >= 0 && text.starts_with(tok.token_text(tok.bos()));
  return tok.tokenize(text, tok.add_bos() && !has_bos_text, true);
}

// The state one streamed response carries from the handler into httplib's content provider.
struct Exchange {
  const ServerState* state = nullptr;
  bool chat = true;
  bool stream = false;
  bool include_usage = false;
  bool split_reasoning = false;
  ResponseMeta meta;
  std::shared_ptr<RequestChannel> channel;
  std::unique_ptr<ReasoningSplitter> splitter;
  std::vector<TokenLogprob> pending_logprobs;  // not yet attached to a chunk
  bool logprobs = false;

  const Tokenizer& tok() const { return state->engine->tokenizer(); }

  json logprobs_json(std::vector<TokenLogprob>& lps) const {
    if (!logprobs) return nullptr;
    json j = chat ? chat_logprobs_json(tok(), lps) : completion_logprobs_json(tok(), lps);
    lps.clear();
    return j;
  }

  // SSE chunks for one piece of text (reasoning and answer are separate chunks).
  std::vector<json> chunks_for(const ReasoningDelta& d) {
    std::vector<json> out;
    if (!chat) {
      if (!d.content.empty() || !pending_logprobs.empty())
        out.push_back(completion_chunk(meta, d.content, "", logprobs_json(pending_logprobs)));
      return out;
    }
    if (!d.reasoning.empty())
      out.push_back(chat_chunk(meta, {{"reasoning_content", d.reasoning}}, "", logprobs_json(pending_logprobs)));
    if (!d.content.empty()) out.push_back(chat_chunk(meta, {{"content", d.content}}, "", logprobs_json(pending_logprobs)));
    return out;
  }

  ReasoningDelta split(const std::string& text) {
    if (splitter) return splitter->push(text);
    return ReasoningDelta{"", text};
  }
  ReasoningDelta split_finish() {
    if (splitter) return splitter->finish();
    return {};
  }
};

// Waits for the request to end, gathering the whole answer.
void respond_whole(Exchange& ex, httplib::Response& res) {
  std::string reasoning, content;
  std::vector<TokenLogprob> lps;
  GenerationEvent ev;
  for (;;) {
    if (!ex.channel->pop(&ev, kPollInterval)) continue;
    if (ev.kind == GenerationEvent::Kind::kError) return send_error(res, ev.http_status, ev.error);
    if (ev.kind == GenerationEvent::Kind::kText) {
      const ReasoningDelta d = ex.split(ev.text);
      reasoning += d.reasoning;
      content += d.content;
      lps.insert(lps.end(), ev.logprobs.begin(), ev.logprobs.end());
      continue;
    }
    const ReasoningDelta d = ex.split_finish();
    reasoning += d.reasoning;
    content += d.content;
    json choice;
    if (ex.chat) {
      json message = {{"role", "assistant"}, {"content", content}};
      if (ex.split_reasoning && !reasoning.empty()) message["reasoning_content"] = reasoning;
      choice = {{"index", 0}, {"message", message}, {"logprobs", ex.logprobs_json(lps)}, {"finish_reason", ev.finish_reason}};
    } else {
      choice = {{"index", 0}, {"text", content}, {"logprobs", ex.logprobs_json(lps)}, {"finish_reason", ev.finish_reason}};
    }
    json body = {{"id", ex.meta.id},
                 {"object", ex.chat ? "chat.completion" : "text_completion"},
                 {"created", ex.meta.created},
                 {"model", ex.meta.model},
                 {"system_fingerprint", "deepcpu"},
                 {"choices", json::array({choice})},
                 {"usage", usage_json(ev.stats)},
                 {"timings", timings_json(ev.stats)}};
    return send_json(res, body);
  }
}

// Streams the answer as SSE: a role chunk, text chunks, a chunk with finish_reason and
// timings, the usage chunk when asked (stream_options.include_usage), then [DONE].
void respond_stream(std::shared_ptr<Exchange> ex, httplib::Response& res) {
  res.set_header("Cache-Control", "no-cache");
  res.set_header("X-Accel-Buffering", "no");
  auto provider = [ex](size_t /*offset*/, httplib::DataSink& sink) -> bool {
    auto write = [&](const std::string& s) {
      if (sink.write(s.data(), s.size())) return true;
      ex->channel->cancel();  // the client is gone
      return false;
    };
    if (ex->chat && !write(sse_event(chat_chunk(ex->meta, {{"role", "assistant"}, {"content", ""}}, ""))))
      return false;
    GenerationEvent ev;
    for (;;) {
      if (!ex->channel->pop(&ev, kPollInterval)) {
        if (!sink.is_writable()) {
          ex->channel->cancel();
          return false;
        }
        continue;
      }
      if (ev.kind == GenerationEvent::Kind::kError) {
        write(sse_event(error_json(ev.http_status, ev.error)));
        sink.done();
        return true;
      }
      if (ev.kind == GenerationEvent::Kind::kText) {
        ex->pending_logprobs.insert(ex->pending_logprobs.end(), ev.logprobs.begin(), ev.logprobs.end());
        for (const json& c : ex->chunks_for(ex->split(ev.text)))
          if (!write(sse_event(c))) return false;
        continue;
      }
      for (const json& c : ex->chunks_for(ex->split_finish()))
        if (!write(sse_event(c))) return false;
      json last = ex->chat ? chat_chunk(ex->meta, json::object(), ev.finish_reason, ex->logprobs_json(ex->pending_logprobs))
                           : completion_chunk(ex->meta, "", ev.finish_reason, ex->logprobs_json(ex->pending_logprobs));
      last["timings"] = timings_json(ev.stats);
      if (!write(sse_event(last))) return false;
      if (ex->include_usage) {
        json u = ex->chat ? chat_chunk(ex->meta, json::object(), "") : completion_chunk(ex->meta, "", "");
        u["choices"] = json::array();
        u["usage"] = usage_json(ev.stats);
        u["timings"] = timings_json(ev.stats);
        if (!write(sse_event(u))) return false;
      }
      if (!write("data: [DONE]\n\n")) return false;
      sink.done();
      return true;
    }
  };
  // However the response ends (done, client gone, server stopping), the request stops:
  // cancelling an already finished request does nothing.
  res.set_chunked_content_provider("text/event-stream", provider, [ex](bool) { ex->channel->cancel(); });
}

void handle_generate(const ServerState& state, const httplib::Request& req, httplib::Response& res, bool chat) {
  if (!state.is_ready()) return send_error(res, 503, "the model is loading; retry when GET /health answers 200");
  json body;
  try {
    body = json::parse(req.body);
  } catch (const json::parse_error& e) {
    return send_error(res, 400, fmt::format("request body is not valid JSON: {}", e.what()));
  }
  auto parsed = chat ? parse_chat_request(body, state.config.defaults) : parse_completion_request(body, state.config.defaults);
  if (auto* err = std::get_if<ApiError>(&parsed)) return send_error(res, err->http_status, err->message);
  ParsedRequest& p = std::get<ParsedRequest>(parsed);

  const Tokenizer& tok = state.engine->tokenizer();
  GenerationRequest g = std::move(p.generation);
  if (chat) {
    if (!state.chat_template) return send_error(res, 400, state.chat_template_error);
    g.prompt = tokenize_chat_prompt(tok, state.chat_template->apply(p.messages, true));
  } else if (p.prompt_is_tokens) {
    const int n_vocab = state.engine->n_vocab();
    for (size_t i = 0; i < p.prompt_tokens.size(); ++i) {
      if (p.prompt_tokens[i] < 0 || p.prompt_tokens[i] >= n_vocab)
        return send_error(res, 400,
                          fmt::format("request body: 'prompt[{}]' is token id {}, outside the vocabulary [0, {})", i,
                                      p.prompt_tokens[i], n_vocab));
    }
    g.prompt = std::move(p.prompt_tokens);
  } else {
    g.prompt = tok.tokenize(p.prompt_text, true, true);
  }

  SubmitResult submitted = state.scheduler->submit(std::move(g));
  if (!submitted.channel) {
    if (submitted.http_status == 503) res.set_header("Retry-After", "1");
    return send_error(res, submitted.http_status, submitted.error);
  }

  auto ex = std::make_shared<Exchange>();
  ex->state = &state;
  ex->chat = chat;
  ex->stream = p.stream;
  ex->include_usage = p.include_usage;
  ex->logprobs = p.logprobs;
  ex->meta = new_response_meta(chat, p.model.empty() ? state.config.model_id : p.model);
  ex->channel = submitted.channel;
  ex->split_reasoning = chat && state.config.reasoning_format == ReasoningFormat::kDeepseek;
  if (ex->split_reasoning)
    ex->splitter = std::make_unique<ReasoningSplitter>(state.chat_template->generation_starts_in_reasoning());
  if (p.stream) return respond_stream(ex, res);
  respond_whole(*ex, res);
  ex->channel->cancel();  // a no-op after Done; stops the request if we left early
}

}  // namespace

void add_generation_routes(httplib::Server& server, ServerState& state) {
  auto chat = [&state](const httplib::Request& req, httplib::Response& res) { handle_generate(state, req, res, true); };
  auto completion = [&state](const httplib::Request& req, httplib::Response& res) {
    handle_generate(state, req, res, false);
  };
  server.Post("/v1/chat/completions", chat);
  server.Post("/chat/completions", chat);
  server.Post("/v1/completions", completion);
  server.Post("/completions", completion);
}

}  // namespace deepcpu::serve
