// StreamDecoder: feeding Chinese and emoji text token by token never yields a broken
// UTF-8 character, and the pieces add up to the whole text. Byte-level BPE splits such
// characters across tokens, so this is exercised on real vocabs.
#include <gtest/gtest.h>

#include "tokenizer_fixtures.h"

namespace deepcpu::test {
namespace {

bool valid_utf8(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    const size_t n = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    for (size_t k = 1; k < n; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    }
    i += n;
  }
  return true;
}

const char* const kTexts[] = {
    "人工智能正在改变世界。请用三句话解释什么是大语言模型",
    "🤖🚀✨👨\u200d👩\u200d👧\u200d👦🇨🇳 emoji run",
    "日本語の文章：東京は日本の首都です。한국어 텍스트도 포함됩니다. Ünïcödé ⅓ ½",
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𐍈 math 𝑥² and 龘靐齉",
};

class StreamDecoderVocab : public testing::TestWithParam<std::string> {};

TEST_P(StreamDecoderVocab, NeverSplitsACharacter) {
  const std::string rel = "tokenizer/ggml-vocab-" + GetParam() + ".gguf";
  const Tokenizer* tok = load_tokenizer(rel);
  if (tok == nullptr) GTEST_SKIP() << rel << " not found";
  for (const char* text : kTexts) {
    const std::vector<TokenId> ids = tok->tokenize(text, false, false);
    StreamDecoder dec(*tok, false);
    std::string all;
    for (TokenId id : ids) {
      const std::string piece = dec.push(id);
      EXPECT_TRUE(valid_utf8(piece)) << GetParam() << ": token " << id << " gave invalid UTF-8 " << quoted(piece);
      all += piece;
    }
    const std::string rest = dec.flush();
    EXPECT_TRUE(rest.empty()) << GetParam() << ": bytes left after a complete text: " << quoted(rest);
    all += rest;
    // SPM's detokenize drops the leading space it added; the stream keeps it, like llama.cpp.
    const std::string expected = tok->add_space_prefix() ? std::string(" ") + text : std::string(text);
    EXPECT_EQ(all, expected) << GetParam() << ": ids " << ids_string(ids);
  }
}

INSTANTIATE_TEST_SUITE_P(Tokenizer, StreamDecoderVocab,
                         testing::Values("qwen2", "llama-bpe", "llama-spm", "deepseek-v3"),
                         [](const testing::TestParamInfo<std::string>& p) {
                           std::string name = p.param;
                           for (char& c : name) {
                             if (c == '-') c = '_';
                           }
                           return name;
                         });

// An incomplete character at the end comes out of flush() as U+FFFD.
TEST(Tokenizer, StreamDecoderFlushesInvalidTailAsReplacement) {
  const Tokenizer* tok = load_tokenizer("tokenizer/ggml-vocab-qwen2.gguf");
  if (tok == nullptr) GTEST_SKIP() << "ggml-vocab-qwen2.gguf not found";
  // "人" is E4 BA BA; byte-level BPE has a token for each single byte.
  const std::vector<TokenId> ids = tok->tokenize("\xE4\xBA\xBA", false, false);
  ASSERT_FALSE(ids.empty());
  StreamDecoder dec(*tok, false);
  std::string out;
  for (TokenId id : ids) out += dec.push(id);
  out += dec.flush();
  EXPECT_EQ(out, "\xE4\xBA\xBA");

  // The token of the single byte E4 alone: held back, then flushed as U+FFFD.
  StreamDecoder dec2(*tok, false);
  std::string byte_e4;
  for (TokenId id = 0; id < tok->n_vocab(); ++id) {
    if (tok->token_to_piece(id, false) == "\xE4") {
      EXPECT_EQ(dec2.push(id), "");
      EXPECT_EQ(dec2.flush(), "\xEF\xBF\xBD");
      return;
    }
  }
  ADD_FAILURE() << "qwen2 has no token for the byte E4";
}

}  // namespace
}  // namespace deepcpu::test
