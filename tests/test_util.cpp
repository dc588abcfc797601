#include "test_util.h"

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <mutex>
#include <vector>

namespace deepcpu::test {

std::string data_path(const std::string& name) { return std::string(DEEPCPU_TEST_DATA) + "/" + name; }

std::string fixture(const std::string& rel) {
  const std::string in_repo = data_path(rel);
  if (file_exists(in_repo)) return in_repo;
  if (file_exists(in_repo + ".xz")) {
    const std::string cache = std::string(DEEPCPU_TEST_CACHE) + "/" + rel;
    if (!file_exists(cache)) {
      const std::string dir = cache.substr(0, cache.rfind('/'));
      const std::string tmp = cache + ".tmp" + std::to_string(getpid());
      const std::string cmd = "mkdir -p '" + dir + "' && xz -dc '" + in_repo + ".xz' > '" + tmp + "' && mv '" + tmp +
                              "' '" + cache + "'";
      if (std::system(cmd.c_str()) != 0) throw std::runtime_error("cannot decompress " + in_repo + ".xz");
    }
    return cache;
  }
  const char* env = std::getenv("DEEPCPU_SHARED");
  const std::string shared = env ? std::string(env) : std::string(DEEPCPU_SOURCE_DIR) + "/../shared";
  if (file_exists(shared + "/" + rel)) return shared + "/" + rel;
  return "";
}

bool file_exists(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0;
}

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error("cannot read " + path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

namespace {
// Every directory temp_dir() made, removed when the test process exits (each ctest test is
// its own process), so a test that returns early or fails leaves nothing in /tmp. Set
// DEEPCPU_KEEP_TEST_DIRS=1 to keep them (e.g. to read a failed server test's log).
struct TempDirs {
  std::mutex mu;
  std::vector<std::string> dirs;
  pid_t owner = getpid();
  ~TempDirs() {
    const char* keep = std::getenv("DEEPCPU_KEEP_TEST_DIRS");
    if (getpid() != owner || (keep != nullptr && std::string(keep) == "1")) return;
    std::error_code ec;
    for (const std::string& d : dirs) std::filesystem::remove_all(d, ec);
  }
};
TempDirs& temp_dirs() {
  static TempDirs t;
  return t;
}
}  // namespace

std::string temp_dir() {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base ? base : "/tmp") + "/deepcpu-test-XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  TempDirs& t = temp_dirs();
  std::lock_guard<std::mutex> lock(t.mu);
  t.dirs.push_back(tmpl);
  return tmpl;
}

CommandResult run_deepcpu(const std::string& args, const std::string& stdin_text) {
  const std::string dir = temp_dir();
  const std::string in = dir + "/stdin", out = dir + "/stdout", err = dir + "/stderr";
  {
    std::ofstream f(in, std::ios::binary);
    f << stdin_text;
  }
  const std::string cmd =
      std::string(DEEPCPU_BINARY) + " " + args + " <" + in + " >" + out + " 2>" + err;
  const int status = std::system(cmd.c_str());
  CommandResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = read_file(out);
  r.err = read_file(err);
  std::system(("rm -rf " + dir).c_str());
  return r;
}

}  // namespace deepcpu::test
