// Self-contained check of the ARM kernel tables (neon, sve) against the scalar reference,
// for cross builds run under qemu where gtest is not available: conversions bit for bit,
// gemms within the reordering bound, and batch invariance (bit-identical across m and
// r0/r1 splits in the same table). Prints "N passed, M failed"; exit code 1 on failure.
// The same properties are tested natively, with gtest, by tests/kernels/.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "base/fp16.h"
#include "kernels/kernels.h"
#include "check_counter.h"

using namespace deepcpu;
using namespace deepcpu::kernels;

namespace {

using arm_check::check;
using arm_check::g_failed;
using arm_check::g_passed;

std::vector<float> random_floats(std::mt19937& rng, size_t n, float scale) {
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

void check_conversions(const std::string& name, const Table& t, const Table& ref) {
  std::mt19937 rng(1);
  std::uniform_int_distribution<uint32_t> bits;
  for (int64_t k : {1, 5, 16, 33, 4096 + 37}) {
    std::vector<float> x(k);
    for (auto& v : x) v = (bits(rng) & 3) ? std::normal_distribution<float>(0, 3)(rng) : f32_from_bits(bits(rng));
    for (DType type : {DType::kF16, DType::kBF16}) {
      std::vector<uint16_t> got(k + 1, 0xabcd), want(k + 1, 0xabcd);
      t.from_float(type)(x.data(), got.data(), k);
      ref.from_float(type)(x.data(), want.data(), k);
      check(got == want, name + " from_float " + std::string(dtype_name(type)) + " k=" + std::to_string(k));
    }
  }
  std::vector<uint16_t> all(65536 + 3);
  for (size_t i = 0; i < all.size(); ++i) all[i] = static_cast<uint16_t>(i);
  for (DType type : {DType::kF16, DType::kBF16}) {
    std::vector<float> got(all.size() + 1, -7.0f), want(all.size() + 1, -7.0f);
    t.to_float(type)(all.data(), got.data(), static_cast<int64_t>(all.size()));
    ref.to_float(type)(all.data(), want.data(), static_cast<int64_t>(all.size()));
    check(std::memcmp(got.data(), want.data(), got.size() * 4) == 0, name + " to_float " + std::string(dtype_name(type)));
  }
  for (int64_t nb : {1, 3, 129}) {
    const int64_t k = nb * kQ8_0Block;
    auto x = random_floats(rng, k, 2.0f);
    std::fill(x.begin(), x.begin() + 32, 0.0f);  // an all-zero block
    if (nb > 1)
      for (int i = 0; i < 32; ++i) x[32 + i] = static_cast<float>(i % 8) - 3.5f + (i == 5 ? 127.0f : 0.0f);  // ties
    std::vector<BlockQ8_0> got(nb + 1), want(nb + 1);
    std::memset(got.data(), 0x5a, got.size() * sizeof(BlockQ8_0));
    std::memset(want.data(), 0x5a, want.size() * sizeof(BlockQ8_0));
    t.from_float_q8_0(x.data(), got.data(), k);
    ref.from_float_q8_0(x.data(), want.data(), k);
    check(std::memcmp(got.data(), want.data(), got.size() * sizeof(BlockQ8_0)) == 0,
          name + " from_float q8_0 nb=" + std::to_string(nb));
    std::vector<float> fg(k + 1, -7.0f), fw(k + 1, -7.0f);
    t.to_float_q8_0(want.data(), fg.data(), k);
    ref.to_float_q8_0(want.data(), fw.data(), k);
    check(std::memcmp(fg.data(), fw.data(), fg.size() * 4) == 0, name + " to_float q8_0 nb=" + std::to_string(nb));
  }
}

struct Problem {
  DType type;
  int64_t k, rows, m;
  size_t rb;
  std::vector<uint8_t> w, a;
};

Problem make_problem(const Table& ref, DType type, int64_t k, int64_t rows, int64_t m, uint32_t seed) {
  std::mt19937 rng(seed);
  Problem p{type, k, rows, m, row_bytes(type, k), {}, {}};
  p.w.resize(p.rb * rows);
  p.a.resize(p.rb * m);
  for (int64_t r = 0; r < rows + m; ++r) {
    auto x = random_floats(rng, k, 1.0f);
    if (r % 5 == 2)
      for (int64_t i = 0; i < std::min<int64_t>(k, 32); ++i) x[i] = 0.0f;  // zero block
    uint8_t* dst = r < rows ? p.w.data() + r * p.rb : p.a.data() + (r - rows) * p.rb;
    ref.matmul(type)->convert_row(x.data(), dst, k);
  }
  return p;
}

// Both sides are fp32 sums of ~n terms in different orders: within 2 (n + 32) u of
// sum |w_i a_i|. For q8_0 the integer block sums are exact; only the fp32 block sums
// differ in order, so the bound grows with the block count. Computed from decoded rows.
double bound(const Table& ref, const Problem& p, int64_t r, int64_t t) {
  std::vector<float> wf(p.k), af(p.k);
  auto decode = [&](const uint8_t* src, float* dst) {
    if (p.type == DType::kF32)
      std::memcpy(dst, src, p.k * 4);
    else
      ref.to_float(p.type)(src, dst, p.k);
  };
  decode(p.w.data() + r * p.rb, wf.data());
  decode(p.a.data() + t * p.rb, af.data());
  double mag = 0.0;
  for (int64_t i = 0; i < p.k; ++i) mag += std::fabs(double(wf[i]) * af[i]);
  return 2.0 * (double(p.k) + 32) * std::ldexp(1.0, -24) * mag * 1.01 + 1e-30;
}

void check_gemm(const std::string& name, const Table& t, const Table& ref) {
  for (DType type : {DType::kF32, DType::kF16, DType::kBF16, DType::kQ8_0}) {
    const std::string tn = name + " " + std::string(dtype_name(type));
    std::vector<int64_t> ks = {32, 96, 4096 + 32};
    if (type != DType::kQ8_0) ks.insert(ks.end(), {1, 7, 17});
    for (int64_t k : ks) {
      for (int64_t rows : {1, 3, 17}) {
        for (int64_t m : {1, 2, 5, 16}) {
          const Problem p = make_problem(ref, type, k, rows, m, uint32_t(k * 100 + rows * 10 + m));
          std::vector<float> got(m * rows), want(m * rows);
          t.matmul(type)->gemm(p.w.data(), p.rb, p.a.data(), p.rb, k, 0, rows, m, got.data(), rows);
          ref.matmul(type)->gemm(p.w.data(), p.rb, p.a.data(), p.rb, k, 0, rows, m, want.data(), rows);
          bool ok = true;
          for (int64_t it = 0; it < m && ok; ++it)
            for (int64_t ir = 0; ir < rows && ok; ++ir)
              ok = std::fabs(double(got[it * rows + ir]) - want[it * rows + ir]) <= bound(ref, p, ir, it);
          check(ok, tn + " vs scalar k=" + std::to_string(k) + " rows=" + std::to_string(rows) +
                        " m=" + std::to_string(m));
        }
      }
    }
    // Batch invariance: bit-identical for single tokens, sub-batches and row splits.
    for (int64_t k : {int64_t{96}, int64_t{4096 + 32}}) {
      const int64_t rows = 19, m = 23;
      const Problem p = make_problem(ref, type, k, rows, m, uint32_t(k + 3));
      const auto& mk = *t.matmul(type);
      std::vector<float> full(m * rows);
      mk.gemm(p.w.data(), p.rb, p.a.data(), p.rb, k, 0, rows, m, full.data(), rows);
      for (int64_t mm : {1, 2, 3, 5, 7}) {
        for (int64_t t0 = 0; t0 + mm <= m; t0 += mm + 3) {
          std::vector<float> c(mm * rows);
          mk.gemm(p.w.data(), p.rb, p.a.data() + t0 * p.rb, p.rb, k, 0, rows, mm, c.data(), rows);
          check(std::memcmp(c.data(), full.data() + t0 * rows, c.size() * 4) == 0,
                tn + " invariance sub-batch m=" + std::to_string(mm) + " t0=" + std::to_string(t0));
        }
      }
      for (int64_t parts : {2, 3, 19}) {
        std::vector<float> c(m * rows);
        for (int64_t q = 0; q < parts; ++q)
          mk.gemm(p.w.data(), p.rb, p.a.data(), p.rb, k, rows * q / parts, rows * (q + 1) / parts, m, c.data(), rows);
        check(std::memcmp(c.data(), full.data(), c.size() * 4) == 0, tn + " invariance row split " + std::to_string(parts));
      }
    }
  }
}

}  // namespace

int main() {
  Table ref;
  make_table(Isa::kScalar, &ref);
  std::printf("cpu: %s\n", cpu_features_string().c_str());
  int n_tables = 0;
  for (Isa isa : {Isa::kNeon, Isa::kSve}) {
    Table t;
    if (!make_table(isa, &t)) {
      std::printf("%s: not supported here, skipped\n", isa_name(isa));
      continue;
    }
    ++n_tables;
    check_conversions(isa_name(isa), t, ref);
    check_gemm(isa_name(isa), t, ref);
  }
  std::printf("%d tables, %d passed, %d failed\n", n_tables, g_passed, g_failed);
  return g_failed == 0 && n_tables > 0 ? 0 : 1;
}
