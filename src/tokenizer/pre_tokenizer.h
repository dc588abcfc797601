// Splits text into the words byte-level BPE merges within, with the regex list that
// llama.cpp uses for each `tokenizer.ggml.pre`. Regexes run in sequence, each one
// splitting the pieces the previous one produced; unmatched gaps stay pieces.
#pragma once

#include "base/status.h"

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace deepcpu::tokenizer {

class PreTokenizer {
 public:
  // `pre` is tokenizer.ggml.pre ("" or "default" for llama.cpp's default list).
  static Result<std::unique_ptr<PreTokenizer>> create(const std::string& pre);
  ~PreTokenizer();

  // Words of `text` as UTF-8 (malformed input bytes come out as U+FFFD, as in llama.cpp).
  void split(std::string_view text, std::vector<std::string>& words) const;

  // The regexes in the form llama.cpp writes them, for messages and tests.
  static std::vector<std::string> regexes_for(const std::string& pre);

 private:
  struct Rule;
  PreTokenizer() = default;
  std::vector<Rule> rules_;
};

}  // namespace deepcpu::tokenizer
