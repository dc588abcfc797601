// See bandwidth.h. The probe is a pure streaming read (no writes), like the weight reads
// of token generation: each thread sums its slice with eight independent 16-byte vector
// accumulators. GCC vector types keep this file free of ISA intrinsics (no -m flags
// outside kernels/); 16-byte loads issue far faster than DRAM delivers lines, so the
// figure is the memory's, not the core's.
#include "runtime/bandwidth.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <barrier>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <dirent.h>
#include <fstream>
#include <string>
#include <thread>

namespace deepcpu {

namespace {

std::string trim(std::string s) {
  const size_t b = s.find_first_not_of(" \t");
  const size_t e = s.find_last_not_of(" \t\r\n");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

// "32768K" / "1M" / "512" -> bytes.
size_t parse_cache_size(const std::string& text) {
  size_t v = 0, i = 0;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') v = v * 10 + (text[i++] - '0');
  if (i < text.size() && (text[i] == 'K' || text[i] == 'k')) v <<= 10;
  if (i < text.size() && (text[i] == 'M' || text[i] == 'm')) v <<= 20;
  if (i < text.size() && (text[i] == 'G' || text[i] == 'g')) v <<= 30;
  return v;
}

// 16 bytes: a native register on baseline x86-64 (SSE2) and on aarch64 (NEON). A wider
// GCC vector type would be split through the stack without -mavx2.
typedef uint64_t V2 __attribute__((vector_size(16)));

// Sums [p, p + n_bytes), n_bytes a multiple of 128, as 64-bit lanes; eight accumulators
// keep the adds off the critical path so only the loads set the pace.
uint64_t read_slice(const uint8_t* p, size_t n_bytes) {
  V2 acc[8] = {};
  for (size_t off = 0; off < n_bytes; off += 128) {
    for (int i = 0; i < 8; ++i) {
      V2 x;
      std::memcpy(&x, p + off + 16 * i, 16);
      acc[i] += x;
    }
  }
  V2 s = acc[0];
  for (int i = 1; i < 8; ++i) s += acc[i];
  return s[0] + s[1];
}

}  // namespace

MachineInfo machine_info() {
  MachineInfo m;
  m.n_cpus = static_cast<int>(std::max(1L, sysconf(_SC_NPROCESSORS_ONLN)));
  {
    std::ifstream in("/proc/cpuinfo");
    std::string line, part;
    while (std::getline(in, line)) {
      const size_t colon = line.find(':');
      if (colon == std::string::npos) continue;
      const std::string key = trim(line.substr(0, colon)), value = trim(line.substr(colon + 1));
      if (key == "model name" && m.cpu_model.empty()) m.cpu_model = value;
      if (key == "CPU part" && part.empty()) part = value;  // ARM: no model name, only the part number
    }
    if (m.cpu_model.empty()) m.cpu_model = part.empty() ? "unknown" : "ARM CPU part " + part;
  }
  for (int i = 0; i < 8; ++i) {
    std::ifstream in("/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(i) + "/size");
    std::string text;
    if (!(in >> text)) continue;
    m.llc_bytes = std::max(m.llc_bytes, parse_cache_size(text));
  }
  {
    std::ifstream in("/proc/loadavg");
    in >> m.load_avg_1m;
  }
  if (DIR* dir = opendir("/sys/devices/system/node")) {
    int n = 0;
    while (dirent* e = readdir(dir)) {
      if (std::strncmp(e->d_name, "node", 4) == 0 && e->d_name[4] >= '0' && e->d_name[4] <= '9') ++n;
    }
    closedir(dir);
    m.n_numa_nodes = std::max(1, n);
  }
  return m;
}

BandwidthResult measure_read_bandwidth(const BandwidthOptions& o) {
  BandwidthResult r;
  r.n_threads = std::max(1, o.n_threads);
  r.n_runs = std::max(1, o.n_runs);
  size_t size = o.buffer_bytes;
  if (size == 0) size = std::max<size_t>(size_t{1} << 30, 4 * machine_info().llc_bytes);
  // Every thread gets a whole number of 2 MiB pieces (huge pages, and a multiple of 128).
  const size_t piece = size_t{2} << 20;
  const size_t per_thread = std::max<size_t>(1, size / piece / r.n_threads) * piece;
  size = per_thread * r.n_threads;
  r.buffer_bytes = size;

  void* mem = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) return r;  // best_gbs 0: the caller says the probe could not run
  madvise(mem, size, MADV_HUGEPAGE);  // a hint; 4 KiB pages still work
  uint8_t* buf = static_cast<uint8_t*>(mem);

  // Workers and the timing thread meet at the barrier before and after every pass.
  std::barrier sync(r.n_threads + 1);
  // Each pass's sum depends on every byte read and ends in an atomic, so no load can be dropped.
  std::atomic<uint64_t> sink{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < r.n_threads; ++t) {
    threads.emplace_back([&, t] {
      uint8_t* slice = buf + per_thread * t;
      std::memset(slice, t + 1, per_thread);  // first touch: the pages land on this thread's node
      sync.arrive_and_wait();
      for (int run = 0; run < r.n_runs; ++run) {
        sync.arrive_and_wait();
        const uint64_t s = read_slice(slice, per_thread);
        sync.arrive_and_wait();
        sink.fetch_add(s, std::memory_order_relaxed);
      }
    });
  }
  sync.arrive_and_wait();  // buffer written
  for (int run = 0; run < r.n_runs; ++run) {
    sync.arrive_and_wait();
    const auto t0 = std::chrono::steady_clock::now();
    sync.arrive_and_wait();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    r.runs_gbs.push_back(static_cast<double>(size) / std::max(s, 1e-9) / 1e9);
  }
  for (std::thread& th : threads) th.join();
  munmap(mem, size);

  std::vector<double> sorted = r.runs_gbs;
  std::sort(sorted.begin(), sorted.end());
  r.best_gbs = sorted.back();
  r.median_gbs = sorted[sorted.size() / 2];
  return r;
}

}  // namespace deepcpu
