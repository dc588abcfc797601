// The vocabulary as llama.cpp sees it after llama_vocab::load: token texts, scores and
// attributes, BPE merge ranks, special ids, BOS/EOS rules and the end-of-generation set,
// read once from tokenizer.ggml.* with every lookup table built here.
#pragma once

#include "base/status.h"
#include "gguf/gguf.h"
#include "tokenizer/tokenizer.h"

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace deepcpu::tokenizer {

// llama_token_attr bits; GGUF token types map onto these at load.
enum TokenAttr : uint32_t {
  kAttrUndefined = 0,
  kAttrUnknown = 1u << 0,
  kAttrUnused = 1u << 1,
  kAttrNormal = 1u << 2,
  kAttrControl = 1u << 3,
  kAttrUserDefined = 1u << 4,
  kAttrByte = 1u << 5,
  kAttrLstrip = 1u << 7,
  kAttrRstrip = 1u << 8,
};

enum class VocabKind { kBpe, kSpm };

// Hash for std::string keys that also accepts string_view, so lookups never allocate.
struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using StringIdMap = std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>>;

struct Vocab {
  VocabKind kind = VocabKind::kBpe;
  std::string pre;  // tokenizer.ggml.pre ("" when absent)

  std::vector<std::string> text;   // by id
  std::vector<float> score;        // by id
  std::vector<TokenType> type;     // by id, as stored in the GGUF
  std::vector<uint32_t> attr;      // by id, TokenAttr bits after llama.cpp's adjustments
  StringIdMap text_to_id;
  // BPE merges: "left\0right" -> rank (first occurrence wins, as llama.cpp's emplace).
  StringIdMap merge_rank;

  TokenId bos = -1, eos = -1, eot = -1, eom = -1, unk = -1, pad = -1;
  TokenId fim_pre = -1, fim_suf = -1, fim_mid = -1, fim_pad = -1, fim_rep = -1, fim_sep = -1;
  bool add_bos = false;
  bool add_eos = false;
  bool add_space_prefix = false;
  bool clean_spaces = false;
  bool ignore_merges = false;
  std::unordered_set<TokenId> eog;

  // CONTROL / USER_DEFINED / UNKNOWN ids, longest text first, as llama.cpp's
  // cache_special_tokens (sorted with the same std::sort and comparator).
  std::vector<TokenId> special_tokens;
  // token_to_piece(id, special=true) for every id, built once.
  std::vector<std::string> piece;

  int32_t n_tokens() const { return static_cast<int32_t>(text.size()); }
  TokenId find(std::string_view s) const {
    auto it = text_to_id.find(s);
    return it == text_to_id.end() ? -1 : it->second;
  }
  // BPE merge rank of (left, right), or -1. `key` is scratch space reused by the caller.
  int32_t rank(std::string_view left, std::string_view right, std::string& key) const;
};

// Reads tokenizer.ggml.* from `model` the way llama_vocab::load does.
Result<Vocab> load_vocab(const gguf::Model& model);

}  // namespace deepcpu::tokenizer
