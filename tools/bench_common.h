// Helpers shared by `deepcpu bench` and `deepcpu batched-bench`.
#pragma once

#include "base/status.h"

#include <string>
#include <vector>

namespace deepcpu::tools {

// "1,2,4" -> {1, 2, 4}; every value must be >= min_value; errors name `flag`.
Result<std::vector<int>> parse_int_list(const std::string& text, const char* flag, int min_value);

// The command as typed, quoted where the shell would need it, for a benchmark's header.
std::string command_line(int argc, char** argv);

}  // namespace deepcpu::tools
