// Loads tokenizer.ggml.* into a Vocab, following llama_vocab::load (llama.cpp 80fb11a):
// defaults per tokenizer model and pre-tokenizer, special ids with range checks, the
// text-based detection of EOT/FIM/EOG tokens, and the caches tokenization relies on.
#include "tokenizer/vocab.h"

#include "tokenizer/pre_tokenizer.h"

#include <algorithm>
#include <initializer_list>

namespace deepcpu::tokenizer {
namespace {

uint32_t attr_from_type(int64_t type) {
  switch (type) {
    case 1: return kAttrNormal;
    case 2: return kAttrUnknown;
    case 3: return kAttrControl;
    case 4: return kAttrUserDefined;
    case 5: return kAttrUnused;
    case 6: return kAttrByte;
    default: return kAttrUndefined;
  }
}

bool is_one_of(const std::string& s, std::initializer_list<std::string_view> names) {
  for (std::string_view n : names) {
    if (s == n) return true;
  }
  return false;
}

// Token texts that llama.cpp recognises as end-of-generation (and forces to CONTROL).
constexpr std::string_view kEogTexts[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<end_of_turn>", "<|endoftext|>",
    "<|eom_id|>", "<EOT>", "_<EOT>", "<|end_of_text|>", "<end_of_utterance>",
};

struct TextRule {
  TokenId Vocab::*id;
  std::initializer_list<std::string_view> texts;
};

}  // namespace

int32_t Vocab::rank(std::string_view left, std::string_view right, std::string& key) const {
  key.assign(left);
  key.push_back('\0');
  key.append(right);
  auto it = merge_rank.find(std::string_view(key));
  return it == merge_rank.end() ? -1 : it->second;
}

Result<Vocab> load_vocab(const gguf::Model& model) {
  const std::string& path = model.path();
  Vocab v;

  auto model_name = model.get_string("tokenizer.ggml.model");
  DEEPCPU_RETURN_IF_ERROR(model_name.status());
  if (!model_name.value()) {
    return error("{}: no 'tokenizer.ggml.model' key; this GGUF carries no tokenizer", path);
  }
  auto pre = model.get_string("tokenizer.ggml.pre");
  DEEPCPU_RETURN_IF_ERROR(pre.status());
  v.pre = pre.value().value_or("");

  auto tokens = model.get_string_array("tokenizer.ggml.tokens");
  DEEPCPU_RETURN_IF_ERROR(tokens.status());
  if (tokens->empty()) return error("{}: 'tokenizer.ggml.tokens' is missing or empty", path);
  const size_t n = tokens->size();

  const std::string& kind = *model_name.value();
  if (kind == "llama") {
    v.kind = VocabKind::kSpm;
    v.bos = 1, v.eos = 2, v.unk = 0;
    v.add_space_prefix = true;
    v.clean_spaces = false;
    v.add_bos = true;
  } else if (kind == "gpt2") {
    v.kind = VocabKind::kBpe;
    v.bos = 11, v.eos = 11;
    v.clean_spaces = true;
    const std::optional<PreTokenizerSpec> spec = pre_tokenizer_spec(v.pre);
    if (!spec) {
      return error("{}: unknown pre-tokenizer '{}' (tokenizer.ggml.pre); supported: default, gpt-2, llama-bpe, "
                   "qwen2, deepseek-r1-qwen, deepseek-llm, deepseek-coder, deepseek-v3", path, v.pre);
    }
    v.ignore_merges = spec->ignore_merges;
    v.clean_spaces = spec->clean_spaces;
    if (spec->add_bos) v.add_bos = true;
    auto merges = model.get_string_array("tokenizer.ggml.merges");
    DEEPCPU_RETURN_IF_ERROR(merges.status());
    // An empty merge list is valid (a byte-level vocab, as the synthetic benchmark models
    // have); a missing key is not, as in llama.cpp.
    if (model.find("tokenizer.ggml.merges") == nullptr) {
      return error("{}: BPE vocab without 'tokenizer.ggml.merges'", path);
    }
    v.merge_rank.reserve(merges->size());
    std::string key;
    for (size_t i = 0; i < merges->size(); ++i) {
      const std::string& m = (*merges)[i];
      // llama.cpp splits at the first space after position 0; no space gives ("", "").
      const size_t pos = m.find(' ', 1);
      key.clear();
      if (pos != std::string::npos) {
        key.append(m, 0, pos);
        key.push_back('\0');
        key.append(m, pos + 1);
      } else {
        key.push_back('\0');
      }
      v.merge_rank.emplace(key, static_cast<int32_t>(i));
    }
  } else {
    return error("{}: unknown tokenizer model '{}' (tokenizer.ggml.model); supported: gpt2 (byte-level BPE), "
                 "llama (SentencePiece)", path, kind);
  }

  auto add_prefix = model.get_bool("tokenizer.ggml.add_space_prefix");
  DEEPCPU_RETURN_IF_ERROR(add_prefix.status());
  if (add_prefix.value()) v.add_space_prefix = *add_prefix.value();

  auto scores = model.get_number_array("tokenizer.ggml.scores");
  DEEPCPU_RETURN_IF_ERROR(scores.status());
  if (!scores->empty() && scores->size() < n) {
    return error("{}: 'tokenizer.ggml.scores' has {} entries for {} tokens", path, scores->size(), n);
  }
  auto types = model.get_number_array("tokenizer.ggml.token_type");
  DEEPCPU_RETURN_IF_ERROR(types.status());
  if (!types->empty() && types->size() < n) {
    return error("{}: 'tokenizer.ggml.token_type' has {} entries for {} tokens", path, types->size(), n);
  }

  v.text = std::move(tokens.value());
  v.score.assign(n, 0.0f);
  v.type.assign(n, TokenType::kNormal);
  v.attr.assign(n, kAttrNormal);
  v.text_to_id.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    if (v.text[i].empty()) v.text[i] = "[EMPTY_" + std::to_string(i) + "]";
    if (!scores->empty()) v.score[i] = static_cast<float>((*scores)[i]);
    if (!types->empty()) {
      const auto t = static_cast<int64_t>((*types)[i]);
      v.type[i] = static_cast<TokenType>(t);
      v.attr[i] = attr_from_type(t);
    }
    auto [it, inserted] = v.text_to_id.emplace(v.text[i], static_cast<int32_t>(i));
    if (!inserted) {
      return error("{}: duplicate token '{}' at ids {} and {} in 'tokenizer.ggml.tokens'", path, v.text[i],
                   it->second, i);
    }
  }

