// Splits text on special-token strings before any pre-tokenization, like llama.cpp's
// tokenizer_st_partition: specials are tried longest first, CONTROL and UNKNOWN ones only
// when parse_special, USER_DEFINED ones (R1's <think>) always.
#pragma once

#include "tokenizer/vocab.h"

#include <string_view>
#include <vector>

namespace deepcpu::tokenizer {

// A run of raw text (token == -1) or one special token.
struct Fragment {
  TokenId token = -1;
  size_t offset = 0;  // into the original text, for raw fragments
  size_t length = 0;
};

std::vector<Fragment> partition_special(const Vocab& vocab, std::string_view text, bool parse_special);

}  // namespace deepcpu::tokenizer
