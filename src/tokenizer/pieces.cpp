// Token -> bytes, as llama.cpp's token_to_piece: byte-level BPE tokens go through the
// inverse GPT-2 byte table, SPM tokens turn ▁ into a space and <0xAB> into the byte;
// CONTROL/UNKNOWN/USER_DEFINED tokens are their text, anything else (UNUSED, ...) is "".
#include "tokenizer/unicode.h"
#include "tokenizer/vocab_tokenizer.h"

#include <fmt/format.h>

#include <cstdlib>

namespace deepcpu::tokenizer {
namespace {

// llama_decode_text: a codepoint outside the byte table is kept visible as
// "[UNK_BYTE_0x..<text>]", exactly as llama.cpp renders it.
std::string decode_byte_level(const std::string& text) {
  std::string out;
  std::vector<uint32_t> cpts;
  utf8_to_codepoints(text, cpts);
  for (uint32_t cpt : cpts) {
    const int b = unicode_to_byte(cpt);
    if (b >= 0) {
      out.push_back(static_cast<char>(b));
      continue;
    }
    std::string utf8;
    append_utf8(cpt, utf8);
    out += "[UNK_BYTE_0x";
    for (unsigned char c : utf8) out += fmt::format("{:02x}", c);
    out += text + "]";
  }
  return out;
}

std::string unescape_spm(const std::string& text) {
  static const std::string kSpace = "\xE2\x96\x81";  // ▁
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    if (text.compare(i, kSpace.size(), kSpace) == 0) {
      out.push_back(' ');
      i += kSpace.size();
    } else {
      out.push_back(text[i++]);
    }
  }
  return out;
}

}  // namespace

void build_piece_cache(Vocab& v) {
  v.piece.assign(v.text.size(), std::string());
  for (size_t id = 0; id < v.text.size(); ++id) {
    const uint32_t attr = v.attr[id];
    const std::string& text = v.text[id];
    if (attr & (kAttrUnknown | kAttrControl | kAttrUserDefined)) {
      v.piece[id] = text;
    } else if (attr & kAttrNormal) {
      v.piece[id] = v.kind == VocabKind::kBpe ? decode_byte_level(text) : unescape_spm(text);
    } else if ((attr & kAttrByte) && v.kind == VocabKind::kSpm && text.size() >= 5) {
      // "<0xAB>": llama.cpp's token_to_byte parses the two hex digits.
      v.piece[id] = std::string(1, static_cast<char>(std::strtol(text.substr(3, 2).c_str(), nullptr, 16)));
    }
  }
}

VocabTokenizer::VocabTokenizer(Vocab vocab) : vocab_(std::move(vocab)) {}

std::string VocabTokenizer::token_to_piece(TokenId id, bool special) const {
  if (id < 0 || id >= vocab_.n_tokens()) return {};
  if (!special && (vocab_.attr[id] & (kAttrUnknown | kAttrControl))) return {};
  return vocab_.piece[id];
}

TokenType VocabTokenizer::token_type(TokenId id) const {
  return id >= 0 && id < vocab_.n_tokens() ? vocab_.type[id] : TokenType::kUndefined;
}

const std::string& VocabTokenizer::token_text(TokenId id) const {
  static const std::string kNone;
  return id >= 0 && id < vocab_.n_tokens() ? vocab_.text[id] : kNone;
}

}  // namespace deepcpu::tokenizer