  // Special ids: a default out of range is disabled; a key out of range keeps the default.
  struct IdKey {
    const char* key;
    TokenId Vocab::*id;
  };
  const IdKey id_keys[] = {
      {"tokenizer.ggml.bos_token_id", &Vocab::bos},         {"tokenizer.ggml.eos_token_id", &Vocab::eos},
      {"tokenizer.ggml.eot_token_id", &Vocab::eot},         {"tokenizer.ggml.eom_token_id", &Vocab::eom},
      {"tokenizer.ggml.unknown_token_id", &Vocab::unk},     {"tokenizer.ggml.padding_token_id", &Vocab::pad},
      {"tokenizer.ggml.fim_pre_token_id", &Vocab::fim_pre}, {"tokenizer.ggml.fim_suf_token_id", &Vocab::fim_suf},
      {"tokenizer.ggml.fim_mid_token_id", &Vocab::fim_mid}, {"tokenizer.ggml.fim_pad_token_id", &Vocab::fim_pad},
      {"tokenizer.ggml.fim_rep_token_id", &Vocab::fim_rep}, {"tokenizer.ggml.fim_sep_token_id", &Vocab::fim_sep},
      {"tokenizer.ggml.prefix_token_id", &Vocab::fim_pre},  {"tokenizer.ggml.suffix_token_id", &Vocab::fim_suf},
      {"tokenizer.ggml.middle_token_id", &Vocab::fim_mid},
  };
  for (const IdKey& k : id_keys) {
    TokenId& id = v.*(k.id);
    if (id >= static_cast<TokenId>(n)) id = -1;
    auto value = model.get_int(k.key);
    DEEPCPU_RETURN_IF_ERROR(value.status());
    if (value.value() && *value.value() >= 0 && *value.value() < static_cast<int64_t>(n)) {
      id = static_cast<TokenId>(*value.value());
    }
  }
  for (auto [key, flag] : {std::pair{"tokenizer.ggml.add_bos_token", &Vocab::add_bos},
                           std::pair{"tokenizer.ggml.add_eos_token", &Vocab::add_eos}}) {
    auto value = model.get_bool(key);
    DEEPCPU_RETURN_IF_ERROR(value.status());
    if (value.value()) v.*flag = *value.value();
  }
  if (v.add_bos && v.bos < 0) return error("{}: tokenizer.ggml.add_bos_token is true but there is no BOS id", path);
  if (v.add_eos && v.eos < 0) return error("{}: tokenizer.ggml.add_eos_token is true but there is no EOS id", path);

