// Splits text into the words byte-level BPE merges within, with the regex list that
// llama.cpp uses for each `tokenizer.ggml.pre`. Regexes run in sequence, each one
// splitting the pieces the previous one produced; unmatched gaps stay pieces.
#pragma once

#include "base/status.h"

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace deepcpu::tokenizer {

// What a tokenizer.ggml.pre name means to llama.cpp: its regexes (in llama.cpp's
// spelling) and the vocab flags llama_vocab::load sets for it.
struct PreTokenizerSpec {
  std::vector<std::string> regexes;
  bool ignore_merges = false;  // a word that is a token is emitted whole (HF ignore_merges)
  bool add_bos = false;        // add_bos defaults to true (llama-bpe has no add_bos key)
  bool clean_spaces = true;    // detokenize tidies " ," and " 's"
};

// nullopt for a name llama.cpp 80fb11a does not know (or one not ported here).
// "" and "default" give llama.cpp's default list.
std::optional<PreTokenizerSpec> pre_tokenizer_spec(const std::string& pre);

class PreTokenizer {
 public:
  // `pre` is tokenizer.ggml.pre ("" or "default" for llama.cpp's default list).
  static Result<std::unique_ptr<PreTokenizer>> create(const std::string& pre);
  ~PreTokenizer();

  // Words of `text` as UTF-8 (malformed input bytes come out as U+FFFD, as in llama.cpp).
  void split(std::string_view text, std::vector<std::string>& words) const;

 private:
  struct Rule;
  PreTokenizer() = default;
  std::vector<Rule> rules_;
};

}  // namespace deepcpu::tokenizer
