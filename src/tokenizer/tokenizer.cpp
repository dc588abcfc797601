// Tokenizer::from_gguf picks the implementation for tokenizer.ggml.model, and
// detokenize() reproduces llama_detokenize on top of token_to_piece.
#include "tokenizer/tokenizer.h"

#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/vocab.h"
#include "tokenizer/vocab_tokenizer.h"

namespace deepcpu {

Result<std::unique_ptr<Tokenizer>> Tokenizer::from_gguf(const gguf::Model& model) {
  auto vocab = tokenizer::load_vocab(model);
  DEEPCPU_RETURN_IF_ERROR(vocab.status());
  tokenizer::build_piece_cache(vocab.value());
  if (vocab->kind == tokenizer::VocabKind::kSpm) {
    return tokenizer::make_spm_tokenizer(std::move(vocab.value()));
  }
  auto pre = tokenizer::PreTokenizer::create(vocab->pre);
  if (!pre.is_ok()) return error("{}: {}", model.path(), pre.status().message());
  return tokenizer::make_bpe_tokenizer(std::move(vocab.value()), std::move(pre.value()));
}

namespace {

// llama_detokenize's clean_spaces passes, in place and byte for byte like llama.cpp
// (including what each pass reads back of its own writes): " ?", " !", " .", " ,"
// lose the space; " ' " loses both spaces; " 's", " 'm", " 're", " 've" lose the space.
void clean_spaces_in_place(std::string& t) {
  if (t.empty()) return;
  size_t total = 1;
  for (size_t i = 1; i < t.size(); ++i) {
    const char x = t[i];
    if (t[i - 1] == ' ' && (x == '?' || x == '!' || x == '.' || x == ',')) --total;
    t[total++] = x;
  }
  t.resize(total);

  const size_t total2 = t.size();
  total = 1;
  for (size_t i = 1; i < total2; ++i) {
    const char x = t[i];
    if (x == '\'' && i + 1 < total2 && t[i - 1] == ' ' && t[i + 1] == ' ') {
      --total;       // the space before
      t[++i] = '\0';  // skip the space after
    }
    t[total++] = x;
  }
  t.resize(total);

  const size_t total3 = t.size();
  total = 1;
  for (size_t i = 1; i < total3; ++i) {
    const char x = t[i];
    if (t[i - 1] == ' ' && x == '\'' && i + 1 < total3) {
      const char x1 = t[i + 1];
      if (x1 == 't' || x1 == 'd') {
        // kept: " 't", " 'd"
      } else if (x1 == 's' || x1 == 'm') {
        --total;
      } else if (i + 2 < total3) {
        const char x2 = t[i + 2];
        if ((x1 == 'r' && x2 == 'e') || (x1 == 'v' && x2 == 'e')) --total;
      }
    }
    t[total++] = x;
  }
  t.resize(total);
}

}  // namespace

std::string Tokenizer::detokenize(const std::vector<TokenId>& ids, bool special) const {
  std::string text;
  bool remove_space = add_space_prefix();
  for (TokenId id : ids) {
    std::string piece = token_to_piece(id, special);
    if (remove_space && !piece.empty() && piece[0] == ' ') piece.erase(0, 1);
    remove_space = false;
    text += piece;
  }
  if (clean_spaces()) clean_spaces_in_place(text);
  return text;
}

}  // namespace deepcpu
