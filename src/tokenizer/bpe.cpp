// Byte-level BPE (tokenizer.ggml.model = gpt2), as llama.cpp's llm_tokenizer_bpe_session:
// pre-tokenize into words, map each word's bytes to GPT-2's printable alphabet, then
// merge adjacent symbols lowest rank first (leftmost on ties). A final symbol missing
// from the vocab is emitted as the tokens of its single bytes, skipping bytes that have
// none, exactly as llama.cpp does.
#include "tokenizer/special_tokens.h"
#include "tokenizer/unicode.h"
#include "tokenizer/vocab_tokenizer.h"

#include <algorithm>

namespace deepcpu::tokenizer {
namespace {

struct Symbol {
  int prev;
  int next;
  size_t begin;  // byte range in the word
  size_t n;
};

struct Bigram {
  int left;
  int right;
  int rank;
  size_t size;  // bytes of left + right when queued; a mismatch later means it is stale
};

// Max-heap order of std::priority_queue with llama.cpp's comparator: lowest rank, then
// leftmost, comes out first.
struct BigramAfter {
  bool operator()(const Bigram& l, const Bigram& r) const {
    return l.rank > r.rank || (l.rank == r.rank && l.left > r.left);
  }
};

class BpeTokenizer final : public VocabTokenizer {
 public:
  BpeTokenizer(Vocab vocab, std::unique_ptr<PreTokenizer> pre) : VocabTokenizer(std::move(vocab)), pre_(std::move(pre)) {}

  std::vector<TokenId> tokenize(std::string_view text, bool add_special, bool parse_special) const override {
    std::vector<TokenId> out;
    if (add_special && vocab_.add_bos) out.push_back(vocab_.bos);
    Scratch s;
    for (const Fragment& f : partition_special(vocab_, text, parse_special)) {
      if (f.token >= 0) {
        out.push_back(f.token);
      } else {
        encode(text.substr(f.offset, f.length), s, out);
      }
    }
    if (add_special && vocab_.add_eos) out.push_back(vocab_.eos);
    return out;
  }

 private:
  // Buffers reused across the words of one tokenize() call.
  struct Scratch {
    std::vector<std::string> words;
    std::string word;
    std::vector<Symbol> symbols;
    std::vector<Bigram> heap;
    std::string key;
  };

  void add_bigram(Scratch& s, int left, int right) const {
    if (left < 0 || right < 0) return;
    const Symbol& l = s.symbols[left];
    const Symbol& r = s.symbols[right];
    const std::string_view w(s.word);
    const int rank = vocab_.rank(w.substr(l.begin, l.n), w.substr(r.begin, r.n), s.key);
    if (rank < 0) return;
    s.heap.push_back({left, right, rank, l.n + r.n});
    std::push_heap(s.heap.begin(), s.heap.end(), BigramAfter());
  }

  void encode(std::string_view text, Scratch& s, std::vector<TokenId>& out) const {
    pre_->split(text, s.words);
    for (const std::string& raw_word : s.words) {
      s.word.clear();
      for (unsigned char c : raw_word) s.word += byte_to_unicode(c);
      const std::string_view w(s.word);
      s.symbols.clear();
      s.heap.clear();

      if (vocab_.ignore_merges && vocab_.find(w) >= 0) {
        s.symbols.push_back({-1, -1, 0, w.size()});
      } else {
        for (size_t off = 0; off < w.size();) {
          const size_t len = std::min(w.size() - off, utf8_len(w[off]));
          const int idx = static_cast<int>(s.symbols.size());
          s.symbols.push_back({idx - 1, off + len == w.size() ? -1 : idx + 1, off, len});
          off += len;
        }
      }
      for (int i = 1; i < static_cast<int>(s.symbols.size()); ++i) add_bigram(s, i - 1, i);

      while (!s.heap.empty()) {
        std::pop_heap(s.heap.begin(), s.heap.end(), BigramAfter());
        const Bigram b = s.heap.back();
        s.heap.pop_back();
        Symbol& l = s.symbols[b.left];
        Symbol& r = s.symbols[b.right];
        // Stale if either side was merged since: the left symbol's start never moves and
        // the right one stays adjacent while both live, so comparing sizes is the same
        // test as llama.cpp's comparison of the texts.
        if (l.n == 0 || r.n == 0 || l.n + r.n != b.size) continue;
        l.n += r.n;
        r.n = 0;
        l.next = r.next;
        if (r.next >= 0) s.symbols[r.next].prev = b.left;
        add_bigram(s, l.prev, b.left);
        add_bigram(s, b.left, l.next);
      }

      for (const Symbol& sym : s.symbols) {
        if (sym.n == 0) continue;
        const std::string_view piece = w.substr(sym.begin, sym.n);
        const TokenId id = vocab_.find(piece);
        if (id >= 0) {
          out.push_back(id);
          continue;
        }
        for (char c : piece) {
          const TokenId byte_id = vocab_.find(std::string_view(&c, 1));
          if (byte_id >= 0) out.push_back(byte_id);
        }
      }
    }
  }

  std::unique_ptr<PreTokenizer> pre_;
};

}  // namespace

std::unique_ptr<Tokenizer> make_bpe_tokenizer(Vocab vocab, std::unique_ptr<PreTokenizer> pre) {
  return std::make_unique<BpeTokenizer>(std::move(vocab), std::move(pre));
}

}  // namespace deepcpu::tokenizer
