// Black-box tests of the thread placement flags shared by run/logits/serve/batched-bench
// (--numa, -C/--cpu-mask, -Cr/--cpu-range, --cpu-strict, --poll): bad values exit 1 with a
// message naming the flag, and good ones (pinned, NUMA no-op on one node, no polling)
// give the same greedy text as no flags.
#include <gtest/gtest.h>

#include "test_util.h"

#include <nlohmann/json.hpp>

namespace deepcpu::test {
namespace {

struct BadFlag {
  const char* args;
  const char* must_name;
};

TEST(PlacementFlags, BadValuesNameTheFlag) {
  // The flags are checked before the model is looked at, so no model is needed.
  const BadFlag cases[] = {
      {"--numa mirror", "--numa"},
      {"-C xyz", "-C/--cpu-mask"},           {"--cpu-mask 0x0", "-C/--cpu-mask"},
      {"-Cr 5-3", "-Cr/--cpu-range"},        {"-Cr=7", "-Cr/--cpu-range"},
      {"--cpu-range a-b", "-Cr/--cpu-range"}, {"--cpu-strict 2", "--cpu-strict 2"},
      {"--poll 101", "--poll 101"},          {"--poll -1", "--poll -1"},
  };
  for (const BadFlag& c : cases) {
    const CommandResult r = run_deepcpu(std::string("run -m /nonexistent/model.gguf -p hi ") + c.args);
    EXPECT_EQ(r.exit_code, 1) << c.args << ": " << r.err;
    EXPECT_NE(r.err.find(c.must_name), std::string::npos) << c.args << ": " << r.err;
  }
  // Not a number at all: CLI11's usage error, which names the flag too.
  const CommandResult r = run_deepcpu("run -m /nonexistent/model.gguf -p hi --poll lots");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("--poll"), std::string::npos) << r.err;
}

TEST(PlacementFlags, ServeAndLogitsTakeThem) {
  for (const char* cmd : {"serve", "logits", "run"}) {
    const CommandResult r = run_deepcpu(std::string(cmd) + " --help");
    ASSERT_EQ(r.exit_code, 0) << cmd << ": " << r.err;
    for (const char* flag : {"--numa", "--cpu-mask", "--cpu-range", "--cpu-strict", "--poll"})
      EXPECT_NE(r.out.find(flag), std::string::npos) << cmd << " --help lacks " << flag;
  }
}

std::string greedy_text(const std::string& model, const std::string& flags) {
  const CommandResult r =
      run_deepcpu("run -m '" + model + "' -p 'Once upon a time' -n 12 --temp 0 --json -t 2 " + flags);
  EXPECT_EQ(r.exit_code, 0) << flags << ": " << r.err;
  std::string s = r.out;
  while (!s.empty() && s.back() == '\n') s.pop_back();
  const size_t nl = s.rfind('\n');
  try {
    return nlohmann::json::parse(nl == std::string::npos ? s : s.substr(nl + 1))["text"].get<std::string>();
  } catch (const std::exception& e) {
    ADD_FAILURE() << flags << ": " << e.what() << "\n" << r.out;
    return "";
  }
}

TEST(PlacementFlags, PlacementDoesNotChangeTheText) {
  const std::string model = fixture("models/stories260K.gguf");
  if (model.empty()) GTEST_SKIP() << "models/stories260K.gguf not found";
  const std::string want = greedy_text(model, "");
  ASSERT_FALSE(want.empty());
  for (const char* flags : {"-Cr 0-1 --cpu-strict 1", "-C 0x3", "-Cr=0- --poll 0", "--numa distribute",
                            "--numa isolate --cpu-strict 1", "--numa numactl --poll 100", "-C 1 -Cr 1-1"}) {
    EXPECT_EQ(greedy_text(model, flags), want) << flags;
  }
}

TEST(PlacementFlags, MaskWithNoUsableCpuIsAnError) {
  const std::string model = fixture("models/stories260K.gguf");
  if (model.empty()) GTEST_SKIP() << "models/stories260K.gguf not found";
  // CPU 4000: no machine this runs on has it.
  const CommandResult r = run_deepcpu("run -m '" + model + "' -p hi -n 1 -Cr 4000-4001");
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("-C/--cpu-mask, -Cr/--cpu-range"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("4000-4001"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace deepcpu::test
