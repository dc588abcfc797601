// Text <-> token ids, equal to llama.cpp token for token: byte-level BPE with the
// per-model pre-tokenizer named by `tokenizer.ggml.pre`, SentencePiece (llama-spm),
// special-token parsing, BOS rules from the GGUF, and UTF-8-safe streaming detokenize.
#pragma once

#include "base/status.h"
#include "gguf/gguf.h"

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace deepcpu {

using TokenId = int32_t;

// Token types as GGUF stores them (tokenizer.ggml.token_type).
enum class TokenType : int32_t {
  kUndefined = 0, kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4, kUnused = 5, kByte = 6,
};

class Tokenizer {
 public:
  // Reads tokenizer.ggml.* from the model's metadata; a clear error for an unknown
  // model/pre-tokenizer or inconsistent arrays.
  static Result<std::unique_ptr<Tokenizer>> from_gguf(const gguf::Model& model);
  virtual ~Tokenizer() = default;

  // add_special: prepend BOS (and append EOS) when the vocab says so.
  // parse_special: recognise CONTROL token strings in the text (USER_DEFINED ones,
  // like R1's <think>, are always recognised, as in llama.cpp).
  virtual std::vector<TokenId> tokenize(std::string_view text, bool add_special, bool parse_special) const = 0;

  // The bytes of one token (byte-level BPE decoded, SPM ▁ -> space, <0xAB> -> byte).
  // Control tokens give "" unless `special`.
  virtual std::string token_to_piece(TokenId id, bool special) const = 0;
  // Concatenated pieces (llama_detokenize with remove_special=false, unparse_special =
  // `special`): like llama.cpp it drops the leading space SPM adds (add_space_prefix)
  // and, for vocabs with clean_spaces, undoes " ," / " 's" style tokenizer spacing.
  std::string detokenize(const std::vector<TokenId>& ids, bool special) const;

  virtual int32_t n_vocab() const = 0;
  virtual TokenId bos() const = 0;   // -1 if none
  virtual TokenId eos() const = 0;   // -1 if none
  virtual bool add_bos() const = 0;
  virtual bool add_eos() const = 0;
  virtual bool add_space_prefix() const = 0;  // SPM: a leading space is added to raw text
  virtual bool clean_spaces() const = 0;      // detokenize tidies spaces before punctuation
  virtual std::string pre_tokenizer() const = 0;  // tokenizer.ggml.pre as stored ("" if absent)
  virtual bool is_eog(TokenId id) const = 0;  // end of generation (eos, eot, ...)
  virtual TokenType token_type(TokenId id) const = 0;
  virtual const std::string& token_text(TokenId id) const = 0;  // as stored in the vocab
};

// Streaming detokenizer: feed token ids, get back text that never ends inside a UTF-8
// character; incomplete trailing bytes are held until the next token completes them.
class StreamDecoder {
 public:
  StreamDecoder(const Tokenizer& tok, bool special) : tok_(tok), special_(special) {}
  std::string push(TokenId id);
  std::string flush();  // whatever is held back (invalid bytes as U+FFFD)

 private:
  const Tokenizer& tok_;
  bool special_;
  std::string pending_;
};

}  // namespace deepcpu
