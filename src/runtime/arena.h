// Scratch memory for one forward pass: a bump allocator over chunks that are kept
// between passes. After the largest ubatch has run once, a pass allocates nothing.
// Pointers stay valid until reset() (or a rollback() past them); chunks never move.
// A forward takes a mark() before each layer and rolls back to it after, so the arena
// holds one layer's temporaries, not all layers' (for R1 at -ub 512 that is the
// difference between ~0.4 GB and ~25 GB of scratch).
#pragma once

#include "runtime/huge_alloc.h"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

namespace deepcpu {

class Arena {
 public:
  // `n` floats (or bytes via alloc_bytes), 64-byte aligned, uninitialised.
  float* alloc(size_t n) { return static_cast<float*>(alloc_bytes(n * sizeof(float))); }
  void* alloc_bytes(size_t bytes);
  void reset();
  size_t capacity_bytes() const;
  // The most bytes held at once since construction (alignment included, chunk tails not).
  size_t peak_bytes() const { return peak_; }
  // Makes the first chunk hold at least `bytes` (huge-page memory) and faults all of it
  // in, so that passes up to that size never fault in fresh memory in the middle of a
  // step (on a VM the first touch of fresh memory can cost more than the step). The
  // pages are populated by a background thread with MADV_POPULATE_WRITE, which never
  // changes their contents, so the arena may be used at once; on kernels without it
  // (before 5.14) they fault in on first use as before. Only between passes: every
  // earlier pointer is invalid afterwards.
  void reserve(size_t bytes);
  // Waits until the background population of the reserved chunk has finished.
  void wait_populated();

  Arena() = default;
  ~Arena();
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;

  struct Mark {
    size_t chunk = 0;
    size_t used = 0;
  };
  Mark mark() const;
  // Frees everything allocated since `m` (for reuse); earlier allocations stay valid.
  void rollback(const Mark& m);

 private:
  struct Chunk {
    std::unique_ptr<uint8_t[]> heap;
    HugeBuffer mapped;  // the reserved chunk
    uint8_t* mem = nullptr;
    size_t size = 0;
    size_t used = 0;
    size_t base = 0;  // padding that aligns the first allocation
  };
  std::vector<Chunk> chunks_;
  size_t current_ = 0;
  size_t used_before_current_ = 0;  // bytes held in chunks before current_
  size_t peak_ = 0;
  std::thread populator_;
  std::atomic<bool> stop_populating_{false};
};

}  // namespace deepcpu
