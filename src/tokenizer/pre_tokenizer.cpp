// Runs the pre-tokenizer regexes with PCRE2 the way llama.cpp's unicode_regex_split
// runs them with std::regex, so that the word boundaries agree exactly:
//
// - A regex using \p{L} \p{N} \p{P} \p{S} \p{M} is matched against a "collapsed" text
//   with one byte per codepoint: ASCII stays itself, other codepoints become a class
//   byte (0xD1 number .. 0xD5 symbol, 0xD0 other, 0x0B for Unicode White_Space), and
//   each \p{X} becomes a class of that byte plus X's ASCII members. This reproduces
//   llama.cpp's quirks too, e.g. '~' is not \p{S} there.
// - Any other regex is matched codepoint-wise against the text with non-ASCII
//   White_Space replaced by U+000B, since std::wregex's \s is ASCII-only.
// - Each piece from the previous regex is matched on its own: `$` and (?!\S) see the
//   piece's end as the end of text.
#include "tokenizer/pre_tokenizer.h"

#include "tokenizer/unicode.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <cstring>

namespace deepcpu::tokenizer {

struct PreTokenizer::Rule {
  pcre2_code* code = nullptr;
  bool collapsed = false;
};

namespace {

constexpr const char* kCategoryNames[] = {"\\p{N}", "\\p{L}", "\\p{P}", "\\p{M}", "\\p{S}"};
// Class byte and ASCII members for each \p{X}, in kCategoryNames order (llama.cpp k_ucat_*).
constexpr char kCategoryByte[] = {'\xD1', '\xD2', '\xD3', '\xD4', '\xD5'};
constexpr const char* kCategoryAscii[] = {
    "0-9",
    "A-Za-z",
    "!-#%-*,-/:-;?-@\\[-\\]_\\{\\}",
    "",
    "\\$\\+<->^`\\|",
};

char collapsed_byte(uint32_t cpt) {
  if (cpt < 128) return static_cast<char>(cpt);
  switch (codepoint_class(cpt)) {
    case CodepointClass::kWhitespace: return '\x0B';
    case CodepointClass::kNumber: return '\xD1';
    case CodepointClass::kLetter: return '\xD2';
    case CodepointClass::kPunctuation: return '\xD3';
    case CodepointClass::kAccentMark: return '\xD4';
    case CodepointClass::kSymbol: return '\xD5';
    default: return '\xD0';
  }
}

bool uses_categories(const std::string& re) {
  for (const char* name : kCategoryNames) {
    if (re.find(name) != std::string::npos) return true;
  }
  return false;
}

// llama.cpp's rewrite of \p{X} for the collapsed text (bracket tracking included).
std::string collapse_regex(const std::string& re) {
  std::string out;
  bool inside = false;
  for (size_t i = 0; i < re.size(); ++i) {
    if (re[i] == '[' && (i == 0 || re[i - 1] != '\\')) {
      out += '[';
      inside = true;
      continue;
    }
    if (inside && re[i] == ']' && re[i - 1] != '\\') {
      out += ']';
      inside = false;
      continue;
    }
    if (re[i] == '\\' && i + 4 < re.size() && re[i + 1] == 'p' && re[i + 2] == '{' && re[i + 4] == '}') {
      const std::string pat = re.substr(i, 5);
      bool replaced = false;
      for (size_t k = 0; k < 5; ++k) {
        if (pat != kCategoryNames[k]) continue;
        if (!inside) out += '[';
        out += kCategoryByte[k];
        out += kCategoryAscii[k];
        if (!inside) out += ']';
        replaced = true;
        break;
      }
      if (replaced) {
        i += 4;
        continue;
      }
    }
    out += re[i];
  }
  return out;
}

// Scratch for one split() call; the compiled patterns are shared and read-only.
struct MatchData {
  explicit MatchData() : md(pcre2_match_data_create(4, nullptr)) {}
  ~MatchData() { pcre2_match_data_free(md); }
  pcre2_match_data* md;
};

// Finds the next match of `code` in subject[start, len); false when none. PCRE2's JIT
// may run out of stack on huge inputs; the interpreter then finishes the job.
bool next_match(const pcre2_code* code, const char* subject, size_t len, size_t start, uint32_t options,
                pcre2_match_data* md, size_t& m_begin, size_t& m_end) {
  int rc = pcre2_match(code, reinterpret_cast<PCRE2_SPTR>(subject), len, start, options, md, nullptr);
  if (rc == PCRE2_ERROR_JIT_STACKLIMIT) {
    rc = pcre2_match(code, reinterpret_cast<PCRE2_SPTR>(subject), len, start, options | PCRE2_NO_JIT, md, nullptr);
  }
  if (rc < 0) return false;
  const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
  m_begin = ov[0];
  m_end = ov[1];
  return true;
}

}  // namespace

PreTokenizer::~PreTokenizer() {
  for (Rule& r : rules_) pcre2_code_free(r.code);
}

Result<std::unique_ptr<PreTokenizer>> PreTokenizer::create(const std::string& pre) {
  const std::optional<PreTokenizerSpec> spec = pre_tokenizer_spec(pre);
  if (!spec) return error("unknown pre-tokenizer '{}' (tokenizer.ggml.pre)", pre);
  const std::vector<std::string>& regexes = spec->regexes;
  std::unique_ptr<PreTokenizer> p(new PreTokenizer());
  for (const std::string& re : regexes) {
    Rule rule;
    rule.collapsed = uses_categories(re);
    const std::string pattern = rule.collapsed ? collapse_regex(re) : re;
    // ECMAScript `$` means end of text only; collapsed patterns work on bytes, the
    // others on codepoints with an ASCII-only \s (no UCP), like std::wregex.
    uint32_t options = PCRE2_DOLLAR_ENDONLY;
    if (!rule.collapsed) options |= PCRE2_UTF;
    int err = 0;
    PCRE2_SIZE err_offset = 0;
    rule.code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), options, &err, &err_offset,
                              nullptr);
    if (rule.code == nullptr) {
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(err, msg, sizeof(msg));
      return error("pre-tokenizer '{}': regex '{}' does not compile at offset {}: {}", pre, re, err_offset,
                   reinterpret_cast<const char*>(msg));
    }
    pcre2_jit_compile(rule.code, PCRE2_JIT_COMPLETE);  // optional: falls back to the interpreter
    p->rules_.push_back(rule);
  }
  return p;
}

