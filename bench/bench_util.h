// Timing helpers shared by the microbenchmark programs in bench/.
#pragma once

#include <time.h>

#include <algorithm>
#include <vector>

namespace bench {

// Seconds on clock `c` (CLOCK_MONOTONIC for wall, CLOCK_PROCESS_CPUTIME_ID for CPU time).
inline double now(clockid_t c) {
  timespec ts;
  clock_gettime(c, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

// The upper median; 0 for no samples.
inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : v[v.size() / 2];
}

}  // namespace bench
