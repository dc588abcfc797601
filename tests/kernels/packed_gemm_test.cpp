// Packed Q8_0 weights (kernels.h pack_rows / gemm_packed): the layout round-trips, every
// table's packed gemm equals the scalar packed reference bit for bit (they share one
// float order by construction), that reference is within rounding of the exact dot, and
// results are bit-identical across m, row splits and whether a token runs alone or in a
// batch; nothing is written past r1. The AMX table (x86 with AMX-INT8, where the OS allows
// it) joins the tables run here; PrefillShapes covers its prefill edges.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "base/fp16.h"
#include "kernel_test_util.h"

namespace deepcpu::kernels {
namespace {

using test::NamedTable;

struct Problem {
  int64_t k = 0, rows = 0, m = 0;
  size_t wrb = 0, arb = 0;
  std::vector<uint8_t> w, a, packed;
};

// style 0: random; 1: fp16 scales at the edges and full int8 range incl. -128; 2: sparse blocks.
Problem make_problem(int64_t k, int64_t rows, int64_t m, int style, uint32_t seed) {
  std::mt19937 rng(seed);
  const Table ref = test::scalar_table();
  Problem p;
  p.k = k;
  p.rows = rows;
  p.m = m;
  p.wrb = p.arb = row_bytes(DType::kQ8_0, k);
  p.w.resize(p.wrb * rows);
  p.a.resize(p.arb * m);
  std::uniform_int_distribution<int> byte(-128, 127);
  std::uniform_int_distribution<int> coin(0, 3);
  for (int64_t r = 0; r < rows; ++r) {
    auto x = test::random_floats(rng, k);
    auto* b = reinterpret_cast<BlockQ8_0*>(p.w.data() + r * p.wrb);
    ref.q8_0.convert_row(x.data(), b, k);
    for (int64_t ib = 0; ib < k / kQ8_0Block; ++ib) {
      if (style == 1) {
        for (auto& q : b[ib].qs) q = static_cast<int8_t>(byte(rng));
        static const uint16_t kD[] = {0x7bff, 0x3c00, 0x0001, 0x0400, 0x2e66};
        b[ib].d = kD[(ib + r) % 5];
      } else if (style == 2 && coin(rng) != 0) {
        std::memset(&b[ib], 0, sizeof(BlockQ8_0));
      }
    }
  }
  for (int64_t t = 0; t < m; ++t) {
    auto x = test::random_floats(rng, k, style == 1 ? (t % 2 ? 1e3f : 1e-3f) : 1.0f);
    ref.q8_0.convert_row(x.data(), p.a.data() + t * p.arb, k);
  }
  p.packed.resize(ref.q8_0.packed_bytes(rows, k));
  ref.q8_0.pack_rows(p.w.data(), p.wrb, rows, k, p.packed.data());
  return p;
}

// The exact dot in double and the sum of magnitudes of its block terms.
void exact_dot(const Problem& p, int64_t r, int64_t t, double* dot, double* mag) {
  const auto* w = reinterpret_cast<const BlockQ8_0*>(p.w.data() + r * p.wrb);
  const auto* a = reinterpret_cast<const BlockQ8_0*>(p.a.data() + t * p.arb);
  *dot = *mag = 0.0;
  for (int64_t b = 0; b < p.k / kQ8_0Block; ++b) {
    int64_t isum = 0;
    for (int i = 0; i < kQ8_0Block; ++i) isum += int64_t(w[b].qs[i]) * a[b].qs[i];
    const double term = double(isum) * (double(fp16_to_f32(w[b].d)) * double(fp16_to_f32(a[b].d)));
    *dot += term;
    *mag += std::fabs(term);
  }
}

// c = [m x rows] via gemm_packed over the row ranges in `splits` (group boundaries).
std::vector<float> run(const Table& t, const Problem& p, int64_t m, const uint8_t* a, const std::vector<int64_t>& cuts) {
  std::vector<float> c(static_cast<size_t>(m * p.rows), std::numeric_limits<float>::quiet_NaN());
  for (size_t i = 0; i + 1 < cuts.size(); ++i) {
    t.q8_0.gemm_packed(p.packed.data(), p.k, a, p.arb, cuts[i], cuts[i + 1], m, c.data(), p.rows);
  }
  return c;
}

bool same_bits(float x, float y) { return std::memcmp(&x, &y, sizeof x) == 0; }

// The runnable tables plus "amx" (kernels::Isa::kAmx) where this machine can run it.
std::vector<NamedTable> packed_tables() {
  std::vector<NamedTable> out = test::runnable_tables();
  Table t;
  if (make_table(Isa::kAmx, &t)) out.push_back({isa_name(Isa::kAmx), t});
  return out;
}

class PackedGemm : public ::testing::TestWithParam<NamedTable> {};

TEST_P(PackedGemm, MatchesReferenceAndIsInvariant) {
  const Table& t = GetParam().table;
  if (t.q8_0.gemm_packed == nullptr) GTEST_SKIP() << "no packed q8_0 kernels in " << GetParam().name;
  const Table ref = test::scalar_table();
  struct Shape {
    int64_t k, rows, m;
  };
  const Shape shapes[] = {{32, 1, 1},   {32, 17, 3},   {64, 16, 1},    {96, 33, 5},   {160, 47, 13},
                          {256, 64, 33}, {1024, 19, 2}, {4096, 21, 1}, {4128, 40, 7}, {416, 100, 25},
                          // m <= 4 over 3-5 groups: the GEMV's two-group steps and a one-group tail
                          {64, 50, 1},   {96, 40, 4},   {160, 64, 2}, {32, 35, 3},   {2048, 80, 1}};
  int checked = 0;
  for (const Shape& s : shapes) {
    for (int style = 0; style < 3; ++style) {
      SCOPED_TRACE(::testing::Message() << "k=" << s.k << " rows=" << s.rows << " m=" << s.m << " style=" << style);
      const Problem p = make_problem(s.k, s.rows, s.m, style, static_cast<uint32_t>(s.k * 131 + s.rows * 7 + style));
      const std::vector<float> want = run(ref, p, s.m, p.a.data(), {0, s.rows});
      const std::vector<float> got = run(t, p, s.m, p.a.data(), {0, s.rows});
      // Alone: each token by itself; split: every row group its own call, in reverse.
      std::vector<int64_t> cuts;
      for (int64_t r = 0; r < s.rows; r += kPackRows) cuts.push_back(r);
      cuts.push_back(s.rows);
      for (int64_t it = 0; it < s.m; ++it) {
        const std::vector<float> one = run(t, p, 1, p.a.data() + it * p.arb, cuts);
        for (int64_t r = 0; r < s.rows; ++r) {
          ASSERT_TRUE(same_bits(one[r], got[it * s.rows + r])) << "token " << it << " row " << r << " alone differs";
        }
      }
      for (int64_t it = 0; it < s.m; ++it) {
        for (int64_t r = 0; r < s.rows; ++r) {
          const float g = got[it * s.rows + r];
          ASSERT_TRUE(same_bits(g, want[it * s.rows + r]))
              << "token " << it << " row " << r << ": " << g << " vs reference " << want[it * s.rows + r];
          double dot, mag;
          exact_dot(p, r, it, &dot, &mag);
          const double tol = 2.0 * (s.k / kQ8_0Block + 1) * 6e-8 * mag + 1e-30;
          ASSERT_LE(std::fabs(double(g) - dot), tol) << "token " << it << " row " << r;
          ++checked;
        }
      }
    }
  }
  EXPECT_GT(checked, 1000);
}

TEST_P(PackedGemm, NeverWritesPastR1) {
  const Table& t = GetParam().table;
  if (t.q8_0.gemm_packed == nullptr) GTEST_SKIP();
  for (int64_t m : {int64_t(4), int64_t(20)}) {  // GEMV and prefill (AMX) paths
    const Problem p = make_problem(128, 37, m, 0, 5);
    for (int64_t r1 : {int64_t(5), int64_t(16), int64_t(20), int64_t(37)}) {
      std::vector<float> c(static_cast<size_t>(m * p.rows), -7.0f);
      t.q8_0.gemm_packed(p.packed.data(), p.k, p.a.data(), p.arb, 0, r1, m, c.data(), p.rows);
      for (int64_t it = 0; it < m; ++it) {
        for (int64_t r = r1; r < p.rows; ++r) {
          ASSERT_EQ(c[it * p.rows + r], -7.0f) << "m " << m << " r1 " << r1 << " row " << r;
        }
      }
    }
  }
}

TEST_P(PackedGemm, UnpackedGemmAgreesWithinRounding) {
  // Packed and unpacked sum in different fp32 orders; both must be near the exact dot.
  const Table& t = GetParam().table;
  if (t.q8_0.gemm_packed == nullptr) GTEST_SKIP();
  const Problem p = make_problem(2048, 48, 9, 0, 11);
  std::vector<float> plain(static_cast<size_t>(p.m * p.rows));
  t.q8_0.gemm(p.w.data(), p.wrb, p.a.data(), p.arb, p.k, 0, p.rows, p.m, plain.data(), p.rows);
  const std::vector<float> packed = run(t, p, p.m, p.a.data(), {0, p.rows});
  for (int64_t i = 0; i < p.m * p.rows; ++i) {
    double dot, mag;
    exact_dot(p, i % p.rows, i / p.rows, &dot, &mag);
    EXPECT_NEAR(plain[i], packed[i], 4.0 * 65 * 6e-8 * mag + 1e-30) << i;
  }
}

TEST_P(PackedGemm, PrefillShapes) {
  // Token counts around the AMX tiles (16 and 32 tokens) and token-block edges, odd block counts, R1's k,
  // rows not a multiple of 16, row splits; each token alone (the m = 1 GEMV) and the
  // first 16 tokens as their own batch must give the batch's bits.
  const Table& t = GetParam().table;
  if (t.q8_0.gemm_packed == nullptr) GTEST_SKIP();
  const Table ref = test::scalar_table();
  struct Shape {
    int64_t k, rows, m;
  };
  const Shape shapes[] = {{32, 37, 513}, {96, 50, 100}, {96, 21, 17},   {4096, 40, 33}, {7168, 35, 16},
                          {7168, 19, 31}, {4096, 24, 64}, {32, 17, 64}, {160, 33, 513}, {96, 16, 31},
                          // AMX 2x2 tiles (32 tokens x 32 rows): partial second token tile and row
                          // group, a last k chunk of one odd block (nb = 129), token blocks of 32 (k 7168)
                          {96, 32, 32},   {64, 48, 48},   {4128, 48, 63}, {7168, 33, 65}, {64, 80, 17}};
  for (const Shape& s : shapes) {
    for (int style = 0; style < 2; ++style) {
      SCOPED_TRACE(::testing::Message() << "k=" << s.k << " rows=" << s.rows << " m=" << s.m << " style=" << style);
      const Problem p = make_problem(s.k, s.rows, s.m, style, static_cast<uint32_t>(s.k * 17 + s.rows + style));
      const std::vector<float> want = run(ref, p, s.m, p.a.data(), {0, s.rows});
      std::vector<int64_t> groups;
      for (int64_t r = 0; r < s.rows; r += kPackRows) groups.push_back(r);
      groups.push_back(s.rows);
      const int64_t mid = std::min<int64_t>(s.rows, kPackRows);
      for (const std::vector<int64_t>& cuts : {std::vector<int64_t>{0, s.rows}, std::vector<int64_t>{0, mid, s.rows}, groups}) {
        const std::vector<float> got = run(t, p, s.m, p.a.data(), cuts);
        ASSERT_EQ(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)), 0) << "cuts " << cuts.size();
      }
      const std::vector<float> first = run(t, p, 16, p.a.data(), groups);
      ASSERT_EQ(std::memcmp(first.data(), want.data(), first.size() * sizeof(float)), 0) << "first 16 tokens";
      for (int64_t it = 0; it < s.m; it += (s.m > 100 ? 7 : 1)) {
        const std::vector<float> one = run(t, p, 1, p.a.data() + it * p.arb, groups);
        ASSERT_EQ(std::memcmp(one.data(), want.data() + it * s.rows, one.size() * sizeof(float)), 0) << "token " << it;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Tables, PackedGemm, ::testing::ValuesIn(packed_tables()),
                         [](const auto& info) { return info.param.name; });

TEST(PackedLayout, RoundTripsAndPacksByGroupRanges) {
  const Table ref = test::scalar_table();
  for (int64_t rows : {1, 15, 16, 17, 50}) {
    for (int64_t k : {32, 96, 4128}) {
      const Problem p = make_problem(k, rows, 1, 1, static_cast<uint32_t>(rows + k));
      std::vector<uint8_t> back(p.w.size(), 0xcd);
      ref.q8_0.unpack_rows(p.packed.data(), rows, k, back.data(), p.wrb);
      ASSERT_EQ(back, p.w) << "rows " << rows << " k " << k;
      // Packing group ranges separately gives the same bytes as one call.
      std::vector<uint8_t> parts(p.packed.size(), 0xee);
      for (int64_t r = 0; r < rows; r += kPackRows) {
        const int64_t n = std::min<int64_t>(kPackRows, rows - r);
        ref.q8_0.pack_rows(p.w.data() + r * p.wrb, p.wrb, n, k, parts.data() + ref.q8_0.packed_bytes(r, k));
      }
      ASSERT_EQ(parts, p.packed) << "rows " << rows << " k " << k;
      EXPECT_EQ(ref.q8_0.packed_bytes(rows, k) % 64, 0u);
    }
  }
}

}  // namespace
}  // namespace deepcpu::kernels
