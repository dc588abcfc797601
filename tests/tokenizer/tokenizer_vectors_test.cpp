// llama.cpp's test-tokenizer-0 vectors: for each ggml-vocab-*.gguf, every string of its
// .inp must tokenize (add_special=false, parse_special=false) to the ids on the matching
// line of its .out. Also checks the detokenize round trip where llama.cpp keeps text as is.
#include <gtest/gtest.h>

#include "tokenizer_fixtures.h"

#include <sstream>

namespace deepcpu::test {
namespace {

struct Vectors {
  std::vector<std::string> inputs;
  std::vector<std::vector<TokenId>> expected;
};

// .inp: strings each followed by "\n__ggml_vocab_test__\n"; .out: one line of ids per string.
Vectors read_vectors(const std::string& inp_path, const std::string& out_path) {
  Vectors v;
  const std::string inp = read_file(inp_path);
  const std::string sep = "\n__ggml_vocab_test__\n";
  for (size_t pos = 0; pos < inp.size();) {
    const size_t end = inp.find(sep, pos);
    if (end == std::string::npos) break;
    v.inputs.push_back(inp.substr(pos, end - pos));
    pos = end + sep.size();
  }
  std::istringstream out(read_file(out_path));
  std::string line;
  while (std::getline(out, line)) {
    std::istringstream ls(line);
    std::vector<TokenId> ids;
    TokenId id;
    while (ls >> id) ids.push_back(id);
    v.expected.push_back(ids);
  }
  return v;
}

class VocabVectors : public testing::TestWithParam<std::string> {};

TEST_P(VocabVectors, MatchLlamaCpp) {
  const std::string rel = "tokenizer/ggml-vocab-" + GetParam() + ".gguf";
  std::string err;
  const Tokenizer* tok = load_tokenizer(rel, &err);
  ASSERT_TRUE(err.empty()) << err;
  if (tok == nullptr) GTEST_SKIP() << rel << " not found";
  const std::string inp = fixture(rel + ".inp"), out = fixture(rel + ".out");
  ASSERT_FALSE(inp.empty() || out.empty()) << rel << ".inp/.out missing";
  const Vectors v = read_vectors(inp, out);
  ASSERT_EQ(v.inputs.size(), v.expected.size()) << rel << ": .inp and .out disagree on the number of strings";
  ASSERT_GT(v.inputs.size(), 0u);

  int passed = 0;
  for (size_t i = 0; i < v.inputs.size(); ++i) {
    const std::vector<TokenId> got = tok->tokenize(v.inputs[i], false, false);
    EXPECT_EQ(got, v.expected[i]) << rel << " vector " << i << ": " << quoted(v.inputs[i])
                                  << "\n  expected " << ids_string(v.expected[i]) << "\n  got      " << ids_string(got);
    passed += got == v.expected[i];
  }
  RecordProperty("passed", passed);
  std::printf("[ vectors  ] %s: %d/%zu\n", GetParam().c_str(), passed, v.inputs.size());
}

// llama.cpp detokenizes BPE text back to the input when the vocab does not clean spaces
// (clean_spaces=false: qwen2 and the deepseek vocabs) and the input is valid UTF-8.
TEST_P(VocabVectors, RoundTrip) {
  const std::string rel = "tokenizer/ggml-vocab-" + GetParam() + ".gguf";
  const Tokenizer* tok = load_tokenizer(rel);
  if (tok == nullptr) GTEST_SKIP() << rel << " not found";
  if (tok->clean_spaces() || tok->add_space_prefix()) GTEST_SKIP() << GetParam() << " does not round-trip by design";
  const Vectors v = read_vectors(fixture(rel + ".inp"), fixture(rel + ".out"));
  for (const std::string& s : v.inputs) {
    EXPECT_EQ(tok->detokenize(tok->tokenize(s, false, false), false), s) << rel << ": " << quoted(s);
  }
}

INSTANTIATE_TEST_SUITE_P(Tokenizer, VocabVectors,
                         testing::Values("qwen2", "llama-bpe", "llama-spm", "deepseek-llm", "deepseek-coder",
                                         "deepseek-v3"),
                         [](const testing::TestParamInfo<std::string>& p) {
                           std::string name = p.param;
                           for (char& c : name) {
                             if (c == '-') c = '_';
                           }
                           return name;
                         });

}  // namespace
}  // namespace deepcpu::test
