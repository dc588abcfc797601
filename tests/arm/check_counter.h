// The ARM check programs' tally: check() counts a pass or prints the failure (the first
// 50, so a broken kernel cannot flood the log); main() prints the totals and fails on any.
#pragma once

#include <cstdio>
#include <string>

namespace arm_check {

inline int g_passed = 0, g_failed = 0;

inline void check(bool ok, const std::string& what) {
  if (ok) {
    ++g_passed;
    return;
  }
  ++g_failed;
  if (g_failed <= 50) std::printf("FAILED: %s\n", what.c_str());
}

}  // namespace arm_check
