// Black-box tests of `deepcpu serve` on loopback with the bundled stories260K model: every
// endpoint, SSE framing and chunk order, usage and timings, and bad input (STYLE.md §7).
#include "serve/serve_util.h"
#include "test_util.h"

#include <gtest/gtest.h>

namespace deepcpu::test {
namespace {

using nlohmann::json;

class ServeApiTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    std::string error;
    server_ = ServerProcess::start({"--chat-template", "chatml", "-np", "2", "--metrics", "-c", "512"}, &error).release();
    if (!server_) FAIL() << error;
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override {
    if (!server_) GTEST_SKIP() << "server did not start";
  }
  static ServerProcess* server_;
};
ServerProcess* ServeApiTest::server_ = nullptr;

json chat_body(const std::string& text, int max_tokens) {
  return {{"messages", {{{"role", "user"}, {"content", text}}}}, {"max_tokens", max_tokens}, {"temperature", 0}};
}

TEST_F(ServeApiTest, HealthModelsProps) {
  HttpReply h = get(*server_, "/health");
  EXPECT_EQ(h.status, 200);
  EXPECT_EQ(h.json["status"], "ok");
  HttpReply m = get(*server_, "/v1/models");
  ASSERT_EQ(m.status, 200);
  EXPECT_EQ(m.json["object"], "list");
  ASSERT_EQ(m.json["data"].size(), 1u);
  EXPECT_EQ(m.json["data"][0]["id"], "stories260K.gguf");
  EXPECT_EQ(m.json["data"][0]["object"], "model");
  HttpReply p = get(*server_, "/props");
  ASSERT_EQ(p.status, 200);
  EXPECT_EQ(p.json["total_slots"], 2);
  EXPECT_EQ(p.json["n_ctx"], 512);
  EXPECT_EQ(p.json["chat_template"], "chatml");
}

TEST_F(ServeApiTest, ChatNonStream) {
  HttpReply r = post(*server_, "/v1/chat/completions", chat_body("Once upon a time", 16));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json["object"], "chat.completion");
  EXPECT_TRUE(r.json["id"].get<std::string>().starts_with("chatcmpl-"));
  const json& choice = r.json["choices"][0];
  EXPECT_EQ(choice["message"]["role"], "assistant");
  EXPECT_FALSE(choice["message"]["content"].get<std::string>().empty());
  EXPECT_EQ(choice["finish_reason"], "length");
  EXPECT_GT(r.json["usage"]["prompt_tokens"].get<int>(), 3);
  EXPECT_EQ(r.json["usage"]["completion_tokens"], 16);
  EXPECT_EQ(r.json["usage"]["total_tokens"].get<int>(),
            r.json["usage"]["prompt_tokens"].get<int>() + r.json["usage"]["completion_tokens"].get<int>());
  for (const char* k : {"prompt_n", "prompt_ms", "prompt_per_second", "predicted_n", "predicted_ms", "predicted_per_second"})
    EXPECT_TRUE(r.json["timings"].contains(k)) << k;
  EXPECT_EQ(r.json["timings"]["predicted_n"], 16);
}

TEST_F(ServeApiTest, ChatStreamFramingOrderAndUsage) {
  json body = chat_body("Once upon a time", 12);
  body["stream"] = true;
  body["stream_options"] = {{"include_usage", true}};
  SseReply s = post_sse(*server_, "/v1/chat/completions", body);
  ASSERT_EQ(s.status, 200) << s.raw;
  EXPECT_TRUE(s.framing_ok) << s.raw;
  EXPECT_TRUE(s.done) << s.raw;
  ASSERT_GE(s.events.size(), 3u);
  // First: the role; then content deltas; then finish_reason; last: usage with no choices.
  EXPECT_EQ(s.events.front()["choices"][0]["delta"]["role"], "assistant");
  const json& usage_chunk = s.events.back();
  EXPECT_TRUE(usage_chunk["choices"].empty());
  EXPECT_EQ(usage_chunk["usage"]["completion_tokens"], 12);
  const json& finish = s.events[s.events.size() - 2];
  EXPECT_EQ(finish["choices"][0]["finish_reason"], "length");
  EXPECT_TRUE(finish.contains("timings"));
  std::string streamed;
  for (size_t i = 1; i + 2 < s.events.size(); ++i) {
    const json& c = s.events[i];
    EXPECT_EQ(c["object"], "chat.completion.chunk");
    EXPECT_EQ(c["id"], s.events.front()["id"]);
    EXPECT_TRUE(c["choices"][0]["finish_reason"].is_null());
    streamed += c["choices"][0]["delta"].value("content", "");
  }
  // The same request without streaming gives the same text (temperature 0).
  HttpReply whole = post(*server_, "/v1/chat/completions", chat_body("Once upon a time", 12));
  EXPECT_EQ(streamed, whole.json["choices"][0]["message"]["content"].get<std::string>());
}