  // Text-based detection of EOT and FIM tokens; each found token becomes CONTROL.
  // llama.cpp walks an unordered_map; we walk ids in order, which only matters if a
  // vocab holds two candidates for the same role.
  const TextRule rules[] = {
      {&Vocab::eot, {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>",
                     "<EOT>", "_<EOT>", "<｜end▁of▁sentence｜>", "<end_of_utterance>"}},
      {&Vocab::eom, {"<|eom_id|>"}},
      {&Vocab::fim_pre, {"<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<｜fim▁begin｜>", "<PRE>", "▁<PRE>",
                         "<|code_prefix|>"}},
      {&Vocab::fim_suf, {"<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<｜fim▁hole｜>", "<SUF>", "▁<SUF>",
                         "<|code_suffix|>"}},
      {&Vocab::fim_mid, {"<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<｜fim▁end｜>", "<MID>", "▁<MID>",
                         "<|code_middle|>"}},
      {&Vocab::fim_pad, {"<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>"}},
      {&Vocab::fim_rep, {"<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"}},
      {&Vocab::fim_sep, {"<|file_sep|>"}},
  };
  for (size_t i = 0; i < n; ++i) {
    for (const TextRule& r : rules) {
      if (v.*(r.id) != -1) continue;
      if (is_one_of(v.text[i], r.texts)) {
        v.*(r.id) = static_cast<TokenId>(i);
        v.attr[i] |= kAttrControl;
      }
    }
  }

  for (TokenId id : {v.fim_pad, v.fim_rep, v.fim_sep}) {
    if (id >= 0) v.eog.insert(id);
  }
  for (size_t i = 0; i < n; ++i) {
    for (std::string_view t : kEogTexts) {
      if (v.text[i] == t) {
        v.eog.insert(static_cast<TokenId>(i));
        v.attr[i] |= kAttrControl;
      }
    }
  }
  for (TokenId id : {v.eos, v.eot, v.eom}) {
    if (id >= 0) v.eog.insert(id);
  }

  for (size_t i = 0; i < n; ++i) {
    if (v.attr[i] & (kAttrControl | kAttrUserDefined | kAttrUnknown)) v.special_tokens.push_back(static_cast<TokenId>(i));
  }
  // Not stable_sort: llama.cpp uses std::sort, and equal-length specials must keep the
  // same relative order it gives them (same libstdc++ algorithm, same input order).
  std::sort(v.special_tokens.begin(), v.special_tokens.end(),
            [&](TokenId a, TokenId b) { return v.text[a].size() > v.text[b].size(); });
  return v;
}

}  // namespace deepcpu::tokenizer
