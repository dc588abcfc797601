#include "bench_common.h"

#include <algorithm>
#include <string>

namespace deepcpu::tools {

Result<std::vector<int>> parse_int_list(const std::string& text, const char* flag, int min_value) {
  std::vector<int> out;
  size_t begin = 0;
  while (begin <= text.size()) {
    const size_t end = std::min(text.find(',', begin), text.size());
    const std::string item = text.substr(begin, end - begin);
    size_t used = 0;
    int v = 0;
    try {
      v = std::stoi(item, &used);
    } catch (...) {
      used = 0;
    }
    if (item.empty() || used != item.size()) return error("{} '{}': '{}' is not an integer", flag, text, item);
    if (v < min_value) return error("{} '{}': {} is below the minimum {}", flag, text, v, min_value);
    out.push_back(v);
    begin = end + 1;
  }
  return out;
}

std::string command_line(int argc, char** argv) {
  std::string s = "deepcpu";
  for (int i = 0; i < argc; ++i) {
    const std::string a = argv[i];
    const bool plain =
        !a.empty() && a.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.,/=:+") ==
                          std::string::npos;
    s += " " + (plain ? a : "'" + a + "'");
  }
  return s;
}

}  // namespace deepcpu::tools
