// Codepoint classes (from the generated Unicode table), lenient UTF-8 decoding matching
// llama.cpp, and the GPT-2 byte-level alphabet.
#include "tokenizer/unicode.h"

#include <algorithm>
#include <array>

namespace deepcpu::tokenizer {
namespace {

struct ClassRange {
  uint32_t first;
  uint32_t last;
  CodepointClass cls;
};

constexpr ClassRange kClassRanges[] = {
#include "tokenizer/unicode_categories.inc"
};

// One byte per codepoint: a 1.1 MB table built once makes classification a load.
const std::vector<CodepointClass>& class_table() {
  static const std::vector<CodepointClass> table = [] {
    std::vector<CodepointClass> t(0x110000, CodepointClass::kOther);
    for (const ClassRange& r : kClassRanges) {
      std::fill(t.begin() + r.first, t.begin() + r.last + 1, r.cls);
    }
    return t;
  }();
  return table;
}

struct ByteTables {
  std::array<std::string, 256> to_unicode;
  std::vector<int16_t> to_byte;  // indexed by codepoint < 512
};

// GPT-2's bytes_to_unicode(): printable Latin-1 bytes map to themselves, the other 68
// bytes to U+0100.. in byte order.
const ByteTables& byte_tables() {
  static const ByteTables tables = [] {
    ByteTables t;
    t.to_byte.assign(512, -1);
    uint32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      const uint32_t cpt = printable ? static_cast<uint32_t>(b) : next++;
      append_utf8(cpt, t.to_unicode[b]);
      t.to_byte[cpt] = static_cast<int16_t>(b);
    }
    return t;
  }();
  return tables;
}

}  // namespace

CodepointClass codepoint_class(uint32_t cpt) {
  return cpt < 0x110000 ? class_table()[cpt] : CodepointClass::kOther;
}

size_t utf8_len(char lead) {
  static constexpr uint8_t kLengths[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
  return kLengths[static_cast<uint8_t>(lead) >> 4];
}

void utf8_to_codepoints(std::string_view s, std::vector<uint32_t>& out) {
  out.clear();
  out.reserve(s.size());
  const auto* p = reinterpret_cast<const uint8_t*>(s.data());
  const size_t n = s.size();
  auto cont = [&](size_t i) { return (p[i] & 0xC0) == 0x80; };
  size_t i = 0;
  while (i < n) {
    const uint8_t c = p[i];
    if (!(c & 0x80)) {
      out.push_back(c);
      i += 1;
    } else if (!(c & 0x40)) {  // stray continuation byte
      out.push_back(0xFFFD);
      i += 1;
    } else if (!(c & 0x20)) {
      if (i + 1 >= n || !cont(i + 1)) { out.push_back(0xFFFD); i += 1; continue; }
      out.push_back(((c & 0x1Fu) << 6) | (p[i + 1] & 0x3Fu));
      i += 2;
    } else if (!(c & 0x10)) {
      if (i + 2 >= n || !cont(i + 1) || !cont(i + 2)) { out.push_back(0xFFFD); i += 1; continue; }
      out.push_back(((c & 0x0Fu) << 12) | ((p[i + 1] & 0x3Fu) << 6) | (p[i + 2] & 0x3Fu));
      i += 3;
    } else if (!(c & 0x08)) {
      if (i + 3 >= n || !cont(i + 1) || !cont(i + 2) || !cont(i + 3)) { out.push_back(0xFFFD); i += 1; continue; }
      out.push_back(((c & 0x07u) << 18) | ((p[i + 1] & 0x3Fu) << 12) | ((p[i + 2] & 0x3Fu) << 6) | (p[i + 3] & 0x3Fu));
      i += 4;
    } else {
      out.push_back(0xFFFD);
      i += 1;
    }
  }
}

void append_utf8(uint32_t cpt, std::string& out) {
  if (cpt <= 0x7F) {
    out.push_back(static_cast<char>(cpt));
  } else if (cpt <= 0x7FF) {
    out.push_back(static_cast<char>(0xC0 | (cpt >> 6)));
    out.push_back(static_cast<char>(0x80 | (cpt & 0x3F)));
  } else if (cpt <= 0xFFFF) {
    out.push_back(static_cast<char>(0xE0 | (cpt >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cpt >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cpt & 0x3F)));
  } else {
    // Up to 0x1FFFFF: llama.cpp's decoder can produce these from F5..F7 lead bytes.
    out.push_back(static_cast<char>(0xF0 | ((cpt >> 18) & 0x07)));
    out.push_back(static_cast<char>(0x80 | ((cpt >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cpt >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cpt & 0x3F)));
  }
}

const std::string& byte_to_unicode(uint8_t byte) { return byte_tables().to_unicode[byte]; }

int unicode_to_byte(uint32_t cpt) { return cpt < 512 ? byte_tables().to_byte[cpt] : -1; }

size_t utf8_complete_prefix(std::string_view s) {
  // Only the last 3 bytes can start an unfinished character.
  const size_t n = s.size();
  for (size_t back = 1; back <= 3 && back <= n; ++back) {
    const auto c = static_cast<uint8_t>(s[n - back]);
    if ((c & 0xC0) == 0x80) continue;  // continuation: keep looking for the lead
    if (c < 0x80) return n;            // ASCII: everything is complete
    const size_t need = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 1;
    return need > back ? n - back : n;
  }
  return n;
}

}  // namespace deepcpu::tokenizer