TEST_F(ServeApiTest, StreamWithoutUsageHasNoUsageChunk) {
  json body = chat_body("Hello", 4);
  body["stream"] = true;
  SseReply s = post_sse(*server_, "/v1/chat/completions", body);
  ASSERT_EQ(s.status, 200);
  EXPECT_TRUE(s.done);
  for (const json& e : s.events) EXPECT_FALSE(e.contains("usage") && !e["usage"].is_null());
  EXPECT_EQ(s.events.back()["choices"][0]["finish_reason"], "length");
}

TEST_F(ServeApiTest, CompletionsTextTokensAndStream) {
  json body = {{"prompt", "Once upon a time"}, {"max_tokens", 10}, {"temperature", 0}};
  HttpReply r = post(*server_, "/v1/completions", body);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json["object"], "text_completion");
  const std::string text = r.json["choices"][0]["text"];
  EXPECT_FALSE(text.empty());
  EXPECT_EQ(r.json["usage"]["completion_tokens"], 10);

  // The same prompt as token ids.
  HttpReply t = post(*server_, "/tokenize", json{{"content", "Once upon a time"}, {"add_special", true}});
  ASSERT_EQ(t.status, 200);
  json by_ids = body;
  by_ids["prompt"] = t.json["tokens"];
  HttpReply r2 = post(*server_, "/v1/completions", by_ids);
  ASSERT_EQ(r2.status, 200) << r2.body;
  EXPECT_EQ(r2.json["choices"][0]["text"], text);

  body["stream"] = true;
  SseReply s = post_sse(*server_, "/v1/completions", body);
  ASSERT_EQ(s.status, 200);
  EXPECT_TRUE(s.framing_ok && s.done);
  std::string streamed;
  for (const json& e : s.events) streamed += e["choices"][0]["text"].get<std::string>();
  EXPECT_EQ(streamed, text);
  EXPECT_EQ(s.events.back()["choices"][0]["finish_reason"], "length");
}

TEST_F(ServeApiTest, StopStringEndsBeforeIt) {
  json body = {{"prompt", "Once upon a time"}, {"max_tokens", 40}, {"temperature", 0}};
  const std::string full = post(*server_, "/v1/completions", body).json["choices"][0]["text"];
  ASSERT_GT(full.size(), 10u);
  const std::string stop = full.substr(6, 3);
  body["stop"] = json::array({stop});
  HttpReply r = post(*server_, "/v1/completions", body);
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.json["choices"][0]["text"], full.substr(0, full.find(stop)));
  EXPECT_EQ(r.json["choices"][0]["finish_reason"], "stop");
}

TEST_F(ServeApiTest, Logprobs) {
  json body = chat_body("Once upon a time", 3);
  body["logprobs"] = true;
  body["top_logprobs"] = 2;
  HttpReply r = post(*server_, "/v1/chat/completions", body);
  ASSERT_EQ(r.status, 200) << r.body;
  const json& content = r.json["choices"][0]["logprobs"]["content"];
  ASSERT_EQ(content.size(), 3u);
  EXPECT_LE(content[0]["logprob"].get<double>(), 0.0);
  EXPECT_EQ(content[0]["top_logprobs"].size(), 2u);
  // Greedy: the chosen token is the most likely one.
  EXPECT_EQ(content[0]["token"], content[0]["top_logprobs"][0]["token"]);
}

TEST_F(ServeApiTest, TokenizeDetokenize) {
  HttpReply t = post(*server_, "/tokenize", json{{"content", "Once upon a time"}});
  ASSERT_EQ(t.status, 200);
  ASSERT_FALSE(t.json["tokens"].empty());
  HttpReply d = post(*server_, "/detokenize", json{{"tokens", t.json["tokens"]}});
  ASSERT_EQ(d.status, 200);
  EXPECT_NE(d.json["content"].get<std::string>().find("Once upon a time"), std::string::npos);
  HttpReply p = post(*server_, "/tokenize", json{{"content", "Once"}, {"with_pieces", true}});
  ASSERT_EQ(p.status, 200);
  EXPECT_TRUE(p.json["tokens"][0].contains("piece"));
  EXPECT_EQ(post(*server_, "/detokenize", json{{"tokens", {1, "x"}}}).status, 400);
  EXPECT_EQ(post(*server_, "/detokenize", json{{"tokens", {999999}}}).status, 400);
}

TEST_F(ServeApiTest, SlotsAndMetrics) {
  ASSERT_EQ(post(*server_, "/v1/completions", json{{"prompt", "Hi"}, {"max_tokens", 2}}).status, 200);
  HttpReply s = get(*server_, "/slots");
  ASSERT_EQ(s.status, 200);
  ASSERT_EQ(s.json.size(), 2u);
  EXPECT_TRUE(s.json[0].contains("is_processing"));
  HttpReply m = get(*server_, "/metrics");
  ASSERT_EQ(m.status, 200);
  for (const char* name : {"deepcpu_requests_total", "deepcpu_tokens_predicted_total", "deepcpu_prompt_tokens_total",
                           "deepcpu_slots_busy", "deepcpu_queue_depth", "deepcpu_predicted_tokens_per_second"})
    EXPECT_NE(m.body.find(std::string("\n") + name + " "), std::string::npos) << name;
  EXPECT_NE(m.body.find("# TYPE deepcpu_requests_total counter"), std::string::npos);
}

