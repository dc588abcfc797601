// KvCache's packed K panels (kv_cache.h "Packed K"): rows written one by one, in any
// order and over reused blocks, unpack from their panel to exactly the stored q8_0 rows;
// runs of blocks a sequence got one after another are adjacent panels; the panels cost
// memory only for a q8_0 K with packed_k.
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

#include "kernels/kernels.h"
#include "kv/kv_cache.h"

namespace deepcpu {
namespace {

constexpr int B = KvCache::kBlockTokens;

// Random q8_0 rows into (seq, pos) for every head, then into the panels.
void store_random(KvCache& kv, std::mt19937& rng, int32_t seq, int32_t from, int32_t to) {
  const KvLayerShape& s = kv.shape(0);
  std::uniform_int_distribution<int> byte(0, 255);
  for (int32_t pos = from; pos < to; ++pos) {
    for (int h = 0; h < s.n_head_kv; ++h) {
      uint8_t* row = kv.k_row(0, seq, pos, h);
      for (size_t i = 0; i < kv.k_row_bytes(0); ++i) row[i] = static_cast<uint8_t>(byte(rng));
      kv.pack_k_row(0, seq, pos, h);
    }
  }
}

void expect_panels_hold_rows(const KvCache& kv, int32_t seq, int32_t n) {
  const kernels::Table& kt = kernels::table();
  const KvLayerShape& s = kv.shape(0);
  std::vector<uint8_t> back(kv.k_row_bytes(0) * B);
  for (int32_t p0 = 0; p0 < n; p0 += B) {
    const int rows = std::min(B, n - p0);
    for (int h = 0; h < s.n_head_kv; ++h) {
      kt.q8_0.unpack_rows(kv.k_panel(0, seq, p0, h), rows, s.k_dim, back.data(), kv.k_row_bytes(0));
      for (int r = 0; r < rows; ++r) {
        ASSERT_EQ(0, std::memcmp(back.data() + r * kv.k_row_bytes(0), kv.k_row(0, seq, p0 + r, h), kv.k_row_bytes(0)))
            << "seq " << seq << " pos " << p0 + r << " head " << h;
      }
    }
  }
}

TEST(KvCachePackedK, PanelsHoldTheStoredRows) {
  if (kernels::table().q8_0.unpack_rows == nullptr) GTEST_SKIP() << "no packed Q8_0 layout";
  // Two KV heads of 96 (an odd number of 32-blocks: the zero partner block stays zero).
  auto kv = KvCache::create({{2, 96, 96, false}}, DType::kQ8_0, DType::kQ8_0, 128, 2, true);
  ASSERT_TRUE(kv.is_ok());
  KvCache& c = **kv;
  ASSERT_TRUE(c.has_packed_k());
  std::mt19937 rng(7);
  // Interleaved growth (decode of two sequences), then a truncation and regrowth that
  // reuses freed blocks with stale panel rows past the new length.
  ASSERT_TRUE(c.reserve(0, 40).is_ok());
  ASSERT_TRUE(c.reserve(1, 20).is_ok());
  store_random(c, rng, 0, 0, 40);
  store_random(c, rng, 1, 0, 20);
  expect_panels_hold_rows(c, 0, 40);
  expect_panels_hold_rows(c, 1, 20);
  c.set_length(0, 40);
  c.truncate(0, 5);
  ASSERT_TRUE(c.reserve(0, 70).is_ok());
  store_random(c, rng, 0, 5, 70);
  expect_panels_hold_rows(c, 0, 70);
  expect_panels_hold_rows(c, 1, 20);
}

TEST(KvCachePackedK, AdjacentBlocksFollowTheBlockTable) {
  auto kv = KvCache::create({{1, 64, 64, true}}, DType::kQ8_0, DType::kQ8_0, 256, 2, true);
  ASSERT_TRUE(kv.is_ok());
  KvCache& c = **kv;
  // Sequence 0 gets blocks 0-2 in one reserve, then sequence 1 takes block 3, then 0 gets 4.
  ASSERT_TRUE(c.reserve(0, 3 * B).is_ok());
  ASSERT_TRUE(c.reserve(1, B).is_ok());
  ASSERT_TRUE(c.reserve(0, 4 * B).is_ok());
  EXPECT_EQ(c.adjacent_blocks(0, 0, 8), 3);
  EXPECT_EQ(c.adjacent_blocks(0, B + 3, 8), 2);  // from the block holding position 19
  EXPECT_EQ(c.adjacent_blocks(0, 0, 2), 2);      // capped
  EXPECT_EQ(c.adjacent_blocks(0, 3 * B, 8), 1);  // the last block, after sequence 1's
  EXPECT_EQ(c.adjacent_blocks(1, 0, 8), 1);
  // Adjacent means the panels are back to back.
  const size_t panel = c.k_panel_bytes(0);
  EXPECT_EQ(c.k_panel(0, 0, B, 0), c.k_panel(0, 0, 0, 0) + panel);
  EXPECT_EQ(c.k_panel(0, 0, 2 * B, 0), c.k_panel(0, 0, 0, 0) + 2 * panel);
}

TEST(KvCachePackedK, OnlyForQ8_0KWhenAsked) {
  const std::vector<KvLayerShape> shape = {{1, 64, 64, true}};
  auto f16 = KvCache::create(shape, DType::kF16, DType::kF16, 64, 1, true);
  auto plain = KvCache::create(shape, DType::kQ8_0, DType::kQ8_0, 64, 1, false);
  auto packed = KvCache::create(shape, DType::kQ8_0, DType::kQ8_0, 64, 1, true);
  ASSERT_TRUE(f16.is_ok() && plain.is_ok() && packed.is_ok());
  EXPECT_FALSE((*f16)->has_packed_k());
  EXPECT_FALSE((*plain)->has_packed_k());
  EXPECT_TRUE((*packed)->has_packed_k());
  EXPECT_GT((*packed)->size_bytes(), (*plain)->size_bytes());  // the panels are counted
}

}  // namespace
}  // namespace deepcpu
