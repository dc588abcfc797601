// Helpers shared by tests: where fixtures live, running the CLI binary.
#pragma once

#include <string>

namespace deepcpu::test {

// tests/data/<name> (fixtures copied into the repo, see tests/data/PROVENANCE.md).
std::string data_path(const std::string& name);

// A fixture by its path under tests/data (which mirrors ../shared: models/, reference/,
// tokenizer/): tests/data/<rel>, else tests/data/<rel>.xz decompressed once into the
// build tree, else ../shared/<rel> (or $DEEPCPU_SHARED/<rel>) when a checkout has it.
// "" when none exists: the caller skips with GTEST_SKIP and says which file is missing.
std::string fixture(const std::string& rel);
bool file_exists(const std::string& path);
std::string read_file(const std::string& path);
// A fresh empty directory under the build's temp folder.
std::string temp_dir();

struct CommandResult {
  int exit_code = -1;
  std::string out;  // stdout
  std::string err;  // stderr
};
// Runs the deepcpu binary with `args` (shell-quoted by the caller), optional stdin text.
CommandResult run_deepcpu(const std::string& args, const std::string& stdin_text = "");

}  // namespace deepcpu::test
