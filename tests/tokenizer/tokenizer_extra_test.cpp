// The 37 extra strings of extra-vectors.json (CJK, emoji, digits, whitespace runs, code,
// special-token strings) tokenized by llama.cpp for 9 vocabs in both parse_special modes,
// and the prompt ids of the reference runs in tests/data/tokenizer/reference-prompts.json
// (extracted from shared/reference/*.json: tokenize with add_special=true).
#include <gtest/gtest.h>

#include "tokenizer_fixtures.h"

#include <nlohmann/json.hpp>

namespace deepcpu::test {
namespace {

using nlohmann::json;

const json& load_json(const std::string& rel) {
  static std::map<std::string, json> cache;
  auto it = cache.find(rel);
  if (it != cache.end()) return it->second;
  const std::string path = fixture(rel);
  return cache[rel] = path.empty() ? json() : json::parse(read_file(path));
}

// Vocab files live in tests/data/tokenizer, the three model vocabs in tests/data/models.
std::string vocab_fixture(const std::string& file) {
  return file.rfind("ggml-vocab-", 0) == 0 ? "tokenizer/" + file : "models/" + file;
}

std::string hex(const std::string& bytes) {
  std::string out;
  for (unsigned char c : bytes) out += fmt::format("{:02x}", c);
  return out;
}

class ExtraVectors : public testing::TestWithParam<std::string> {};

TEST_P(ExtraVectors, BothParseSpecialModes) {
  const json& doc = load_json("tokenizer/extra-vectors.json");
  ASSERT_FALSE(doc.is_null()) << "tokenizer/extra-vectors.json not found";
  const json& entry = doc["vocabs"][GetParam()];
  const std::string rel = vocab_fixture(entry["file"].get<std::string>());
  std::string err;
  const Tokenizer* tok = load_tokenizer(rel, &err);
  ASSERT_TRUE(err.empty()) << err;
  if (tok == nullptr) GTEST_SKIP() << rel << " not found";

  const auto strings = doc["strings"].get<std::vector<std::string>>();
  for (bool parse_special : {false, true}) {
    const auto expected =
        entry[parse_special ? "parse_special_true" : "parse_special_false"].get<std::vector<std::vector<TokenId>>>();
    ASSERT_EQ(expected.size(), strings.size());
    int passed = 0;
    for (size_t i = 0; i < strings.size(); ++i) {
      const std::vector<TokenId> got = tok->tokenize(strings[i], false, parse_special);
      EXPECT_EQ(got, expected[i]) << GetParam() << " parse_special=" << parse_special << " string " << i << ": "
                                  << quoted(strings[i]) << "\n  expected " << ids_string(expected[i])
                                  << "\n  got      " << ids_string(got);
      passed += got == expected[i];
    }
    std::printf("[ extra    ] %s parse_special=%d: %d/%zu\n", GetParam().c_str(), parse_special, passed,
                strings.size());
  }
}

INSTANTIATE_TEST_SUITE_P(Tokenizer, ExtraVectors,
                         testing::Values("qwen2", "llama-bpe", "llama-spm", "deepseek-llm", "deepseek-coder",
                                         "deepseek-v3", "deepseek-r1", "r1-distill-qwen", "r1-distill-llama"),
                         [](const testing::TestParamInfo<std::string>& p) {
                           std::string name = p.param;
                           for (char& c : name) {
                             if (c == '-') c = '_';
                           }
                           return name;
                         });

class ReferencePrompts : public testing::TestWithParam<std::string> {};

// prompt_ids with add_special=true, every prompt piece (special=true), and the greedy
// continuation detokenized as llama_detokenize(remove_special=false, unparse_special=false).
TEST_P(ReferencePrompts, MatchLlamaCpp) {
  const json& doc = load_json("tokenizer/reference-prompts.json");
  ASSERT_FALSE(doc.is_null()) << "tokenizer/reference-prompts.json not found";
  const json& entry = doc[GetParam()];
  const std::string rel = "models/" + GetParam();
  std::string err;
  const Tokenizer* tok = load_tokenizer(rel, &err);
  ASSERT_TRUE(err.empty()) << err;
  if (tok == nullptr) GTEST_SKIP() << rel << " not found";
  EXPECT_EQ(tok->add_bos(), entry["add_bos"].get<bool>());

  for (const json& p : entry["prompts"]) {
    const std::string text = p["text"];
    const auto expected = p["prompt_ids"].get<std::vector<TokenId>>();
    const std::vector<TokenId> got = tok->tokenize(text, p["add_special"].get<bool>(), p["parse_special"].get<bool>());
    EXPECT_EQ(got, expected) << GetParam() << " prompt '" << p["id"].get<std::string>() << "': " << quoted(text)
                             << "\n  expected " << ids_string(expected) << "\n  got      " << ids_string(got);
    const auto pieces = p["prompt_pieces_hex"].get<std::vector<std::string>>();
    for (size_t i = 0; i < expected.size() && i < pieces.size(); ++i) {
      EXPECT_EQ(hex(tok->token_to_piece(expected[i], true)), pieces[i]) << GetParam() << " token " << expected[i];
    }
    const auto greedy = p["greedy_ids"].get<std::vector<TokenId>>();
    EXPECT_EQ(hex(tok->detokenize(greedy, false)), p["greedy_text_hex"].get<std::string>())
        << GetParam() << " prompt '" << p["id"].get<std::string>() << "': detokenize of " << ids_string(greedy);
  }
}

INSTANTIATE_TEST_SUITE_P(Tokenizer, ReferencePrompts,
                         testing::Values("ds3-tiny-F16.gguf", "ds3-tiny-Q8_0.gguf", "ds3-tiny-legacy-kvb-Q8_0.gguf",
                                         "llama-tiny-BF16.gguf", "llama-tiny-Q8_0.gguf", "qwen2-tiny-Q8_0.gguf",
                                         "stories260K.gguf"),
                         [](const testing::TestParamInfo<std::string>& p) {
                           std::string name = p.param.substr(0, p.param.size() - 5);
                           for (char& c : name) {
                             if (c == '-' || c == '.') c = '_';
                           }
                           return name;
                         });

TEST(Tokenizer, StoriesOnceUponATime) {
  const Tokenizer* tok = load_tokenizer("models/stories260K.gguf");
  if (tok == nullptr) GTEST_SKIP() << "models/stories260K.gguf not found";
  EXPECT_EQ(tok->tokenize("Once upon a time", true, false), (std::vector<TokenId>{1, 403, 407, 261, 378}));
  EXPECT_EQ(tok->detokenize({403, 407, 261, 378}, false), "Once upon a time");  // SPM: leading space dropped
}

}  // namespace
}  // namespace deepcpu::test