TEST_F(ServeApiTest, WebPage) {
  HttpReply r = get(*server_, "/");
  EXPECT_EQ(r.status, 200);
  EXPECT_NE(r.body.find("<html"), std::string::npos);
}

void expect_error(const HttpReply& r, int status, const std::string& mentions) {
  EXPECT_EQ(r.status, status) << r.body;
  ASSERT_TRUE(r.json.is_object()) << r.body;
  EXPECT_EQ(r.json["error"]["code"], status);
  EXPECT_TRUE(r.json["error"]["type"].is_string());
  EXPECT_NE(r.json["error"]["message"].get<std::string>().find(mentions), std::string::npos) << r.body;
}

TEST_F(ServeApiTest, BadInputIsOpenAiError) {
  expect_error(post(*server_, "/v1/chat/completions", std::string("{\"messages\": [")), 400, "not valid JSON");
  expect_error(post(*server_, "/v1/chat/completions", std::string("[1,2]")), 400, "JSON object");
  expect_error(post(*server_, "/v1/chat/completions", json{{"messages", "hi"}}), 400, "'messages'");
  expect_error(post(*server_, "/v1/chat/completions", json{{"messages", {{{"role", "user"}, {"content", 5}}}}}), 400,
               "'messages[0].content'");
  json body = chat_body("hi", 2);
  body["temperature"] = "hot";
  expect_error(post(*server_, "/v1/chat/completions", body), 400, "'temperature'");
  body = chat_body("hi", 2);
  body["max_tokens"] = "ten";
  expect_error(post(*server_, "/v1/chat/completions", body), 400, "'max_tokens'");
  body = chat_body("hi", 2);
  body["stop"] = json::array({1});
  expect_error(post(*server_, "/v1/chat/completions", body), 400, "'stop[0]'");
  body = chat_body("hi", 2);
  body["top_p"] = 3;
  expect_error(post(*server_, "/v1/chat/completions", body), 400, "'top_p'");
  body = chat_body("hi", 2);
  body["n"] = 2;
  expect_error(post(*server_, "/v1/chat/completions", body), 400, "'n'");
  expect_error(post(*server_, "/v1/completions", json{{"max_tokens", 3}}), 400, "'prompt'");
  expect_error(get(*server_, "/v1/nothing-here"), 404, "/v1/nothing-here");
  // Still serving after all that.
  EXPECT_EQ(get(*server_, "/health").status, 200);
}

TEST_F(ServeApiTest, HugeBodyIs413) {
  const std::string big = "{\"prompt\":\"" + std::string(9u << 20, 'a') + "\"}";
  HttpReply r = post(*server_, "/v1/completions", big);
  expect_error(r, 413, "larger than");
  EXPECT_EQ(get(*server_, "/health").status, 200);
}

TEST_F(ServeApiTest, ContextExceededNamesBothNumbers) {
  json ids = json::array();
  for (int i = 0; i < 700; ++i) ids.push_back(100 + i % 50);
  HttpReply r = post(*server_, "/v1/completions", json{{"prompt", ids}, {"max_tokens", 4}});
  expect_error(r, 400, "700");
  EXPECT_NE(r.json["error"]["message"].get<std::string>().find("512"), std::string::npos) << r.body;
}

TEST(ServeAuthTest, ApiKeyRequiredExceptHealth) {
  std::string error;
  auto s = ServerProcess::start({"--api-key", "s3cret-key"}, &error);
  ASSERT_TRUE(s) << error;
  const json body = {{"prompt", "Hi"}, {"max_tokens", 2}};
  expect_error(post(*s, "/v1/completions", body.dump()), 401, "API key");
  expect_error(post(*s, "/v1/completions", body.dump(), {{"Authorization", "Bearer wrong-key!"}}), 401, "API key");
  expect_error(post(*s, "/v1/completions", body.dump(), {{"Authorization", "Bearer s3cret-ke"}}), 401, "API key");
  expect_error(get(*s, "/v1/models"), 401, "API key");
  EXPECT_EQ(post(*s, "/v1/completions", body.dump(), {{"Authorization", "Bearer s3cret-key"}}).status, 200);
  EXPECT_EQ(get(*s, "/v1/models", {{"Authorization", "Bearer s3cret-key"}}).status, 200);
  EXPECT_EQ(get(*s, "/health").status, 200);
}

TEST(ServeFlagsTest, UnknownFlagIsNamed) {
  const CommandResult r = run_deepcpu("serve --port 1 --no-such-flag");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("--no-such-flag"), std::string::npos) << r.err;
}

TEST(ServeFlagsTest, MetricsOffByDefault) {
  std::string error;
  auto s = ServerProcess::start({"-np", "1"}, &error);
  ASSERT_TRUE(s) << error;
  EXPECT_EQ(get(*s, "/metrics").status, 501);
  // The bundled model declares no chat template: like llama-server, chat falls back to ChatML.
  EXPECT_EQ(post(*s, "/v1/chat/completions", chat_body("hi", 2)).status, 200);
}

}  // namespace
}  // namespace deepcpu::test
