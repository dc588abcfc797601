// The Tokenizer implementation shared by both vocab kinds: everything but the encoding
// of raw text (bpe.cpp, spm.cpp) lives here, driven by the loaded Vocab.
#pragma once

#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/vocab.h"

#include <memory>

namespace deepcpu::tokenizer {

class VocabTokenizer : public Tokenizer {
 public:
  explicit VocabTokenizer(Vocab vocab);

  std::string token_to_piece(TokenId id, bool special) const override;
  int32_t n_vocab() const override { return vocab_.n_tokens(); }
  TokenId bos() const override { return vocab_.bos; }
  TokenId eos() const override { return vocab_.eos; }
  bool add_bos() const override { return vocab_.add_bos; }
  bool add_eos() const override { return vocab_.add_eos; }
  bool add_space_prefix() const override { return vocab_.add_space_prefix; }
  bool clean_spaces() const override { return vocab_.clean_spaces; }
  bool is_eog(TokenId id) const override { return vocab_.eog.count(id) != 0; }
  TokenType token_type(TokenId id) const override;
  const std::string& token_text(TokenId id) const override;
  std::string pre_tokenizer() const override { return vocab_.pre; }

  const Vocab& vocab() const { return vocab_; }

 protected:
  Vocab vocab_;
};

// token_to_piece(id, special=true) of every id, as llama.cpp caches it at load.
void build_piece_cache(Vocab& vocab);

std::unique_ptr<Tokenizer> make_bpe_tokenizer(Vocab vocab, std::unique_ptr<PreTokenizer> pre);
std::unique_ptr<Tokenizer> make_spm_tokenizer(Vocab vocab);

}  // namespace deepcpu::tokenizer
