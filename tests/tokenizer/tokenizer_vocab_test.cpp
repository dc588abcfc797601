// Vocab facts the engine relies on (BOS/EOS/EOG, add_bos rules from the README's
// "llama.cpp tokenizer behaviour worth copying"), piece rendering of control tokens,
// and inputs that must not break tokenization (empty, malformed UTF-8, long runs).
#include <gtest/gtest.h>

#include "tokenizer_fixtures.h"

namespace deepcpu::test {
namespace {

TEST(Tokenizer, DeepSeekV3Specials) {
  const Tokenizer* tok = load_tokenizer("tokenizer/ggml-vocab-deepseek-v3.gguf");
  if (tok == nullptr) GTEST_SKIP() << "ggml-vocab-deepseek-v3.gguf not found";
  EXPECT_EQ(tok->n_vocab(), 129280);
  EXPECT_EQ(tok->bos(), 0);
  EXPECT_EQ(tok->eos(), 1);
  EXPECT_TRUE(tok->add_bos());
  EXPECT_TRUE(tok->is_eog(1));
  EXPECT_FALSE(tok->is_eog(0));
  EXPECT_FALSE(tok->clean_spaces());
  EXPECT_EQ(tok->pre_tokenizer(), "deepseek-v3");
  EXPECT_EQ(tok->token_type(0), TokenType::kControl);
  // Control tokens render only with special=true.
  EXPECT_EQ(tok->token_to_piece(0, false), "");
  EXPECT_EQ(tok->token_to_piece(0, true), tok->token_text(0));
  // BOS only with add_special; an empty text gives just BOS.
  EXPECT_EQ(tok->tokenize("", true, false), (std::vector<TokenId>{0}));
  EXPECT_TRUE(tok->tokenize("", false, false).empty());
  EXPECT_EQ(tok->tokenize("hi", true, false).front(), 0);
}

TEST(Tokenizer, BosRules) {
  struct Case {
    const char* vocab;
    bool add_bos;
  };
  for (const Case& c : {Case{"qwen2", false}, Case{"llama-bpe", true}, Case{"llama-spm", true},
                        Case{"deepseek-llm", true}, Case{"deepseek-coder", true}}) {
    const std::string rel = std::string("tokenizer/ggml-vocab-") + c.vocab + ".gguf";
    const Tokenizer* tok = load_tokenizer(rel);
    if (tok == nullptr) continue;
    EXPECT_EQ(tok->add_bos(), c.add_bos) << c.vocab;
    const std::vector<TokenId> ids = tok->tokenize("Hello", true, false);
    ASSERT_FALSE(ids.empty()) << c.vocab;
    EXPECT_EQ(ids.front() == tok->bos(), c.add_bos) << c.vocab << ": " << ids_string(ids);
  }
}

TEST(Tokenizer, QwenEndOfGeneration) {
  const Tokenizer* tok = load_tokenizer("tokenizer/ggml-vocab-qwen2.gguf");
  if (tok == nullptr) GTEST_SKIP() << "ggml-vocab-qwen2.gguf not found";
  for (const char* text : {"<|endoftext|>", "<|im_end|>"}) {
    const std::vector<TokenId> ids = tok->tokenize(text, false, true);
    ASSERT_EQ(ids.size(), 1u) << text;
    EXPECT_TRUE(tok->is_eog(ids[0])) << text;
  }
  EXPECT_FALSE(tok->is_eog(tok->tokenize("hello", false, false)[0]));
}

// Malformed UTF-8 must not crash or hang; llama.cpp treats each bad byte as U+FFFD.
TEST(Tokenizer, MalformedAndLongInputs) {
  for (const char* vocab : {"qwen2", "llama-bpe", "llama-spm", "deepseek-llm", "deepseek-coder", "deepseek-v3"}) {
    const Tokenizer* tok = load_tokenizer(std::string("tokenizer/ggml-vocab-") + vocab + ".gguf");
    if (tok == nullptr) continue;
    const std::string bad = "a\xff\xfe b\xe4\xb8 c\xed\xa0\x80 d\xf4\x90\x80\x80 e\xc3";
    const std::vector<TokenId> ids = tok->tokenize(bad, false, false);
    EXPECT_FALSE(ids.empty()) << vocab;
    for (TokenId id : ids) EXPECT_TRUE(id >= 0 && id < tok->n_vocab()) << vocab;
    const std::string spaces(20000, ' ');
    EXPECT_FALSE(tok->tokenize("x" + spaces + "y\n\n\n" + spaces, false, false).empty()) << vocab;
  }
}

}  // namespace
}  // namespace deepcpu::test
