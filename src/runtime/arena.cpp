#include "runtime/arena.h"

#include <sys/mman.h>

#include <algorithm>

namespace deepcpu {

namespace {
constexpr size_t kAlign = 64;
constexpr size_t kMinChunk = size_t(4) << 20;
#ifdef MADV_POPULATE_WRITE
constexpr int kMadvPopulateWrite = MADV_POPULATE_WRITE;
#else
constexpr int kMadvPopulateWrite = 23;  // Linux 5.14; older kernels answer EINVAL
#endif
}  // namespace

void* Arena::alloc_bytes(size_t bytes) {
  bytes = (bytes + kAlign - 1) / kAlign * kAlign;
  while (current_ < chunks_.size()) {
    Chunk& c = chunks_[current_];
    if (c.size - c.used >= bytes) {
      void* p = c.mem + c.used;
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
  c.heap.reset(new uint8_t[c.size + kAlign]);
  c.mem = c.heap.get();
  const auto base = reinterpret_cast<uintptr_t>(c.mem);
  const size_t pad = (kAlign - base % kAlign) % kAlign;
  c.base = pad;
  c.used = pad + bytes;
  c.size += pad;
  void* p = c.mem + pad;
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

Arena::~Arena() {
  stop_populating_ = true;  // at exit nobody needs the rest faulted in
  wait_populated();
}

void Arena::wait_populated() {
  if (populator_.joinable()) populator_.join();
}

void Arena::reserve(size_t bytes) {
  stop_populating_ = true;
  wait_populated();
  reset();
  if (!chunks_.empty() && chunks_[0].size - chunks_[0].base >= bytes) return;
  HugeBuffer buf(bytes);
  if (buf.data() == nullptr) return;  // out of memory: keep growing on demand as before
  chunks_.clear();
  Chunk c;
  c.mem = buf.data();
  c.size = buf.size();
  c.mapped = std::move(buf);
  chunks_.push_back(std::move(c));
  stop_populating_ = false;
  populator_ = std::thread([this, mem = chunks_[0].mem, size = chunks_[0].size] {
    constexpr size_t kSlice = size_t(32) << 20;
    for (size_t off = 0; off < size && !stop_populating_; off += kSlice) {
      if (madvise(mem + off, std::min(kSlice, size - off), kMadvPopulateWrite) != 0) break;  // old kernel
    }
  });
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
