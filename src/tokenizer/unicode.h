// Codepoint-level helpers the tokenizers share: llama.cpp-compatible UTF-8 decoding
// (lenient, invalid bytes become U+FFFD), the codepoint classes its pre-tokenizer
// sees, and GPT-2's byte <-> printable-codepoint mapping for byte-level BPE.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace deepcpu::tokenizer {

// The classes llama.cpp (unicode.cpp) reduces a codepoint to before regex matching.
enum class CodepointClass : uint8_t {
  kOther = 0, kNumber, kLetter, kPunctuation, kAccentMark, kSymbol, kWhitespace,
};

CodepointClass codepoint_class(uint32_t cpt);

// Length of the UTF-8 sequence a lead byte announces (1 for continuation/invalid bytes),
// as llama.cpp's unicode_len_utf8 does.
size_t utf8_len(char lead);

// Decodes like llama.cpp's unicode_cpts_from_utf8: truncated or malformed sequences
// give U+FFFD and advance one byte; overlong forms are accepted as they are there.
void utf8_to_codepoints(std::string_view text, std::vector<uint32_t>& out);
void append_utf8(uint32_t cpt, std::string& out);

// GPT-2 bytes_to_unicode: each byte maps to a printable codepoint, UTF-8 encoded.
const std::string& byte_to_unicode(uint8_t byte);
// Inverse: codepoint -> byte, or -1 when the codepoint is not in the table.
int unicode_to_byte(uint32_t cpt);

// Length of the valid UTF-8 prefix that does not end inside an incomplete character:
// the bytes after it are a prefix of a character that more bytes could complete.
size_t utf8_complete_prefix(std::string_view bytes);

}  // namespace deepcpu::tokenizer
