// StreamDecoder: token pieces can end in the middle of a UTF-8 character (byte-level BPE
// and SPM byte tokens split multi-byte characters), so trailing bytes that could still
// become a character are held until the next piece completes them.
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"

namespace deepcpu {
namespace {

// Valid UTF-8 of `bytes`, each maximal invalid sequence replaced by U+FFFD.
std::string sanitize_utf8(std::string_view bytes) {
  std::string out;
  std::vector<uint32_t> cpts;
  tokenizer::utf8_to_codepoints(bytes, cpts);
  for (uint32_t c : cpts) {
    if ((c >= 0xD800 && c <= 0xDFFF) || c > 0x10FFFF) c = 0xFFFD;
    tokenizer::append_utf8(c, out);
  }
  return out;
}

}  // namespace

std::string StreamDecoder::push(TokenId id) {
  pending_ += tok_.token_to_piece(id, special_);
  const size_t n = tokenizer::utf8_complete_prefix(pending_);
  std::string out = sanitize_utf8(std::string_view(pending_).substr(0, n));
  pending_.erase(0, n);
  return out;
}

std::string StreamDecoder::flush() {
  std::string out = sanitize_utf8(pending_);
  pending_.clear();
  return out;
}

}  // namespace deepcpu
