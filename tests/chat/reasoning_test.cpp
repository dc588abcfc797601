// ReasoningSplitter: the same reasoning/content however the text is cut into pushes,
// minimal hold-back, and the start cases (prompt opened <think>, model repeats it, no tags).
#include <gtest/gtest.h>

#include "chat/reasoning.h"

#include <random>

namespace deepcpu::test {
namespace {

ReasoningDelta& operator+=(ReasoningDelta& a, const ReasoningDelta& b) {
  a.reasoning += b.reasoning;
  a.content += b.content;
  return a;
}

ReasoningDelta split_whole(const std::string& text, bool starts_in_reasoning) {
  ReasoningSplitter s(starts_in_reasoning);
  ReasoningDelta out = s.push(text);
  out += s.finish();
  return out;
}

ReasoningDelta split_pieces(const std::vector<std::string>& pieces, bool starts_in_reasoning) {
  ReasoningSplitter s(starts_in_reasoning);
  ReasoningDelta out;
  for (const std::string& p : pieces) out += s.push(p);
  out += s.finish();
  return out;
}

void expect_split(const std::string& text, bool starts_in_reasoning, const std::string& reasoning,
                  const std::string& content) {
  const ReasoningDelta d = split_whole(text, starts_in_reasoning);
  EXPECT_EQ(d.reasoning, reasoning) << "text: " << text;
  EXPECT_EQ(d.content, content) << "text: " << text;
}

// Every way of cutting `text` gives the whole-text answer: each single cut point, byte by
// byte, and random chunks (fixed seed).
void expect_schedule_free(const std::string& text, bool starts_in_reasoning) {
  const ReasoningDelta whole = split_whole(text, starts_in_reasoning);
  for (size_t cut = 0; cut <= text.size(); ++cut) {
    const ReasoningDelta d = split_pieces({text.substr(0, cut), text.substr(cut)}, starts_in_reasoning);
    EXPECT_EQ(d.reasoning, whole.reasoning) << "cut at " << cut << " of: " << text;
    EXPECT_EQ(d.content, whole.content) << "cut at " << cut << " of: " << text;
  }
  std::vector<std::string> bytes;
  for (char c : text) bytes.emplace_back(1, c);
  const ReasoningDelta by_byte = split_pieces(bytes, starts_in_reasoning);
  EXPECT_EQ(by_byte.reasoning, whole.reasoning) << text;
  EXPECT_EQ(by_byte.content, whole.content) << text;
  std::mt19937 rng(1234);
  for (int round = 0; round < 200; ++round) {
    std::vector<std::string> chunks;
    for (size_t at = 0; at < text.size();) {
      const size_t n = std::uniform_int_distribution<size_t>(0, 9)(rng);  // empty pushes too
      chunks.push_back(text.substr(at, n));
      at += n;
    }
    const ReasoningDelta d = split_pieces(chunks, starts_in_reasoning);
    EXPECT_EQ(d.reasoning, whole.reasoning) << "round " << round << ": " << text;
    EXPECT_EQ(d.content, whole.content) << "round " << round << ": " << text;
  }
}

TEST(ReasoningSplitter, ThinkThenAnswer) {
  // The blank lines right after </think> are not content (DeepSeek API).
  expect_split("<think>\nLet me add.\n2+2=4\n</think>\n\nThe answer is 4.", false, "Let me add.\n2+2=4\n",
               "The answer is 4.");
  expect_split("  \n<think>x</think>y", false, "x", "y");  // whitespace before <think>
}

TEST(ReasoningSplitter, StartsInReasoning) {
  // The R1 prompt ended with "<think>\n": the output starts inside the thinking.
  expect_split("Okay, 2+2.\n</think>\n\n**4**", true, "Okay, 2+2.\n", "**4**");
  // The model writes its own <think> anyway: swallowed, with the blank line after it.
  expect_split("<think>\n\nOkay.</think>Done", true, "Okay.", "Done");
  // Leading blank lines of the reasoning are dropped; indentation on the first line stays.
  expect_split("\n\n  step</think>\n  code", true, "  step", "  code");
  // A later <think> inside reasoning is just text; after </think> everything is content.
  expect_split("a <think> b</think>c </think> <think>", true, "a <think> b", "c </think> <think>");
}

TEST(ReasoningSplitter, UnclosedThink) {
  // No </think> before the end (length limit, stop): finish() gives it all as reasoning,
  // including a held-back partial tag.
  expect_split("<think>\nstill thinking </thi", false, "still thinking </thi", "");
  expect_split("thinking forever", true, "thinking forever", "");
  ReasoningSplitter s(true);
  ReasoningDelta d = s.push("abc</th");
  EXPECT_EQ(d.reasoning, "abc");  // only the possible tag prefix is held
  EXPECT_TRUE(s.in_reasoning());
  d = s.finish();
  EXPECT_EQ(d.reasoning, "</th");
  EXPECT_EQ(d.content, "");
}

TEST(ReasoningSplitter, NoThinkTags) {
  // Not starting in reasoning and no <think>: all content, unchanged.
  expect_split("Hello!\n\nHow can I help?", false, "", "Hello!\n\nHow can I help?");
  expect_split("\n\nHi", false, "", "\n\nHi");
  expect_split("<thinking>is not a tag", false, "", "<thinking>is not a tag");
  expect_split("<thi", false, "", "<thi");  // a prefix of <think> that never completed
  expect_split("x <think>y</think>", false, "", "x <think>y</think>");  // <think> opens only at the start
  expect_split("", false, "", "");
  expect_split("", true, "", "");
  ReasoningSplitter s(false);
  EXPECT_EQ(s.push("<").content, "");  // might be <think>
  EXPECT_EQ(s.push("b").content, "<b");
  EXPECT_FALSE(s.in_reasoning());
  EXPECT_EQ(s.push(" <thi").content, " <thi");  // once content has begun, nothing is held
}

TEST(ReasoningSplitter, ContentAfterCloseIsNotHeld) {
  ReasoningSplitter s(true);
  ReasoningDelta d = s.push("r</think>\n");
  EXPECT_EQ(d.reasoning, "r");
  EXPECT_EQ(d.content, "");  // the newline might start a blank line
  EXPECT_FALSE(s.in_reasoning());
  d = s.push("\nA<");
  EXPECT_EQ(d.content, "A<");
  d = s.finish();
  EXPECT_EQ(d.content, "");
}

TEST(ReasoningSplitter, AnySplitGivesTheSameResult) {
  const std::vector<std::string> samples = {
      "<think>\nLet me think about <thin and </thi things.\n</think>\n\nAnswer: 42 </think> <think>",
      "  <think>\n\n  indented\n</think>\n\n  \n  code",
      "Okay.</think>The end",
      "<think>never closed </think",
      "plain text with < and </ and <think> later",
      "\n\n",
      "<think></think>",
      "<think>",
      "</think>",
      "<<think>>",
      "é中<think>文</think>\n字",
  };
  for (const std::string& text : samples) {
    expect_schedule_free(text, false);
    expect_schedule_free(text, true);
  }
}

}  // namespace
}  // namespace deepcpu::test
