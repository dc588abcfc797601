// Scratch memory for one forward pass: a bump allocator over chunks that are kept
// between passes. After the largest ubatch has run once, a pass allocates nothing.
// Pointers stay valid until reset(); chunks never move.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace deepcpu {

class Arena {
 public:
  // `n` floats (or bytes via alloc_bytes), 64-byte aligned, uninitialised.
  float* alloc(size_t n) { return static_cast<float*>(alloc_bytes(n * sizeof(float))); }
  void* alloc_bytes(size_t bytes);
  void reset();
  size_t capacity_bytes() const;

 private:
  struct Chunk {
    std::unique_ptr<uint8_t[]> mem;
    size_t size = 0;
    size_t used = 0;
  };
  std::vector<Chunk> chunks_;
  size_t current_ = 0;
};

}  // namespace deepcpu
