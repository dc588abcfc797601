// The machine facts a benchmark prints next to its numbers (CPU model, last-level
// cache, NUMA nodes) and a STREAM-like read-bandwidth probe: the denominator of the
// decode roofline. The probe owns its threads and buffer; it shares nothing with the
// engine's thread pool, so it can run before a model is loaded.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace deepcpu {

struct MachineInfo {
  std::string cpu_model;      // /proc/cpuinfo "model name" (or "CPU part" on ARM), "unknown" if absent
  int n_cpus = 0;             // online logical CPUs
  size_t llc_bytes = 0;       // largest cache of cpu0 in /sys (0 if unknown)
  int n_numa_nodes = 1;       // /sys/devices/system/node/node*
  double load_avg_1m = 0;     // /proc/loadavg: on a shared machine, how much else is running
};
MachineInfo machine_info();

struct BandwidthOptions {
  int n_threads = 1;
  size_t buffer_bytes = 0;  // 0: max(1 GiB, 4 x LLC), so caches cannot hold it
  int n_runs = 5;           // timed passes; the best and the median are reported
};

struct BandwidthResult {
  int n_threads = 0;
  size_t buffer_bytes = 0;
  int n_runs = 0;
  double best_gbs = 0;    // 1e9 bytes per second
  double median_gbs = 0;
  std::vector<double> runs_gbs;
};

// Reads a buffer of anonymous memory (transparent huge pages requested) with n_threads
// threads, each streaming its own contiguous slice, which it also first-touched so its
// pages sit on its NUMA node. Every loaded word feeds a sum the caller cannot see
// optimised away. The buffer is freed before returning.
BandwidthResult measure_read_bandwidth(const BandwidthOptions& options);

}  // namespace deepcpu