void PreTokenizer::split(std::string_view text, std::vector<std::string>& words) const {
  words.clear();
  std::vector<uint32_t> cpts;
  utf8_to_codepoints(text, cpts);
  const size_t n = cpts.size();
  if (n == 0) return;

  bool need_collapsed = false, need_wide = false;
  for (const Rule& r : rules_) (r.collapsed ? need_collapsed : need_wide) = true;

  std::string collapsed;
  if (need_collapsed) {
    collapsed.resize(n);
    for (size_t i = 0; i < n; ++i) collapsed[i] = collapsed_byte(cpts[i]);
  }
  // UTF-8 of the codepoints with non-ASCII whitespace as U+000B; codepoints PCRE2 cannot
  // hold (surrogates, > U+10FFFF) become U+FFFD, which no pattern here mentions either.
  std::string wide;
  std::vector<uint32_t> wide_offset;      // byte offset of codepoint i, plus the end
  std::vector<uint32_t> wide_byte_to_cpt;  // codepoint index at each lead byte
  if (need_wide) {
    wide.reserve(text.size() + 8);
    wide_offset.resize(n + 1);
    for (size_t i = 0; i < n; ++i) {
      wide_offset[i] = static_cast<uint32_t>(wide.size());
      uint32_t c = cpts[i];
      if (c > 0x7F && codepoint_class(c) == CodepointClass::kWhitespace) c = 0x0B;
      if ((c >= 0xD800 && c <= 0xDFFF) || c > 0x10FFFF) c = 0xFFFD;
      append_utf8(c, wide);
    }
    wide_offset[n] = static_cast<uint32_t>(wide.size());
    wide_byte_to_cpt.assign(wide.size() + 1, 0);
    for (size_t i = 0; i <= n; ++i) wide_byte_to_cpt[wide_offset[i]] = static_cast<uint32_t>(i);
  }

  MatchData scratch;
  std::vector<size_t> offsets = {n}, next;  // piece lengths in codepoints
  for (const Rule& rule : rules_) {
    next.clear();
    next.reserve(offsets.size() * 2);
    size_t start = 0;  // first codepoint of the current piece
    for (size_t len : offsets) {
      const char* subject;
      size_t subject_len;
      if (rule.collapsed) {
        subject = collapsed.data() + start;
        subject_len = len;
      } else {
        subject = wide.data() + wide_offset[start];
        subject_len = wide_offset[start + len] - wide_offset[start];
      }
      auto to_cpt = [&](size_t byte) -> size_t {
        return rule.collapsed ? byte : wide_byte_to_cpt[wide_offset[start] + byte] - start;
      };
      const uint32_t options = rule.collapsed ? 0 : PCRE2_NO_UTF_CHECK;
      size_t pos = 0;       // byte position in the subject
      size_t emitted = 0;   // codepoints of this piece already assigned
      size_t mb = 0, me = 0;
      while (pos <= subject_len && next_match(rule.code, subject, subject_len, pos, options, scratch.md, mb, me)) {
        if (me == mb) {
          if (me >= subject_len) break;
          // None of the lists above can match empty; step over it rather than loop.
          pos = me + (rule.collapsed ? 1 : utf8_len(subject[me]));
          continue;
        }
        const size_t cb = to_cpt(mb), ce = to_cpt(me);
        if (cb > emitted) next.push_back(cb - emitted);  // the unmatched gap
        next.push_back(ce - cb);
        emitted = ce;
        pos = me;
      }
      if (emitted < len) next.push_back(len - emitted);
      start += len;
    }
    offsets.swap(next);
  }

  words.reserve(offsets.size());
  size_t start = 0;
  for (size_t len : offsets) {
    std::string& w = words.emplace_back();
    for (size_t i = start; i < start + len; ++i) append_utf8(cpts[i], w);
    start += len;
  }
}

}  // namespace deepcpu::tokenizer
