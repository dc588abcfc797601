// Vector helpers: axpy_rows_f32 must give every element exactly the bits of n_rows calls
// of the same table's axpy_f32, and axpy_rows_multi_f32 those of one axpy_rows_f32 per
// output (attention's flash path relies on both for batch invariance), for lengths that
// exercise every vector width, output tile and the scalar tail.
#include <gtest/gtest.h>

#include <cstring>

#include "kernel_test_util.h"

namespace deepcpu {
namespace {

class VecOpsTest : public ::testing::TestWithParam<test::NamedTable> {};

TEST_P(VecOpsTest, AxpyRowsEqualsRepeatedAxpy) {
  const kernels::Table& t = GetParam().table;
  ASSERT_NE(t.axpy_rows_f32, nullptr);
  std::mt19937 rng(7);
  for (int64_t n : {1, 7, 8, 15, 16, 24, 40, 64, 100, 128, 136, 200, 512, 576}) {
    for (int64_t n_rows : {0, 1, 3, 16}) {
      const int64_t ldx = n + 5;
      const std::vector<float> x = test::random_floats(rng, static_cast<size_t>(ldx * std::max<int64_t>(n_rows, 1)));
      const std::vector<float> w = test::random_floats(rng, static_cast<size_t>(std::max<int64_t>(n_rows, 1)));
      std::vector<float> want = test::random_floats(rng, static_cast<size_t>(n), 3.0f);
      std::vector<float> got = want;
      for (int64_t j = 0; j < n_rows; ++j) t.axpy_f32(want.data(), w[j], x.data() + j * ldx, n);
      t.axpy_rows_f32(got.data(), w.data(), x.data(), ldx, n_rows, n);
      EXPECT_EQ(0, std::memcmp(want.data(), got.data(), n * sizeof(float))) << "n " << n << " rows " << n_rows;
    }
  }
}

TEST_P(VecOpsTest, AxpyRowsMultiEqualsAxpyRowsPerOutput) {
  const kernels::Table& t = GetParam().table;
  ASSERT_NE(t.axpy_rows_multi_f32, nullptr);
  std::mt19937 rng(11);
  for (int64_t n : {1, 15, 16, 40, 64, 100, 512, 576}) {
    for (int64_t n_rows : {0, 1, 5, 16}) {
      for (int64_t n_y : {1, 3, 4, 7, 16}) {
        const int64_t ldx = n + 3, ldy = n + 9, ldw = 21;
        const std::vector<float> x = test::random_floats(rng, static_cast<size_t>(ldx * std::max<int64_t>(n_rows, 1)));
        const std::vector<float> w = test::random_floats(rng, static_cast<size_t>(ldw * n_y));
        std::vector<float> want = test::random_floats(rng, static_cast<size_t>(ldy * n_y), 3.0f);
        std::vector<float> got = want;
        for (int64_t r = 0; r < n_y; ++r) t.axpy_rows_f32(want.data() + r * ldy, w.data() + r * ldw, x.data(), ldx, n_rows, n);
        t.axpy_rows_multi_f32(got.data(), ldy, w.data(), ldw, n_y, x.data(), ldx, n_rows, n);
        // Every element, padding between outputs included (it must stay untouched).
        EXPECT_EQ(0, std::memcmp(want.data(), got.data(), want.size() * sizeof(float)))
            << "n " << n << " rows " << n_rows << " outputs " << n_y;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Tables, VecOpsTest, ::testing::ValuesIn(test::runnable_tables()),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace deepcpu
