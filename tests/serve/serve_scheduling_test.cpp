// The scheduler seen from outside: slots and the FIFO queue, batch invariance (the same
// greedy output alone, beside others, at any -ub), a client hanging up mid-stream, and the
// bounded queue's 503.
#include "serve/serve_util.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

namespace deepcpu::test {
namespace {

using nlohmann::json;

const char* kPrompts[8] = {"Once upon a time", "The little dog", "Lily and Ben went", "One day, a bird",
                           "There was a big", "Tom liked to", "The sun was", "Mom said"};

json completion(const std::string& prompt, int max_tokens) {
  return {{"prompt", prompt}, {"max_tokens", max_tokens}, {"temperature", 0}};
}

// The texts of the 8 prompts, each request alone, one after the other.
std::vector<std::string> run_sequential(const ServerProcess& s, int max_tokens) {
  std::vector<std::string> out;
  for (const char* p : kPrompts) {
    HttpReply r = post(s, "/v1/completions", completion(p, max_tokens));
    EXPECT_EQ(r.status, 200) << r.body;
    out.push_back(r.json.is_object() ? r.json["choices"][0]["text"].get<std::string>() : "");
  }
  return out;
}

// The 8 prompts at once (half of them streamed); watches /slots meanwhile.
std::vector<std::string> run_concurrent(const ServerProcess& s, int max_tokens, int* max_busy_seen) {
  std::vector<std::string> out(8);
  std::vector<std::thread> threads;
  std::atomic<bool> finished{false};
  std::thread watcher([&] {
    while (!finished.load()) {
      HttpReply r = get(s, "/slots");
      if (r.json.is_array()) {
        int busy = 0;
        for (const json& slot : r.json) busy += slot["is_processing"].get<bool>() ? 1 : 0;
        *max_busy_seen = std::max(*max_busy_seen, busy);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  });
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      json body = completion(kPrompts[i], max_tokens);
      if (i % 2 == 1) {
        body["stream"] = true;
        SseReply sse = post_sse(s, "/v1/completions", body);
        EXPECT_EQ(sse.status, 200) << sse.raw;
        EXPECT_TRUE(sse.done);
        for (const json& e : sse.events) out[i] += e["choices"][0]["text"].get<std::string>();
      } else {
        HttpReply r = post(s, "/v1/completions", body);
        EXPECT_EQ(r.status, 200) << r.body;
        if (r.json.is_object()) out[i] = r.json["choices"][0]["text"];
      }
    });
  }
  for (auto& t : threads) t.join();
  finished = true;
  watcher.join();
  return out;
}

int metric(const ServerProcess& s, const std::string& name) {
  const std::string body = get(s, "/metrics").body;
  const size_t at = body.find("\n" + name + " ");
  if (at == std::string::npos) return -1;
  return std::stoi(body.substr(at + name.size() + 2));
}

TEST(ServeSchedulingTest, EightRequestsFourSlotsSameAsOneByOne) {
  std::string error;
  // A short step delay keeps requests overlapping on this tiny, fast model.
  auto s = ServerProcess::start({"-np", "4", "--metrics", "--step-delay-ms", "2"}, &error);
  ASSERT_TRUE(s) << error;
  const std::vector<std::string> alone = run_sequential(*s, 24);
  int max_busy = 0;
  const std::vector<std::string> together = run_concurrent(*s, 24, &max_busy);
  for (int i = 0; i < 8; ++i) {
    EXPECT_FALSE(alone[i].empty()) << kPrompts[i];
    EXPECT_EQ(alone[i], together[i]) << kPrompts[i];
  }
  EXPECT_LE(max_busy, 4);
  EXPECT_GE(max_busy, 2) << "requests never overlapped";
  EXPECT_LE(metric(*s, "deepcpu_slots_busy_max"), 4);
  EXPECT_EQ(metric(*s, "deepcpu_requests_total"), 16);
}

TEST(ServeSchedulingTest, UbatchDoesNotChangeOutput) {
  std::string error;
  auto big = ServerProcess::start({"-np", "4", "-ub", "512"}, &error);
  ASSERT_TRUE(big) << error;
  int unused = 0;
  const std::vector<std::string> a = run_concurrent(*big, 20, &unused);
  big.reset();
  auto small = ServerProcess::start({"-np", "4", "-ub", "7", "--step-delay-ms", "1"}, &error);
  ASSERT_TRUE(small) << error;
  const std::vector<std::string> b = run_concurrent(*small, 20, &unused);
  const std::vector<std::string> c = run_sequential(*small, 20);
  for (int i = 0; i < 8; ++i) {
    EXPECT_EQ(a[i], b[i]) << kPrompts[i];
    EXPECT_EQ(a[i], c[i]) << kPrompts[i];
  }
}

TEST(ServeSchedulingTest, PrefixReuseGivesTheSameAnswer) {
  std::string error;
  auto s = ServerProcess::start({"-np", "1"}, &error);
  ASSERT_TRUE(s) << error;
  const json body = completion("Once upon a time, there was a little girl", 16);
  HttpReply first = post(*s, "/v1/completions", body);
  HttpReply again = post(*s, "/v1/completions", body);
  ASSERT_EQ(first.status, 200);
  ASSERT_EQ(again.status, 200);
  EXPECT_EQ(first.json["choices"][0]["text"], again.json["choices"][0]["text"]);
  EXPECT_EQ(first.json["timings"]["cache_n"], 0);
  EXPECT_GT(again.json["timings"]["cache_n"].get<int>(), 0);
  EXPECT_EQ(again.json["usage"]["prompt_tokens"], first.json["usage"]["prompt_tokens"]);
}

TEST(ServeSchedulingTest, DisconnectMidStreamFreesTheSlot) {
  std::string error;
  auto s = ServerProcess::start({"-np", "1", "--metrics", "--step-delay-ms", "20"}, &error);
  ASSERT_TRUE(s) << error;
  // 2000 tokens at >= 20 ms a step would take 40 s: only a cancel ends it soon.
  json body = {{"prompt", "Once upon a time"}, {"max_tokens", 2000}, {"ignore_eos", true}, {"stream", true}};
  const std::string got = post_and_hang_up(*s, "/v1/completions", body, 600);
  ASSERT_NE(got.find("data: "), std::string::npos) << got;
  // The next request gets the slot and finishes.
  const auto t0 = std::chrono::steady_clock::now();
  HttpReply r = post(*s, "/v1/completions", completion("The little dog", 4));
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(20));
  EXPECT_EQ(metric(*s, "deepcpu_requests_cancelled_total"), 1);
}

