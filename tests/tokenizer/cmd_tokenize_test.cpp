// `deepcpu tokenize` end to end: the llama-tokenize line format, --ids JSON, BOS and
// special-token flags, byte-exact input from --stdin and -f, and errors.
#include <gtest/gtest.h>

#include "test_util.h"

#include <fstream>

namespace deepcpu::test {
namespace {

std::string model_arg(const std::string& rel) {
  const std::string path = fixture(rel);
  return path.empty() ? "" : "-m '" + path + "'";
}

TEST(CmdTokenize, StoriesLinesAndIds) {
  const std::string m = model_arg("models/stories260K.gguf");
  if (m.empty()) GTEST_SKIP() << "models/stories260K.gguf not found";
  CommandResult r = run_deepcpu("tokenize " + m + " -p 'Once upon a time'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "     1 -> '<s>'\n   403 -> ' Once'\n   407 -> ' upon'\n   261 -> ' a'\n   378 -> ' time'\n");

  r = run_deepcpu("tokenize " + m + " -p 'Once upon a time' --ids --show-count");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "[1, 403, 407, 261, 378]\nTotal number of tokens: 5\n");

  r = run_deepcpu("tokenize " + m + " -p 'Once upon a time' --ids --no-bos");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "[403, 407, 261, 378]\n");
}

TEST(CmdTokenize, SpecialTokensAndStdinBytes) {
  const std::string m = model_arg("models/ds3-tiny-Q8_0.gguf");
  if (m.empty()) GTEST_SKIP() << "models/ds3-tiny-Q8_0.gguf not found";
  // Parsed by default: <｜User｜> is one control token (128803 in the DeepSeek-V3 vocab).
  CommandResult parsed = run_deepcpu("tokenize " + m + " --ids --no-bos --stdin", "<｜User｜>hi\n");
  ASSERT_EQ(parsed.exit_code, 0) << parsed.err;
  CommandResult text = run_deepcpu("tokenize " + m + " --ids --no-bos --no-parse-special --stdin", "<｜User｜>hi\n");
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_EQ(parsed.out.rfind("[128803, ", 0), 0u) << parsed.out;
  EXPECT_NE(parsed.out, text.out);

  // -f and --stdin read the same bytes, trailing newline included.
  const std::string dir = temp_dir();
  {
    std::ofstream f(dir + "/p.txt", std::ios::binary);
    f << "<｜User｜>hi\n";
  }
  CommandResult from_file = run_deepcpu("tokenize " + m + " --ids --no-bos -f '" + dir + "/p.txt'");
  ASSERT_EQ(from_file.exit_code, 0) << from_file.err;
  EXPECT_EQ(from_file.out, parsed.out);

  CommandResult bos = run_deepcpu("tokenize " + m + " --ids --stdin", "hi");
  ASSERT_EQ(bos.exit_code, 0) << bos.err;
  EXPECT_EQ(bos.out.rfind("[0, ", 0), 0u) << "BOS 0 expected first: " << bos.out;
}

TEST(CmdTokenize, ErrorsAndHelp) {
  CommandResult r = run_deepcpu("tokenize --help");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("--no-parse-special"), std::string::npos) << r.out;

  r = run_deepcpu("tokenize -m /nonexistent/model.gguf -p hi");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("/nonexistent/model.gguf"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;

  r = run_deepcpu("tokenize -m /nonexistent/model.gguf");
  EXPECT_EQ(r.exit_code, 1) << "no text given";
}

}  // namespace
}  // namespace deepcpu::test
