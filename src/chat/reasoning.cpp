// ReasoningSplitter: a three-phase state machine (start, reasoning, content) over a
// buffer that holds back only what the next push could still change: a possible tag
// prefix, or whitespace whose fate (blank line to drop or text) is not known yet.
#include "chat/reasoning.h"

#include <string_view>

namespace deepcpu {
namespace {

constexpr std::string_view kOpen = "<think>";
constexpr std::string_view kClose = "</think>";
constexpr const char* kSpace = " \t\r\n";

// Length of the longest suffix of `s` that is a proper prefix of `tag`.
size_t partial_tag_suffix(std::string_view s, std::string_view tag) {
  for (size_t n = std::min(s.size(), tag.size() - 1); n > 0; --n) {
    if (s.substr(s.size() - n) == tag.substr(0, n)) return n;
  }
  return 0;
}

}  // namespace

ReasoningSplitter::ReasoningSplitter(bool starts_in_reasoning) : starts_in_reasoning_(starts_in_reasoning) {}

bool ReasoningSplitter::in_reasoning() const {
  return phase_ == Phase::kReasoning || (phase_ == Phase::kStart && starts_in_reasoning_);
}

ReasoningDelta ReasoningSplitter::push(const std::string& text) {
  held_ += text;
  ReasoningDelta out;
  run(out, /*final=*/false);
  return out;
}

ReasoningDelta ReasoningSplitter::finish() {
  ReasoningDelta out;
  run(out, /*final=*/true);
  return out;
}

bool ReasoningSplitter::strip_leading_blank_lines(bool final) {
  const size_t text_at = held_.find_first_not_of(kSpace);
  if (text_at == std::string::npos) {
    if (!final) return false;
    held_.clear();  // nothing but blank space until the end
  } else {
    // Drop whole blank lines; spaces before the first text stay (indentation).
    const size_t last_newline = held_.rfind('\n', text_at);
    if (last_newline != std::string::npos) held_.erase(0, last_newline + 1);
  }
  strip_lead_ = false;
  return true;
}

void ReasoningSplitter::run(ReasoningDelta& out, bool final) {
  for (;;) {
    switch (phase_) {
      case Phase::kStart: {
        const size_t text_at = held_.find_first_not_of(kSpace);
        const std::string_view rest = text_at == std::string::npos ? "" : std::string_view(held_).substr(text_at);
        if (rest.starts_with(kOpen)) {
          held_.erase(0, text_at + kOpen.size());
          phase_ = Phase::kReasoning;
          strip_lead_ = true;
          continue;
        }
        if (!final && kOpen.starts_with(rest)) return;  // could still become <think>
        // No opening tag: the output starts in whichever mode the prompt left it.
        phase_ = starts_in_reasoning_ ? Phase::kReasoning : Phase::kContent;
        strip_lead_ = starts_in_reasoning_;
        continue;
      }
      case Phase::kReasoning: {
        if (strip_lead_ && !strip_leading_blank_lines(final)) return;
        const size_t close = held_.find(kClose);
        if (close != std::string::npos) {
          out.reasoning.append(held_, 0, close);
          held_.erase(0, close + kClose.size());
          phase_ = Phase::kContent;
          strip_lead_ = true;
          continue;
        }
        const size_t keep = final ? 0 : partial_tag_suffix(held_, kClose);
        out.reasoning.append(held_, 0, held_.size() - keep);
        held_.erase(0, held_.size() - keep);
        return;
      }
      case Phase::kContent: {
        if (strip_lead_ && !strip_leading_blank_lines(final)) return;
        out.content += held_;
        held_.clear();
        return;
      }
    }
  }
}

}  // namespace deepcpu
