// Engine::decode on bad batches: each is refused with a message naming the problem, and
// the KV cache is exactly as before, so the next good batch gives the same logits as a
// fresh engine.
#include <gtest/gtest.h>

#include "engine/engine.h"
#include "test_util.h"

namespace deepcpu {
namespace {

std::unique_ptr<Engine> open_stories(int n_ctx, int n_seq, bool warmup = true) {
  const std::string path = test::fixture("models/stories260K.gguf");
  if (path.empty()) return nullptr;
  EngineOptions o;
  o.model_path = path;
  o.n_threads = 2;
  o.n_ctx = n_ctx;
  o.n_seq_max = n_seq;
  o.warmup = warmup;
  auto e = Engine::load(o);
  EXPECT_TRUE(e.is_ok()) << e.status().message();
  return e.is_ok() ? std::move(e.value()) : nullptr;
}

Batch prompt(int n, int32_t seq = 0, int32_t start = 0) {
  Batch b;
  for (int i = 0; i < n; ++i) b.add(1 + (i * 37) % 500, start + i, seq, i == n - 1);
  return b;
}

TEST(EngineDecode, BadBatchesAreRefusedAndChangeNothing) {
  auto e = open_stories(64, 2);
  if (!e) GTEST_SKIP() << "models/stories260K.gguf not found";
  std::vector<float> logits;
  ASSERT_TRUE(e->decode(prompt(5), &logits).is_ok());
  const std::vector<float> expected_next = [&] {
    auto fresh = open_stories(64, 2);
    std::vector<float> l;
    EXPECT_TRUE(fresh->decode(prompt(5), &l).is_ok());
    Batch next;
    next.add(42, 5, 0, true);
    EXPECT_TRUE(fresh->decode(next, &l).is_ok());
    return l;
  }();

  Batch bad_token;
  bad_token.add(512, 5, 0, true);  // the vocabulary has 512 tokens: ids 0..511
  Status st = e->decode(bad_token, &logits);
  EXPECT_FALSE(st.is_ok());
  EXPECT_NE(st.message().find("out of range"), std::string::npos) << st.message();

  Batch gap;
  gap.add(42, 7, 0, true);  // the sequence holds 5 tokens: the next position is 5
  st = e->decode(gap, &logits);
  EXPECT_FALSE(st.is_ok());
  EXPECT_NE(st.message().find("expected 5"), std::string::npos) << st.message();

  Batch bad_seq;
  bad_seq.add(42, 0, 2, true);  // n_seq_max is 2
  st = e->decode(bad_seq, &logits);
  EXPECT_FALSE(st.is_ok());
  EXPECT_NE(st.message().find("sequence id 2"), std::string::npos) << st.message();

  // Two sequences in one batch where the second would overflow -c: nothing of either lands.
  Batch mixed = prompt(3, 1, 0);
  for (int i = 0; i < 70; ++i) mixed.add(3, 5 + i, 0, false);
  st = e->decode(mixed, &logits);
  EXPECT_FALSE(st.is_ok());
  EXPECT_NE(st.message().find("-c 64"), std::string::npos) << st.message();
  EXPECT_EQ(e->sequence_length(0), 5);
  EXPECT_EQ(e->sequence_length(1), 0);

  Batch next;
  next.add(42, 5, 0, true);
  ASSERT_TRUE(e->decode(next, &logits).is_ok());
  EXPECT_EQ(logits, expected_next);  // bit-identical: the failed calls left no trace
}

TEST(EngineDecode, TruncateThenReevaluateIsIdentical) {
  auto e = open_stories(128, 1);
  if (!e) GTEST_SKIP() << "models/stories260K.gguf not found";
  std::vector<float> first, again;
  ASSERT_TRUE(e->decode(prompt(20), &first).is_ok());
  e->truncate_sequence(0, 10);
  EXPECT_EQ(e->sequence_length(0), 10);
  Batch rest;
  const Batch full = prompt(20);
  for (int i = 10; i < 20; ++i) rest.add(full.tokens[i], i, 0, i == 19);
  ASSERT_TRUE(e->decode(rest, &again).is_ok());
  EXPECT_EQ(first, again);
}

// The warm-up decode at load leaves no trace: every sequence is empty afterwards and the
// same prompts give bit-identical logits with and without it, in a context so small that
// the warm-up's 16 tokens fill an eighth of it.
TEST(EngineDecode, WarmUpLeavesNoTrace) {
  auto warm = open_stories(128, 2, true);
  auto cold = open_stories(128, 2, false);
  if (!warm || !cold) GTEST_SKIP() << "models/stories260K.gguf not found";
  for (int s = 0; s < 2; ++s) EXPECT_EQ(warm->sequence_length(s), 0);
  std::vector<float> a, b;
  Batch two = prompt(100, 0);
  const Batch other = prompt(28, 1);
  for (size_t i = 0; i < other.size(); ++i) two.add(other.tokens[i], other.pos[i], 1, other.want_logits[i]);
  ASSERT_TRUE(warm->decode(two, &a).is_ok());
  ASSERT_TRUE(cold->decode(two, &b).is_ok());
  EXPECT_EQ(a, b);
}

}  // namespace
}  // namespace deepcpu
