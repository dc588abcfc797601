// Splitting R1-style output into reasoning and answer as text streams in:
// everything inside <think>...</think> goes to `reasoning`, the rest to `content`
// (DeepSeek API: message.reasoning_content / message.content). Tags split across
// chunks are handled; an unclosed <think> at the end still returns its text.
//
// Rules (the same total output however the text is cut into pushes):
// - <think> opens reasoning only at the start of the output (after optional whitespace),
//   also when the prompt already opened it (the model repeats it); later it is text.
// - The first </think> ends reasoning; everything after it is content, tags included.
// - Blank lines right after <think> / </think> (and at the start of reasoning the prompt
//   opened) are dropped, as DeepSeek's API does: "</think>\n\nAnswer" gives "Answer".
// - Without any tag and not starting in reasoning, the text is content, unchanged.
// - Bytes are passed through; callers feed whole UTF-8 characters (StreamDecoder).
#pragma once

#include <string>

namespace deepcpu {

struct ReasoningDelta {
  std::string reasoning;
  std::string content;
};

class ReasoningSplitter {
 public:
  // starts_in_reasoning: the prompt already opened <think> (see ChatTemplate).
  explicit ReasoningSplitter(bool starts_in_reasoning);
  ReasoningDelta push(const std::string& text);  // may hold back a partial tag
  ReasoningDelta finish();                       // releases anything held back
  // True while text is going to `reasoning` (before the start is decided: whether the
  // prompt opened <think>).
  bool in_reasoning() const;

 private:
  enum class Phase { kStart, kReasoning, kContent };
  void run(ReasoningDelta& out, bool final);
  // Drops blank lines at the head of held_; false while held_ is all whitespace (and
  // not final), so more text is needed to decide.
  bool strip_leading_blank_lines(bool final);

  bool starts_in_reasoning_;
  Phase phase_ = Phase::kStart;
  bool strip_lead_ = false;  // the current segment has not yet had a non-blank character
  std::string held_;         // text not yet given out: a possible tag prefix or leading whitespace
};

}  // namespace deepcpu
