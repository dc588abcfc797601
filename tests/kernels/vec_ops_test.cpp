// Vector helpers: axpy_rows_f32 must give every element exactly the bits of n_rows calls
// of the same table's axpy_f32 (attention's flash path relies on it for batch invariance),
// for lengths that exercise every vector width and the scalar tail.
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

INSTANTIATE_TEST_SUITE_P(Tables, VecOpsTest, ::testing::ValuesIn(test::runnable_tables()),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace deepcpu
