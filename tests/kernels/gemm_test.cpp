// Every runnable table's gemm against the scalar reference, for every weight type, on odd
// shapes, k tails, extreme scales and all-zero blocks; and batch invariance: the same
// table must give bit-identical outputs whatever m, r0/r1 split or tile an element is in.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "base/fp16.h"
#include "kernel_test_util.h"

namespace deepcpu::kernels {
namespace {

using test::NamedTable;

// A weight matrix and activations in one type, plus per-output magnitudes for the bound.
struct Problem {
  DType type;
  int64_t k = 0, rows = 0, m = 0;
  size_t w_row_bytes = 0, a_row_bytes = 0;
  std::vector<uint8_t> w, a;
};

size_t bytes_per_row(DType type, int64_t k) { return row_bytes(type, k); }

// Weights are made in their own type; activations are f32 converted by the scalar table
// (conversion equality is convert_test's job), so only the gemm differs between tables.
// `style` 0: random; 1: extreme scales (q8_0: fp16 max / subnormal d, -128 weights;
// floats: magnitudes 1e-30..1e30 by row); 2: mostly all-zero blocks.
Problem make_problem(DType type, int64_t k, int64_t rows, int64_t m, int style, uint32_t seed) {
  std::mt19937 rng(seed);
  const Table ref = test::scalar_table();
  Problem p;
  p.type = type;
  p.k = k;
  p.rows = rows;
  p.m = m;
  p.w_row_bytes = bytes_per_row(type, k);
  p.a_row_bytes = bytes_per_row(type, k);
  p.w.resize(p.w_row_bytes * rows);
  p.a.resize(p.a_row_bytes * m);
  std::uniform_int_distribution<int> coin(0, 3);
  // Extreme but finite: fp16 rows span its subnormals to near its max; f32/bf16 rows span
  // 1e-30..1e30 with activations chosen so no exact sum overflows fp32.
  auto row_scale = [&](int64_t r) -> float {
    if (style != 1) return 1.0f;
    static const float kWide[] = {1e-30f, 1e-8f, 1.0f, 3e4f, 1e30f};
    static const float kHalf[] = {3e-5f, 1e-2f, 1.0f, 1e2f, 3e3f};
    return type == DType::kF16 ? kHalf[r % 5] : kWide[r % 5];
  };
  auto act_scale = [&](int64_t t) -> float {
    if (style != 1) return 1.0f;
    if (type == DType::kQ8_0) return t % 2 ? 1e6f : 1e-6f;  // d_a near fp16 max / subnormal
    if (type == DType::kF16) return t % 2 ? 10.0f : 1e-3f;
    return t % 2 ? 1e3f : 1e-6f;
  };
  for (int64_t r = 0; r < rows; ++r) {
    auto x = test::random_floats(rng, k, type == DType::kQ8_0 ? 1.0f : row_scale(r));
    if (style == 2) {
      for (int64_t i = 0; i < k; ++i)
        if ((i / 32) % 3 != 1) x[i] = 0.0f;
    }
    uint8_t* dst = p.w.data() + r * p.w_row_bytes;
    if (type == DType::kF32) {
      std::memcpy(dst, x.data(), k * 4);
    } else {
      ref.from_float(type)(x.data(), dst, k);
    }
    if (type == DType::kQ8_0) {
      auto* b = reinterpret_cast<BlockQ8_0*>(dst);
      std::uniform_int_distribution<int> byte(-128, 127);
      for (int64_t ib = 0; ib < k / kQ8_0Block; ++ib) {
        if (style == 1) {
          // Quantized weights use the full int8 range incl. -128, with scales at the
          // edges of fp16: its max, ordinary, and subnormal.
          for (auto& q : b[ib].qs) q = static_cast<int8_t>(byte(rng));
          static const uint16_t kD[] = {0x7bff, 0x3c00, 0x0001, 0x0400, 0x2e66};
          b[ib].d = kD[(ib + r) % 5];
        } else if (style == 2 && coin(rng) == 0) {
          b[ib].d = 0x3c00;  // zero qs with a non-zero scale
        }
      }
    }
  }
  for (int64_t t = 0; t < m; ++t) {
    auto x = test::random_floats(rng, k, act_scale(t));
    if (style == 2 && t % 2 == 0) {
      for (int64_t i = 0; i < k; ++i)
        if ((i / 32) % 2 == 0) x[i] = 0.0f;
    }
    ref.matmul(type)->convert_row(x.data(), p.a.data() + t * p.a_row_bytes, k);
  }
  return p;
}

// sum_i |w_i * a_i| in double (for q8_0: sum_b |d_w d_a| sum_i |q_w q_a|), and the
// number of terms the fp32 sums run over.
double magnitude(const Problem& p, int64_t r, int64_t t) {
  const uint8_t* w = p.w.data() + r * p.w_row_bytes;
  const uint8_t* a = p.a.data() + t * p.a_row_bytes;
  double s = 0.0;
  switch (p.type) {
    case DType::kF32:
      for (int64_t i = 0; i < p.k; ++i)
        s += std::fabs(double(reinterpret_cast<const float*>(w)[i]) * reinterpret_cast<const float*>(a)[i]);
      break;
    case DType::kF16:
      for (int64_t i = 0; i < p.k; ++i)
        s += std::fabs(double(fp16_to_f32(reinterpret_cast<const uint16_t*>(w)[i])) *
                       fp16_to_f32(reinterpret_cast<const uint16_t*>(a)[i]));
      break;
    case DType::kBF16:
      for (int64_t i = 0; i < p.k; ++i)
        s += std::fabs(double(bf16_to_f32(reinterpret_cast<const uint16_t*>(w)[i])) *
                       bf16_to_f32(reinterpret_cast<const uint16_t*>(a)[i]));
      break;
    case DType::kQ8_0: {
      const auto* wb = reinterpret_cast<const BlockQ8_0*>(w);
      const auto* ab = reinterpret_cast<const BlockQ8_0*>(a);
      for (int64_t b = 0; b < p.k / kQ8_0Block; ++b) {
        int64_t is = 0;
        for (int i = 0; i < kQ8_0Block; ++i) is += std::abs(int(wb[b].qs[i]) * ab[b].qs[i]);
        s += std::fabs(double(fp16_to_f32(wb[b].d)) * fp16_to_f32(ab[b].d)) * double(is);
      }
      break;
    }
    default: break;
  }
  return s;
}

// Both sides are fp32 sums of n terms in some order, so each is within about (n + 2) u of
// the exact value relative to sum |terms| (u = 2^-24; +2 for the product rounding and the
// final lane tree). For q8_0 the integer block sums are exact; only the order of the fp32
// block sums differs (terms = blocks times lanes per block), so the bound grows with the
// number of blocks. BF16 with vdpbf16ps also flushes denormal inputs, and fp32 sums near
// the bottom of the range lose absolute precision, hence the small absolute slack.
double tolerance(const Problem& p, double mag) {
  const double u = std::ldexp(1.0, -24);
  const double n_terms = p.type == DType::kQ8_0 ? double(p.k / kQ8_0Block) * 16 + 32 : double(p.k) + 32;
  return 2.0 * n_terms * u * mag + 1e-30;
}

void run_gemm(const MatmulKernels& mk, const Problem& p, int64_t r0, int64_t r1, int64_t t0, int64_t m, float* c,
              int64_t ldc) {
  mk.gemm(p.w.data(), p.w_row_bytes, p.a.data() + t0 * p.a_row_bytes, p.a_row_bytes, p.k, r0, r1, m, c, ldc);
}

class GemmTest : public ::testing::TestWithParam<NamedTable> {};

const DType kTypes[] = {DType::kF32, DType::kF16, DType::kBF16, DType::kQ8_0};

TEST_P(GemmTest, MatchesScalarWithinBound) {
  const Table& t = GetParam().table;
  const Table ref = test::scalar_table();
  int n_checked = 0;
  for (DType type : kTypes) {
    std::vector<int64_t> ks = {32, 64, 96, 4096 + 32};
    if (type != DType::kQ8_0) ks.insert(ks.end(), {1, 7, 15, 17, 33, 100});
    for (int style = 0; style < 3; ++style) {
      for (int64_t k : ks) {
        for (int64_t rows : {1, 3, 17, 64}) {
          for (int64_t m : {1, 2, 5, 16, 33}) {
            if (k > 1000 && rows * m > 17 * 16 && style != 0) continue;  // keep the big-k cases affordable
            const Problem p = make_problem(type, k, rows, m, style, uint32_t(k * 1000 + rows * 10 + m + style));
            const int64_t ldc = rows + 3;  // padding columns must stay untouched
            std::vector<float> got(m * ldc, -7.0f), want(m * ldc, -7.0f);
            run_gemm(*t.matmul(type), p, 0, rows, 0, m, got.data(), ldc);
            run_gemm(*ref.matmul(type), p, 0, rows, 0, m, want.data(), ldc);
            for (int64_t it = 0; it < m; ++it) {
              for (int64_t ir = 0; ir < ldc; ++ir) {
                const float g = got[it * ldc + ir], w = want[it * ldc + ir];
                if (ir >= rows) {
                  ASSERT_EQ(g, -7.0f) << "wrote padding at token " << it << " col " << ir;
                  continue;
                }
                ASSERT_TRUE(std::isfinite(w)) << "reference overflowed; fix the test scales";
                const double bound = tolerance(p, magnitude(p, ir, it));
                ASSERT_LE(std::fabs(double(g) - w), bound)
                    << GetParam().name << " " << dtype_name(type) << " style=" << style << " k=" << k
                    << " rows=" << rows << " m=" << m << " token " << it << " row " << ir << " got " << g
                    << " want " << w;
                ++n_checked;
              }
            }
          }
        }
      }
    }
  }
  EXPECT_GT(n_checked, 0);
}

// Batch invariance: bit-identical results for a token alone, in any sub-batch, and for any
// split of the rows, within the same table.
TEST_P(GemmTest, BitIdenticalAcrossBatchAndRowSplits) {
  const Table& t = GetParam().table;
  for (DType type : kTypes) {
    for (int64_t k : {int64_t{32}, int64_t{96}, int64_t{4096 + 32}, type == DType::kQ8_0 ? int64_t{160} : int64_t{37}}) {
      const int64_t rows = 67, m = 70;
      const Problem p = make_problem(type, k, rows, m, 0, uint32_t(k + 7));
      const MatmulKernels& mk = *t.matmul(type);
      std::vector<float> full(m * rows);
      run_gemm(mk, p, 0, rows, 0, m, full.data(), rows);
      auto expect_same = [&](const std::vector<float>& c, int64_t t0, int64_t mm, int64_t r0, int64_t r1,
                             const char* what) {
        for (int64_t it = 0; it < mm; ++it)
          for (int64_t ir = r0; ir < r1; ++ir)
            ASSERT_EQ(f32_bits(c[it * rows + ir]), f32_bits(full[(t0 + it) * rows + ir]))
                << GetParam().name << " " << dtype_name(type) << " k=" << k << " " << what << " t0=" << t0
                << " m=" << mm << " r0=" << r0 << " r1=" << r1 << " token " << it << " row " << ir;
      };
      // Sub-batches of every size 1..9 and a few larger ones, at varied offsets.
      for (int64_t mm : {1, 2, 3, 4, 5, 6, 7, 8, 9, 16, 33, 64}) {
        for (int64_t t0 = 0; t0 + mm <= m; t0 += (mm <= 9 ? 11 : 3) + mm) {
          std::vector<float> c(mm * rows);
          run_gemm(mk, p, 0, rows, t0, mm, c.data(), rows);
          expect_same(c, t0, mm, 0, rows, "sub-batch");
        }
      }
      // Row splits as threads would make them, plus single rows at odd places.
      for (int64_t n_parts : {2, 3, 5, 7, 67}) {
        std::vector<float> c(m * rows);
        for (int64_t part = 0; part < n_parts; ++part) {
          const int64_t r0 = rows * part / n_parts, r1 = rows * (part + 1) / n_parts;
          run_gemm(mk, p, r0, r1, 0, m, c.data(), rows);
        }
        expect_same(c, 0, m, 0, rows, "row split");
      }
      for (int64_t r0 : {1, 2, 5, 13, 66}) {
        std::vector<float> c(3 * rows);
        run_gemm(mk, p, r0, std::min(rows, r0 + 2), 40, 3, c.data(), rows);
        expect_same(c, 40, 3, r0, std::min(rows, r0 + 2), "row window");
      }
    }
  }
}

// With one token the gemm is a GEMV; check it against a plain double dot of the decoded
// rows too, so a shared mistake in the scalar reference would show up here.
TEST_P(GemmTest, GemvMatchesDoubleDot) {
  const Table& t = GetParam().table;
  const Table ref = test::scalar_table();
  for (DType type : kTypes) {
    const int64_t k = 4096 + 32, rows = 19;
    const Problem p = make_problem(type, k, rows, 1, 0, 99);
    std::vector<float> c(rows);
    run_gemm(*t.matmul(type), p, 0, rows, 0, 1, c.data(), rows);
    std::vector<float> wf(k), af(k);
    auto decode = [&](const uint8_t* src, float* dst) {
      if (type == DType::kF32)
        std::memcpy(dst, src, k * 4);
      else
        ref.to_float(type)(src, dst, k);
    };
    decode(p.a.data(), af.data());
    for (int64_t r = 0; r < rows; ++r) {
      decode(p.w.data() + r * p.w_row_bytes, wf.data());
      double exact = 0.0;
      for (int64_t i = 0; i < k; ++i) exact += double(wf[i]) * af[i];
      // q8_0 decode rounds d*q to fp32 once per element: one more u per term.
      EXPECT_NEAR(c[r], exact, 2 * tolerance(p, magnitude(p, r, 0))) << dtype_name(type) << " row " << r;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllIsas, GemmTest, ::testing::ValuesIn(test::runnable_tables()),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace deepcpu::kernels
