// Arena: 64-byte aligned allocations that never move; rollback frees back to a mark and
// the memory is reused; peak_bytes() tracks the most held at once (across chunks, reset
// and rollback); reserve() gives one pre-touched chunk that a pass of that size fits in
// without growing, and reserving less than held keeps the chunk.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>

#include "runtime/arena.h"
#include <vector>

namespace deepcpu {
namespace {

bool aligned64(const void* p) { return reinterpret_cast<uintptr_t>(p) % 64 == 0; }

TEST(Arena, AllocationsAreAlignedAndDistinct) {
  Arena a;
  auto* x = static_cast<uint8_t*>(a.alloc_bytes(1));
  auto* y = static_cast<uint8_t*>(a.alloc_bytes(100));
  float* z = a.alloc(1000);
  EXPECT_TRUE(aligned64(x) && aligned64(y) && aligned64(z));
  EXPECT_GE(y - x, 64);
  EXPECT_GE(reinterpret_cast<uint8_t*>(z) - y, 128);
  std::memset(z, 0, 1000 * sizeof(float));  // usable (ASan would catch an overrun)
}

TEST(Arena, RollbackReusesAndKeepsEarlierAllocations) {
  Arena a;
  float* keep = a.alloc(10);
  keep[0] = 42.0f;
  const Arena::Mark m = a.mark();
  float* t1 = a.alloc(5000000);  // spills into a second chunk
  a.rollback(m);
  float* t2 = a.alloc(5000000);
  EXPECT_EQ(t1, t2);
  EXPECT_EQ(keep[0], 42.0f);
  const size_t cap = a.capacity_bytes();
  for (int i = 0; i < 10; ++i) {
    a.rollback(m);
    a.alloc(5000000);
  }
  EXPECT_EQ(a.capacity_bytes(), cap);  // no growth once warm
}

TEST(Arena, PeakCountsWhatIsHeldAtOnce) {
  Arena a;
  a.alloc_bytes(64 * 10);
  const Arena::Mark m = a.mark();
  a.alloc_bytes(64 * 100);
  EXPECT_EQ(a.peak_bytes(), 64u * 110);
  a.rollback(m);
  a.alloc_bytes(64 * 50);
  EXPECT_EQ(a.peak_bytes(), 64u * 110);  // a smaller second use does not raise it
  a.reset();
  a.alloc_bytes(size_t(8) << 20);  // bigger than the first chunk's room: a new chunk
  a.alloc_bytes(64);
  EXPECT_EQ(a.peak_bytes(), (size_t(8) << 20) + 64);
  a.reset();
  a.alloc_bytes(64 * 10);
  a.alloc_bytes(size_t(8) << 20);  // walks past chunk 0 into chunk 1 (held: both)
  EXPECT_EQ(a.peak_bytes(), (size_t(8) << 20) + 64 * 10);
}

TEST(Arena, ReservedChunkHoldsAPassWithoutGrowing) {
  Arena a;
  a.alloc_bytes(1000);
  const size_t want = size_t(40) << 20;
  a.reserve(want);
  EXPECT_GE(a.capacity_bytes(), want);
  const size_t cap = a.capacity_bytes();
  for (int pass = 0; pass < 3; ++pass) {
    a.reset();
    for (int i = 0; i < 40; ++i) a.alloc_bytes((size_t(1) << 20) - 64);
  }
  EXPECT_EQ(a.capacity_bytes(), cap);
  a.reserve(1 << 20);  // smaller: the reserved chunk stays
  EXPECT_EQ(a.capacity_bytes(), cap);
}

// The background population never changes what a pass wrote, even while it runs.
TEST(Arena, UsableWhileThePagesArePopulated) {
  for (int round = 0; round < 3; ++round) {
    Arena a;
    a.reserve(size_t(96) << 20);
    std::vector<uint32_t*> blocks;
    for (int i = 0; i < 96; ++i) {
      auto* p = static_cast<uint32_t*>(a.alloc_bytes((size_t(1) << 20) - 64));
      for (size_t j = 0; j < ((size_t(1) << 20) - 64) / 4; j += 1024) p[j] = static_cast<uint32_t>(i * 7919 + j);
      blocks.push_back(p);
    }
    a.wait_populated();
    for (int i = 0; i < 96; ++i) {
      for (size_t j = 0; j < ((size_t(1) << 20) - 64) / 4; j += 1024) {
        ASSERT_EQ(blocks[i][j], static_cast<uint32_t>(i * 7919 + j)) << "block " << i;
      }
    }
  }
}

TEST(Arena, ReserveAgainWhilePopulatingAndDestroyMidway) {
  Arena a;
  a.reserve(size_t(64) << 20);
  a.reserve(size_t(128) << 20);  // stops and joins the first population
  EXPECT_GE(a.capacity_bytes(), size_t(128) << 20);
  Arena b;
  b.reserve(size_t(256) << 20);  // destroyed while populating: must join, not crash
}

}  // namespace
}  // namespace deepcpu
