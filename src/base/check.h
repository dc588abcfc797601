// DEEPCPU_CHECK: a broken engine invariant (never bad input: that is a Status).
// On in release builds; prints the values and aborts.
#pragma once

#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>

#define DEEPCPU_CHECK(cond, ...)                                                        \
  do {                                                                                  \
    if (!(cond)) [[unlikely]] {                                                         \
      std::fprintf(stderr, "deepcpu: internal error at %s:%d: check '%s' failed: %s\n", \
                   __FILE__, __LINE__, #cond, fmt::format(__VA_ARGS__).c_str());        \
      std::abort();                                                                     \
    }                                                                                   \
  } while (0)
