// Anonymous memory on transparent huge pages: weights repacked at load live here
// (DESIGN.md: streaming from anonymous 2 MiB pages beat the 4 KiB page cache by ~11%).
// HugeBuffer maps 2 MiB-aligned anonymous memory, asks for THP with madvise(MADV_HUGEPAGE)
// and unmaps it on destruction. HugeArena hands out 64-byte-aligned pieces of large
// HugeBuffer chunks, so many small tensors do not each round up to a 2 MiB page.
// A NUMA memory policy (--numa) is applied with mbind before anything touches the pages.
#pragma once

#include "runtime/numa.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace deepcpu {

constexpr size_t kHugePageBytes = size_t(2) << 20;

// "always", "madvise" or "never" from /sys/kernel/mm/transparent_hugepage/enabled (the
// bracketed choice), or "unknown" where the file is missing.
std::string thp_mode();
// True when madvise(MADV_HUGEPAGE) memory can get huge pages (mode always or madvise).
bool thp_available();

class HugeBuffer {
 public:
  HugeBuffer() = default;
  // nullptr data() on failure (out of memory). A policy the kernel refuses is logged
  // once per process and the buffer keeps the default (first-touch) placement.
  explicit HugeBuffer(size_t bytes, const NumaMemPolicy& policy = {});
  ~HugeBuffer();
  HugeBuffer(HugeBuffer&& o) noexcept;
  HugeBuffer& operator=(HugeBuffer&& o) noexcept;
  HugeBuffer(const HugeBuffer&) = delete;
  HugeBuffer& operator=(const HugeBuffer&) = delete;

  uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  bool huge_advised() const { return advised_; }  // madvise(MADV_HUGEPAGE) succeeded

 private:
  void release();
  uint8_t* data_ = nullptr;
  size_t size_ = 0;      // usable bytes (rounded up to 2 MiB)
  void* map_ = nullptr;  // the raw mapping (over-allocated for alignment)
  size_t map_size_ = 0;
  bool advised_ = false;
};

class HugeArena {
 public:
  explicit HugeArena(size_t chunk_bytes = size_t(256) << 20) : chunk_bytes_(chunk_bytes) {}
  // For chunks mapped from now on (Engine sets it before packing: --numa interleave/prefer).
  void set_mem_policy(NumaMemPolicy policy) { policy_ = std::move(policy); }
  // 64-byte aligned, zero-initialised (fresh anonymous memory); nullptr when out of memory.
  uint8_t* alloc(size_t bytes);
  size_t bytes_used() const { return used_; }
  size_t bytes_mapped() const;

 private:
  size_t chunk_bytes_;
  NumaMemPolicy policy_;
  std::vector<HugeBuffer> chunks_;
  size_t offset_ = 0;  // in the last chunk
  size_t used_ = 0;
};

}  // namespace deepcpu
