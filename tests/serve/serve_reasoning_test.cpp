// R1 reasoning split end to end on ds3-tiny (deepseek2 with R1's chat template, whose
// generation prompt opens <think>): with --reasoning-format deepseek the thinking arrives in
// reasoning_content (whole and streamed), with none as raw content; an unclosed <think> at
// max_tokens still returns what was generated.
#include "serve/serve_util.h"
#include "test_util.h"

#include <gtest/gtest.h>

namespace deepcpu::test {
namespace {

using nlohmann::json;

json chat(int max_tokens, bool stream) {
  json body = {{"messages", {{{"role", "system"}, {"content", "Be brief."}}, {{"role", "user"}, {"content", "What is 2+2?"}}}},
               {"max_tokens", max_tokens},
               {"temperature", 0}};
  if (stream) body["stream"] = true;
  return body;
}

std::unique_ptr<ServerProcess> start_ds3(const std::vector<std::string>& extra, std::string* error) {
  const std::string model = fixture("models/ds3-tiny-Q8_0.gguf");
  if (model.empty()) return nullptr;
  std::vector<std::string> args = {"-m", model, "-c", "1024"};
  args.insert(args.end(), extra.begin(), extra.end());
  return ServerProcess::start(args, error);
}

TEST(ServeReasoningTest, DeepseekFormatSplitsThinking) {
  if (fixture("models/ds3-tiny-Q8_0.gguf").empty()) GTEST_SKIP() << "models/ds3-tiny-Q8_0.gguf not found";
  std::string error;
  auto s = start_ds3({}, &error);
  ASSERT_TRUE(s) << error;
  EXPECT_EQ(get(*s, "/props").json["chat_template"], "deepseek-r1");

  HttpReply r = post(*s, "/v1/chat/completions", chat(24, false));
  ASSERT_EQ(r.status, 200) << r.body;
  const json& msg = r.json["choices"][0]["message"];
  // Random weights never close </think>: everything is thinking, cut at max_tokens.
  EXPECT_EQ(r.json["choices"][0]["finish_reason"], "length");
  ASSERT_TRUE(msg.contains("reasoning_content")) << r.body;
  const std::string reasoning = msg["reasoning_content"];
  EXPECT_FALSE(reasoning.empty());
  EXPECT_EQ(reasoning.find("<think>"), std::string::npos);
  EXPECT_EQ(msg["content"], "");

  SseReply sse = post_sse(*s, "/v1/chat/completions", chat(24, true));
  ASSERT_EQ(sse.status, 200);
  EXPECT_TRUE(sse.framing_ok && sse.done);
  std::string streamed_reasoning, streamed_content;
  for (const json& e : sse.events) {
    if (e["choices"].empty()) continue;
    const json& d = e["choices"][0]["delta"];
    streamed_reasoning += d.value("reasoning_content", "");
    streamed_content += d.value("content", "");
  }
  EXPECT_EQ(streamed_reasoning, reasoning);
  EXPECT_EQ(streamed_content, "");
}

TEST(ServeReasoningTest, NoneFormatLeavesRawText) {
  if (fixture("models/ds3-tiny-Q8_0.gguf").empty()) GTEST_SKIP() << "models/ds3-tiny-Q8_0.gguf not found";
  std::string error;
  auto raw_server = start_ds3({"--reasoning-format", "none"}, &error);
  ASSERT_TRUE(raw_server) << error;
  HttpReply raw = post(*raw_server, "/v1/chat/completions", chat(24, false));
  ASSERT_EQ(raw.status, 200) << raw.body;
  const json& msg = raw.json["choices"][0]["message"];
  EXPECT_FALSE(msg.contains("reasoning_content"));
  const std::string content = msg["content"];
  ASSERT_FALSE(content.empty());
  raw_server.reset();

  auto split_server = start_ds3({"--reasoning-format", "deepseek"}, &error);
  ASSERT_TRUE(split_server) << error;
  HttpReply split = post(*split_server, "/v1/chat/completions", chat(24, false));
  ASSERT_EQ(split.status, 200);
  // Same tokens; the split only moves the text (leading blank lines of the thinking dropped).
  const std::string reasoning = split.json["choices"][0]["message"]["reasoning_content"];
  EXPECT_NE(content.find(reasoning), std::string::npos) << content << "\n---\n" << reasoning;
  EXPECT_EQ(raw.json["usage"]["completion_tokens"], split.json["usage"]["completion_tokens"]);
}

}  // namespace
}  // namespace deepcpu::test
