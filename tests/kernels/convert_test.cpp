// Row conversions (convert_row, to_float, from_float) of every runnable table must equal
// the scalar reference bit for bit: activations rounded differently would change which
// llama.cpp numbers we reproduce.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "base/fp16.h"
#include "kernel_test_util.h"

namespace deepcpu::kernels {
namespace {

using test::NamedTable;

// Values that stress rounding: random bit patterns over the whole float range (incl.
// denormals, infinities, NaNs), exact fp16/bf16 ties, overflow edges.
std::vector<float> tricky_floats(std::mt19937& rng, size_t n, bool allow_nonfinite) {
  std::vector<float> v(n);
  std::uniform_int_distribution<uint32_t> bits;
  std::uniform_int_distribution<int> pick(0, 7);
  for (auto& x : v) {
    switch (pick(rng)) {
      case 0: x = f32_from_bits(bits(rng)); break;                                  // anything
      case 1: x = f32_from_bits((bits(rng) & 0x807fffffu) | (uint32_t{113} << 23)); break;  // fp16 subnormal range
      case 2: x = f32_from_bits((bits(rng) & 0xffffe000u) | 0x1000u); break;        // fp16 tie
      case 3: x = f32_from_bits((bits(rng) & 0xffff0000u) | 0x8000u); break;        // bf16 tie
      case 4: x = f32_from_bits(bits(rng) & 0x807fffffu); break;                    // fp32 denormal
      case 5: x = (pick(rng) & 1 ? 1 : -1) * (65504.0f + static_cast<float>(pick(rng)) * 4.0f); break;  // fp16 max edge
      default: x = std::normal_distribution<float>(0.0f, 3.0f)(rng); break;
    }
    if (!allow_nonfinite && !std::isfinite(x)) x = 1.5f;
  }
  return v;
}

class ConvertTest : public ::testing::TestWithParam<NamedTable> {};

TEST_P(ConvertTest, F16AndBf16FromFloatMatchScalarBitForBit) {
  const Table& t = GetParam().table;
  const Table ref = test::scalar_table();
  std::mt19937 rng(1);
  for (int64_t k : {1, 7, 8, 15, 16, 17, 31, 32, 33, 100, 4096 + 37}) {
    const auto x = tricky_floats(rng, static_cast<size_t>(k), /*allow_nonfinite=*/true);
    for (DType type : {DType::kF16, DType::kBF16}) {
      // One guard element past the end: a kernel must not write beyond k.
      std::vector<uint16_t> got(k + 1, 0xabcd), want(k + 1, 0xabcd);
      t.from_float(type)(x.data(), got.data(), k);
      ref.from_float(type)(x.data(), want.data(), k);
      for (int64_t i = 0; i <= k; ++i) {
        ASSERT_EQ(got[i], want[i]) << dtype_name(type) << " k=" << k << " i=" << i << " x=" << x[i < k ? i : 0]
                                   << " bits=" << std::hex << f32_bits(x[i < k ? i : 0]);
      }
      // convert_row of the matmul entry is the same conversion.
      std::vector<uint16_t> row(k + 1, 0xabcd);
      t.matmul(type)->convert_row(x.data(), row.data(), k);
      ASSERT_EQ(0, std::memcmp(row.data(), want.data(), (k + 1) * 2)) << dtype_name(type) << " k=" << k;
    }
  }
}

TEST_P(ConvertTest, F16AndBf16ToFloatMatchScalarForEveryPattern) {
  const Table& t = GetParam().table;
  const Table ref = test::scalar_table();
  std::vector<uint16_t> all(65536 + 5);
  for (size_t i = 0; i < all.size(); ++i) all[i] = static_cast<uint16_t>(i);
  for (DType type : {DType::kF16, DType::kBF16}) {
    // Odd length, so the tail path sees patterns too.
    const int64_t k = static_cast<int64_t>(all.size());
    std::vector<float> got(k + 1, -7.0f), want(k + 1, -7.0f);
    t.to_float(type)(all.data(), got.data(), k);
    ref.to_float(type)(all.data(), want.data(), k);
    for (int64_t i = 0; i <= k; ++i) {
      ASSERT_EQ(f32_bits(got[i]), f32_bits(want[i])) << dtype_name(type) << " pattern 0x" << std::hex << i;
    }
  }
}

TEST_P(ConvertTest, Q8_0QuantizeMatchesScalarBitForBit) {
  const Table& t = GetParam().table;
  const Table ref = test::scalar_table();
  std::mt19937 rng(2);
  for (int64_t n_blocks : {1, 2, 3, 129}) {
    const int64_t k = n_blocks * kQ8_0Block;
    std::vector<float> x = tricky_floats(rng, static_cast<size_t>(k), /*allow_nonfinite=*/false);
    // Shape individual blocks: all zero; exact .5 ties of x * 127/amax (amax = 127 so
    // id = 1); tiny and huge magnitudes; a single non-zero; negative-only.
    auto block = [&](int64_t b) { return x.data() + (b % n_blocks) * kQ8_0Block; };
    std::fill(block(0), block(0) + kQ8_0Block, 0.0f);
    if (n_blocks > 1) {
      float* b1 = block(1);
      for (int i = 0; i < kQ8_0Block; ++i) b1[i] = static_cast<float>(i % 8) - 3.5f + (i % 3 == 0 ? 0.0f : 0.25f);
      b1[5] = 127.0f;
    }
    if (n_blocks > 2) {
      float* b2 = block(2);
      for (int i = 0; i < kQ8_0Block; ++i) b2[i] = -1e-30f * static_cast<float>(i + 1);
    }
    if (n_blocks > 3) {
      float* b3 = block(3);
      for (int i = 0; i < kQ8_0Block; ++i) b3[i] = (i == 17) ? 3e38f : 1e30f * static_cast<float>(i);
      float* b4 = block(4);
      std::fill(b4, b4 + kQ8_0Block, 0.0f);
      b4[31] = -2.0f;
    }
    std::vector<BlockQ8_0> got(n_blocks + 1), want(n_blocks + 1);
    std::memset(got.data(), 0x5a, got.size() * sizeof(BlockQ8_0));
    std::memset(want.data(), 0x5a, want.size() * sizeof(BlockQ8_0));
    t.from_float_q8_0(x.data(), got.data(), k);
    ref.from_float_q8_0(x.data(), want.data(), k);
    for (int64_t b = 0; b <= n_blocks; ++b) {
      ASSERT_EQ(got[b].d, want[b].d) << "block " << b;
      ASSERT_EQ(0, std::memcmp(got[b].qs, want[b].qs, kQ8_0Block)) << "block " << b;
    }
    std::vector<BlockQ8_0> row(n_blocks + 1);
    std::memset(row.data(), 0x5a, row.size() * sizeof(BlockQ8_0));
    t.q8_0.convert_row(x.data(), row.data(), k);
    ASSERT_EQ(0, std::memcmp(row.data(), want.data(), row.size() * sizeof(BlockQ8_0)));
  }
}

TEST_P(ConvertTest, Q8_0DequantizeMatchesScalarBitForBit) {
  const Table& t = GetParam().table;
  const Table ref = test::scalar_table();
  std::mt19937 rng(3);
  std::uniform_int_distribution<int> byte(-128, 127);
  std::uniform_int_distribution<uint32_t> half(0, 0xffff);
  const int64_t n_blocks = 77;
  std::vector<BlockQ8_0> q(n_blocks);
  for (auto& b : q) {
    b.d = static_cast<uint16_t>(half(rng));
    if ((b.d & 0x7c00) == 0x7c00) b.d &= 0xbfff;  // keep scales finite
    for (auto& v : b.qs) v = static_cast<int8_t>(byte(rng));
  }
  q[3].d = 0x7bff;  // fp16 max
  q[4].d = 0x0001;  // smallest subnormal
  const int64_t k = n_blocks * kQ8_0Block;
  std::vector<float> got(k + 1, -7.0f), want(k + 1, -7.0f);
  t.to_float_q8_0(q.data(), got.data(), k);
  ref.to_float_q8_0(q.data(), want.data(), k);
  ASSERT_EQ(0, std::memcmp(got.data(), want.data(), (k + 1) * sizeof(float)));
}

TEST_P(ConvertTest, F32ConvertRowIsACopy) {
  const Table& t = GetParam().table;
  std::mt19937 rng(4);
  for (int64_t k : {1, 5, 16, 1000}) {
    const auto x = tricky_floats(rng, static_cast<size_t>(k), true);
    std::vector<float> y(k + 1, -7.0f);
    t.f32.convert_row(x.data(), y.data(), k);
    ASSERT_EQ(0, std::memcmp(x.data(), y.data(), k * sizeof(float)));
    ASSERT_EQ(y[k], -7.0f);
  }
}

INSTANTIATE_TEST_SUITE_P(AllIsas, ConvertTest, ::testing::ValuesIn(test::runnable_tables()),
                         [](const auto& info) { return info.param.name; });

TEST(KernelTables, ReportWhatThisCpuRuns) {
  // Not a check of speed: records in the log which tables the other tests covered.
  std::string names;
  for (const auto& t : test::runnable_tables()) names += t.name + " ";
  std::cout << "cpu: " << cpu_features_string() << "\ntables tested: " << names << "\nbest: "
            << isa_name(table().isa) << "\n";
  EXPECT_FALSE(names.empty());
}

}  // namespace
}  // namespace deepcpu::kernels
