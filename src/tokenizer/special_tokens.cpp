// Special-token partitioning (llama.cpp tokenizer_st_partition). Each special token, in
// the vocab's longest-first order, cuts every raw fragment left at all its occurrences,
// so a longer special wins over a shorter one it contains.
#include "tokenizer/special_tokens.h"

#include <cctype>

namespace deepcpu::tokenizer {

std::vector<Fragment> partition_special(const Vocab& vocab, std::string_view text, bool parse_special) {
  std::vector<Fragment> frags;
  if (text.empty()) return frags;
  frags.push_back({-1, 0, text.size()});
  std::vector<Fragment> next;

  for (TokenId id : vocab.special_tokens) {
    const uint32_t attr = vocab.attr[id];
    if (!parse_special && (attr & (kAttrControl | kAttrUnknown))) continue;
    const std::string& special = vocab.text[id];

    // Most specials occur nowhere: check before rebuilding the list.
    bool any = false;
    for (const Fragment& f : frags) {
      if (f.token < 0 && text.substr(f.offset, f.length).find(special) != std::string_view::npos) {
        any = true;
        break;
      }
    }
    if (!any) continue;

    next.clear();
    for (const Fragment& f : frags) {
      if (f.token >= 0) {
        next.push_back(f);
        continue;
      }
      size_t off = f.offset, len = f.length;
      while (true) {
        const size_t match = text.substr(0, off + len).find(special, off);
        if (match == std::string_view::npos) break;
        if (match > off) {
          size_t left_len = match - off;
          if (attr & kAttrLstrip) {
            while (left_len > 0 && std::isspace(static_cast<unsigned char>(text[off + left_len - 1]))) --left_len;
          }
          if (left_len > 0) next.push_back({-1, off, left_len});
        }
        next.push_back({id, 0, 0});
        const size_t right = match + special.size();
        if (right >= off + len) {
          len = 0;
          break;
        }
        size_t right_len = off + len - right;
        size_t right_off = right;
        if (attr & kAttrRstrip) {
          while (right_len > 0 && std::isspace(static_cast<unsigned char>(text[right_off]))) ++right_off, --right_len;
        }
        off = right_off;
        len = right_len;
      }
      if (len > 0) next.push_back({-1, off, len});
    }
    frags.swap(next);
  }
  return frags;
}

}  // namespace deepcpu::tokenizer
