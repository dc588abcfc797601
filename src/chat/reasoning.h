// Splitting R1-style output into reasoning and answer as text streams in:
// everything inside <think>...</think> goes to `reasoning`, the rest to `content`
// (DeepSeek API: message.reasoning_content / message.content). Tags split across
// chunks are handled; an unclosed <think> at the end still returns its text.
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

 private:
  bool in_reasoning_;
  bool seen_any_ = false;
  std::string held_;
};

}  // namespace deepcpu
