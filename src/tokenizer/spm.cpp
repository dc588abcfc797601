// SentencePiece (tokenizer.ggml.model = llama), as llama.cpp's llm_tokenizer_spm_session:
// spaces become ▁ (plus a leading ▁ where llama.cpp adds one), adjacent symbols merge
// highest vocab score first (leftmost on ties) while the merged text is a token, and a
// final symbol that is no token is resegmented into the merges that built it, down to
// <0xAB> byte tokens.
#include "tokenizer/special_tokens.h"
#include "tokenizer/unicode.h"
#include "tokenizer/vocab_tokenizer.h"

#include <algorithm>
#include <map>
#include <utility>

namespace deepcpu::tokenizer {
namespace {

struct Symbol {
  int prev;
  int next;
  size_t begin;
  size_t n;
};

struct Bigram {
  int left;
  int right;
  float score;
  size_t size;
};

struct BigramBefore {  // std::priority_queue order: highest score, then leftmost, on top
  bool operator()(const Bigram& l, const Bigram& r) const {
    return l.score < r.score || (l.score == r.score && l.left > r.left);
  }
};

class SpmSession {
 public:
  SpmSession(const Vocab& vocab, const std::string& text) : vocab_(vocab), text_(text) {}

  void tokenize(std::vector<TokenId>& out) {
    for (size_t off = 0; off < text_.size();) {
      const size_t len = std::min(text_.size() - off, utf8_len(text_[off]));
      const int idx = static_cast<int>(symbols_.size());
      symbols_.push_back({idx - 1, off + len == text_.size() ? -1 : idx + 1, off, len});
      off += len;
    }
    if (symbols_.empty()) return;
    for (int i = 1; i < static_cast<int>(symbols_.size()); ++i) try_add_bigram(i - 1, i);

    while (!heap_.empty()) {
      std::pop_heap(heap_.begin(), heap_.end(), BigramBefore());
      const Bigram b = heap_.back();
      heap_.pop_back();
      Symbol& l = symbols_[b.left];
      Symbol& r = symbols_[b.right];
      if (l.n == 0 || r.n == 0 || l.n + r.n != b.size) continue;
      l.n += r.n;
      r.n = 0;
      l.next = r.next;
      if (r.next >= 0) symbols_[r.next].prev = b.left;
      try_add_bigram(l.prev, b.left);
      try_add_bigram(b.left, l.next);
    }
    for (int i = 0; i != -1; i = symbols_[i].next) resegment(symbols_[i], out);
  }

 private:
  std::string_view text_of(const Symbol& s) const { return std::string_view(text_).substr(s.begin, s.n); }

  void try_add_bigram(int left, int right) {
    if (left < 0 || right < 0) return;
    const std::string_view merged =
        std::string_view(text_).substr(symbols_[left].begin, symbols_[left].n + symbols_[right].n);
    const TokenId id = vocab_.find(merged);
    if (id < 0) return;
    heap_.push_back({left, right, vocab_.score[id], merged.size()});
    std::push_heap(heap_.begin(), heap_.end(), BigramBefore());
    rev_merge_[std::string(merged)] = {left, right};
  }

  void resegment(const Symbol& s, std::vector<TokenId>& out) {
    const std::string_view text = text_of(s);
    const TokenId id = vocab_.find(text);
    if (id >= 0) {
      out.push_back(id);
      return;
    }
    auto it = rev_merge_.find(std::string(text));
    if (it == rev_merge_.end()) {
      for (char c : text) out.push_back(byte_token(static_cast<uint8_t>(c)));
      return;
    }
    const auto [left, right] = it->second;
    resegment(symbols_[left], out);
    resegment(symbols_[right], out);
  }

  // llama.cpp byte_to_token: "<0xAB>", else the byte itself as a token. llama.cpp throws
  // when neither exists; we emit the unknown token instead of failing the whole call.
  TokenId byte_token(uint8_t byte) const {
    static constexpr char kHex[] = "0123456789ABCDEF";
    const char buf[6] = {'<', '0', 'x', kHex[byte >> 4], kHex[byte & 15], '>'};
    TokenId id = vocab_.find(std::string_view(buf, 6));
    if (id >= 0) return id;
    const char c = static_cast<char>(byte);
    id = vocab_.find(std::string_view(&c, 1));
    return id >= 0 ? id : vocab_.unk;
  }

  const Vocab& vocab_;
  const std::string& text_;
  std::vector<Symbol> symbols_;
  std::vector<Bigram> heap_;
  std::map<std::string, std::pair<int, int>> rev_merge_;
};

class SpmTokenizer final : public VocabTokenizer {
 public:
  using VocabTokenizer::VocabTokenizer;

  std::vector<TokenId> tokenize(std::string_view text, bool add_special, bool parse_special) const override {
    static const std::string kSpace = "\xE2\x96\x81";  // ▁
    std::vector<TokenId> out;
    // llama.cpp prefixes a space to raw text at the start and after every special token.
    bool prev_special = true;
    if (add_special && vocab_.add_bos) out.push_back(vocab_.bos);
    std::string escaped;
    for (const Fragment& f : partition_special(vocab_, text, parse_special)) {
      if (f.token >= 0) {
        out.push_back(f.token);
        prev_special = true;
        continue;
      }
      escaped.clear();
      if (vocab_.add_space_prefix && prev_special) escaped += kSpace;
      for (char c : text.substr(f.offset, f.length)) {
        if (c == ' ') {
          escaped += kSpace;
        } else {
          escaped.push_back(c);
        }
      }
      SpmSession(vocab_, escaped).tokenize(out);
      prev_special = false;
    }
    if (add_special && vocab_.add_eos) out.push_back(vocab_.eos);
    return out;
  }
};

}  // namespace

std::unique_ptr<Tokenizer> make_spm_tokenizer(Vocab vocab) { return std::make_unique<SpmTokenizer>(std::move(vocab)); }

}  // namespace deepcpu::tokenizer
