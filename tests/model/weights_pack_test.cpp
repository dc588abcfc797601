// WeightBinder packing: with a WeightPacker alive, Q8_0 matmul weights (2-D, 3-D expert
// tensors and per-head slices) get packed copies that unpack to the file's rows, and
// slice()/rows() views keep pointing at the matching packed rows; without one, or for
// non-Q8_0 / non-matmul tensors, nothing is packed. A Weight whose data is re-pointed by
// hand drops its packed copy.
#include <gtest/gtest.h>

#include <cstring>

#include "model/weights.h"
#include "runtime/huge_alloc.h"
#include "runtime/thread_pool.h"
#include "test_util.h"

namespace deepcpu {
namespace {

std::unique_ptr<gguf::Model> open_model(const std::string& rel) {
  const std::string path = test::fixture(rel);
  if (path.empty()) return nullptr;
  auto m = gguf::Model::open(path);
  return m ? std::move(m.value()) : nullptr;
}

// Rows [0, n) of view w, unpacked part by part from its packed copy, equal the file's
// rows, and the parts tile [0, n) in order.
void expect_packed_rows_equal(const Weight& w, int64_t n) {
  ASSERT_TRUE(w.is_packed());
  ASSERT_EQ(w.part_row[0], 0);
  ASSERT_EQ(w.part_row[w.n_parts], n);
  const kernels::Table& kt = kernels::table();
  for (int p = 0; p < w.n_parts; ++p) {
    const int64_t r0 = w.part_row[p], rows = w.part_row[p + 1] - r0;
    ASSERT_GE(rows, 0);
    ASSERT_EQ(r0 % kernels::kPackRows, 0);
    std::vector<uint8_t> back(w.row_bytes * rows);
    kt.q8_0.unpack_rows(w.part_data[p], rows, w.n_cols, back.data(), w.row_bytes);
    ASSERT_EQ(0, std::memcmp(back.data(), w.row(r0), back.size())) << "part " << p;
  }
}

// The same checks with one part, and with the rows split over NUMA parts as --numa
// distribute does (all on node 0 here: the placement is not what is tested).
class WeightsPackParts : public ::testing::TestWithParam<std::vector<int>> {};

TEST_P(WeightsPackParts, BindsPackedCopiesOfQ8Matmuls) {
  auto file = open_model("models/ds3-tiny-Q8_0.gguf");
  if (!file) GTEST_SKIP() << "ds3-tiny-Q8_0.gguf not found";
  if (kernels::table().q8_0.gemm_packed == nullptr) GTEST_SKIP() << "no packed kernels on this CPU";
  PackedWeights store;
  NodeSplit split;
  split.threads = GetParam();
  split.nodes.assign(split.threads.size(), 0);
  if (split.threads.size() == 1) split = {};
  store.set_placement(split, {});
  ThreadPool pool(2);
  Weight wq, exps, kb, norm, emb;
  {
    WeightPacker packer(&store, &pool);
    WeightBinder b(*file);  // picks up the packer alive on this thread
    auto name = [&](const std::string& prefix) -> std::string {
      for (const gguf::TensorInfo* t : file->tensors())
        if (t->name.rfind(prefix, 0) == 0 || t->name.find(prefix) != std::string::npos) return t->name;
      return "";
    };
    auto bind_as = [&](Weight* w, const std::string& n, WeightBinder::Use use) {
      const gguf::TensorInfo* t = file->find_tensor(n);
      ASSERT_NE(t, nullptr) << n;
      std::vector<int64_t> ne(t->ne.begin(), t->ne.begin() + t->n_dims);
      ASSERT_TRUE(b.bind(w, n, ne, WeightBinder::kRequired, use).is_ok()) << n;
    };
    bind_as(&wq, "blk.0.attn_output.weight", WeightBinder::kMatmul);
    bind_as(&norm, "blk.0.attn_norm.weight", WeightBinder::kF32Vector);
    bind_as(&emb, "token_embd.weight", WeightBinder::kEmbedding);
    const std::string e = name("ffn_up_exps.weight");
    ASSERT_FALSE(e.empty());
    bind_as(&exps, e, WeightBinder::kMatmul);
    const std::string k = name("attn_k_b.weight");
    if (!k.empty()) bind_as(&kb, k, WeightBinder::kMatmul);
    EXPECT_GT(packer.n_planned(), 0);
    ASSERT_TRUE(packer.run());
  }
  if (wq.type != DType::kQ8_0) GTEST_SKIP() << "attn_output is not Q8_0 in this file";
  EXPECT_FALSE(norm.is_packed());
  EXPECT_FALSE(emb.is_packed());
  expect_packed_rows_equal(wq, wq.n_rows);
  ASSERT_GT(exps.n_slices, 1);
  for (int64_t s = 0; s < exps.n_slices; ++s) expect_packed_rows_equal(exps.slice(s), exps.n_rows);
  if (kb.present()) {
    for (int64_t h = 0; h < kb.n_slices; ++h) expect_packed_rows_equal(kb.slice(h), kb.n_rows);
  }
  // Parts follow the threads: e.g. threads {1, 3} give part 1 three quarters of the groups.
  ASSERT_EQ(wq.n_parts, split.n_parts());
  for (int p = 0; p < wq.n_parts; ++p) {
    const int64_t groups = (wq.n_rows + kernels::kPackRows - 1) / kernels::kPackRows;
    EXPECT_EQ(wq.part_row[p], std::min(wq.n_rows, split.share_begin(groups, p) * kernels::kPackRows));
  }
  // rows(): packed when it starts a row group of a one-part weight, plain otherwise.
  if (wq.n_rows > kernels::kPackRows && wq.n_parts == 1) {
    const Weight r = wq.rows(kernels::kPackRows, wq.n_rows - kernels::kPackRows);
    expect_packed_rows_equal(r, r.n_rows);
    EXPECT_FALSE(wq.rows(1, 3).is_packed());
  }
  // Re-pointing data by hand (as a fused-tensor split does) drops the packed copy.
  Weight moved = wq;
  moved.data = wq.row(1);
  EXPECT_FALSE(moved.is_packed());
  EXPECT_GT(store.bytes, 0u);
  EXPECT_EQ(store.n_tensors, kb.present() ? 3 : 2);
}

INSTANTIATE_TEST_SUITE_P(Parts, WeightsPackParts,
                         ::testing::Values(std::vector<int>{1}, std::vector<int>{1, 1}, std::vector<int>{1, 3},
                                           std::vector<int>{2, 1, 1, 5}));

TEST(WeightsPack, NoPackerNoPacking) {
  auto file = open_model("models/ds3-tiny-Q8_0.gguf");
  if (!file) GTEST_SKIP() << "ds3-tiny-Q8_0.gguf not found";
  ASSERT_EQ(WeightPacker::current(), nullptr);
  WeightBinder b(*file);
  const gguf::TensorInfo* t = file->find_tensor("blk.0.attn_output.weight");
  ASSERT_NE(t, nullptr);
  Weight w;
  ASSERT_TRUE(b.bind(&w, t->name, std::vector<int64_t>(t->ne.begin(), t->ne.begin() + t->n_dims), WeightBinder::kRequired,
                     WeightBinder::kMatmul)
                  .is_ok());
  EXPECT_FALSE(w.is_packed());
}

TEST(HugeAlloc, AlignedZeroedAndReportsThp) {
  HugeBuffer b(3 << 20);
  ASSERT_NE(b.data(), nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(b.data()) % kHugePageBytes, 0u);
  EXPECT_EQ(b.size(), size_t(4) << 20);
  EXPECT_EQ(b.data()[b.size() - 1], 0);
  HugeArena arena(size_t(4) << 20);
  uint8_t* p = arena.alloc(100);
  uint8_t* q = arena.alloc(5 << 20);  // bigger than a chunk: its own
  ASSERT_TRUE(p && q);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 64, 0u);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(q) % 64, 0u);
  const std::string mode = thp_mode();
  EXPECT_TRUE(mode == "always" || mode == "madvise" || mode == "never" || mode == "unknown") << mode;
}

}  // namespace
}  // namespace deepcpu
