#include "runtime/arena.h"

#include "runtime/thread_pool.h"

#include <algorithm>

namespace deepcpu {

namespace {
constexpr size_t kAlign = 64;
constexpr size_t kMinChunk = size_t(4) << 20;
}  // namespace

void* Arena::alloc_bytes(size_t bytes) {
  bytes = (bytes + kAlign - 1) / kAlign * kAlign;
  while (current_ < chunks_.size()) {
    Chunk& c = chunks_[current_];
    if (c.size - c.used >= bytes) {
      void* p = c.mem.get() + c.used;
      c.used += bytes;
      peak_ = std::max(peak_, used_before_current_ + (c.used - c.base));
      return p;
    }
    used_before_current_ += c.used - c.base;
    ++current_;
  }
  Chunk c;
  c.size = std::max(kMinChunk, bytes);
  // Over-allocate by kAlign so the first pointer can be aligned.
  c.mem.reset(new uint8_t[c.size + kAlign]);
  const auto base = reinterpret_cast<uintptr_t>(c.mem.get());
  const size_t pad = (kAlign - base % kAlign) % kAlign;
  c.base = pad;
  c.used = pad + bytes;
  c.size += pad;
  void* p = c.mem.get() + pad;
  chunks_.push_back(std::move(c));
  current_ = chunks_.size() - 1;
  peak_ = std::max(peak_, used_before_current_ + bytes);
  return p;
}

void Arena::reset() {
  for (Chunk& c : chunks_) c.used = c.base;
  current_ = 0;
  used_before_current_ = 0;
}

void Arena::reserve(size_t bytes, ThreadPool* pool) {
  reset();
  if (!chunks_.empty() && chunks_[0].size - chunks_[0].base >= bytes) return;
  chunks_.clear();
  alloc_bytes(bytes);  // one chunk of exactly this size
  reset();
  uint8_t* const mem = chunks_[0].mem.get();
  const size_t size = chunks_[0].size;
  constexpr size_t kPage = 4096, kSlice = size_t(16) << 20;
  auto touch = [&](int64_t i, int) {
    const size_t end = std::min(size, static_cast<size_t>(i + 1) * kSlice);
    for (size_t off = static_cast<size_t>(i) * kSlice; off < end; off += kPage) mem[off] = 0;
  };
  const auto n_slices = static_cast<int64_t>((size + kSlice - 1) / kSlice);
  if (pool != nullptr) {
    pool->run(n_slices, touch);
  } else {
    for (int64_t i = 0; i < n_slices; ++i) touch(i, 0);
  }
}

Arena::Mark Arena::mark() const {
  if (chunks_.empty()) return Mark{0, 0};
  return Mark{current_, chunks_[current_].used};
}

void Arena::rollback(const Mark& m) {
  if (chunks_.empty()) return;
  for (size_t i = m.chunk + 1; i < chunks_.size(); ++i) chunks_[i].used = chunks_[i].base;
  current_ = m.chunk;
  chunks_[m.chunk].used = std::max(m.used, chunks_[m.chunk].base);
  used_before_current_ = 0;
  for (size_t i = 0; i < current_; ++i) used_before_current_ += chunks_[i].used - chunks_[i].base;
}

size_t Arena::capacity_bytes() const {
  size_t n = 0;
  for (const Chunk& c : chunks_) n += c.size;
  return n;
}

}  // namespace deepcpu