TEST(ServeSchedulingTest, FullQueueAnswers503WithRetryAfter) {
  std::string error;
  auto s = ServerProcess::start({"-np", "1", "--queue-size", "1", "--metrics", "--step-delay-ms", "20"}, &error);
  ASSERT_TRUE(s) << error;
  const json long_body = {{"prompt", "Once upon a time"}, {"max_tokens", 2000}, {"ignore_eos", true}, {"stream", true}};
  auto wait_for = [&](auto pred) {
    for (int i = 0; i < 1000 && !pred(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    return pred();
  };
  // A occupies the slot, B waits in the queue, C finds the queue full.
  RawRequest a(*s, "/v1/completions", long_body);
  ASSERT_TRUE(wait_for([&] { return metric(*s, "deepcpu_slots_busy") == 1; }));
  RawRequest b(*s, "/v1/completions", long_body);
  ASSERT_TRUE(wait_for([&] { return metric(*s, "deepcpu_queue_depth") == 1; }));
  HttpReply c = post(*s, "/v1/completions", long_body);
  EXPECT_EQ(c.status, 503) << c.body;
  ASSERT_TRUE(c.json.is_object()) << c.body;
  EXPECT_NE(c.json["error"]["message"].get<std::string>().find("queue"), std::string::npos) << c.body;
  EXPECT_EQ(c.headers.count("Retry-After"), 1u);
  EXPECT_EQ(metric(*s, "deepcpu_requests_rejected_total"), 1);
  EXPECT_EQ(metric(*s, "deepcpu_slots_busy"), 1);
}

TEST(ServeSchedulingTest, FullKvPoolEndsTheNewestWithLength) {
  std::string error;
  // -c 256 shared by 4 slots: four requests of 250 tokens cannot all fit at once.
  auto s = ServerProcess::start({"-np", "4", "-c", "256", "--metrics", "--step-delay-ms", "3"}, &error);
  ASSERT_TRUE(s) << error;
  const json body = {{"prompt", "Once upon a time"}, {"max_tokens", 250}, {"ignore_eos", true}, {"temperature", 0}};
  std::vector<HttpReply> replies(4);
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) threads.emplace_back([&, i] { replies[i] = post(*s, "/v1/completions", body); });
  for (auto& t : threads) t.join();
  int cut_short = 0;
  for (const HttpReply& r : replies) {
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.json["choices"][0]["finish_reason"], "length");
    cut_short += r.json["usage"]["completion_tokens"].get<int>() < 250 ? 1 : 0;
  }
  EXPECT_GE(cut_short, 1);
  EXPECT_GE(metric(*s, "deepcpu_kv_cache_full_total"), 1);
  EXPECT_NE(s->log().find("the KV cache is full"), std::string::npos);
  // Nothing is left behind: a new request gets the whole context.
  HttpReply after = post(*s, "/v1/completions", body);
  ASSERT_EQ(after.status, 200);
  EXPECT_EQ(after.json["usage"]["completion_tokens"], 250);
}

}  // namespace
}  // namespace deepcpu::test
