// Self-contained check of the ARM packed Q8_0 gemms (arm_neon/packed_q8_0_neon.cpp,
// arm_sve/packed_q8_0_sve.cpp) for cross builds run under qemu, where gtest is not
// available. The packed kernels promise more than the unpacked ones: every output is the
// reference's exact float sequence, so each result is compared bit for bit (memcmp) with
// scalar/packed_q8_0.cpp's gemm_packed, over odd block counts, partial groups, every decode
// token count and GEMM tiles with ragged tails, row ranges split at group boundaries, and
// batch invariance (token t of an m-token call equals the same token alone). Prints
// "N passed, M failed"; exit code 1 on failure.
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

// Raw q8_0 rows: every int8 value including -128 (the kernels must not assume the
// quantizer's -127..127), random-sign scales over several binades, a few fp16 subnormal
// scales (the kernels convert scales in hardware, the reference in software), and an
// all-zero block now and then.
std::vector<BlockQ8_0> random_rows(std::mt19937& rng, int64_t n_rows, int64_t nb) {
  std::vector<BlockQ8_0> v(n_rows * nb);
  std::uniform_int_distribution<int> byte(-128, 127), pick(0, 99);
  std::uniform_real_distribution<float> mag(0.25f, 4.0f);
  for (auto& blk : v) {
    const int kind = pick(rng);
    for (auto& q : blk.qs) q = static_cast<int8_t>(kind < 3 ? 0 : byte(rng));
    float d = mag(rng) * (pick(rng) < 50 ? -1.0f : 1.0f) * (pick(rng) < 50 ? 1.0f / 64 : 1.0f / 4096);
    blk.d = f32_to_fp16(d);
    if (kind >= 3 && kind < 6) blk.d = static_cast<uint16_t>((pick(rng) < 50 ? 0x8000 : 0) | (1 + pick(rng) * 9));
  }
  return v;
}

struct Case {
  int64_t k, rows;
  std::vector<uint8_t> packed;
  std::vector<BlockQ8_0> a;  // kMaxTokens rows
  std::vector<float> want;   // kMaxTokens x rows, the scalar packed reference
};

constexpr int64_t kMaxTokens = 33;

Case make_case(const Table& ref, int64_t k, int64_t rows, uint32_t seed) {
  std::mt19937 rng(seed);
  const int64_t nb = k / kQ8_0Block;
  Case cs{k, rows, {}, random_rows(rng, kMaxTokens, nb), std::vector<float>(kMaxTokens * rows)};
  const std::vector<BlockQ8_0> w = random_rows(rng, rows, nb);
  const MatmulKernels& mk = ref.q8_0;
  cs.packed.assign(mk.packed_bytes(rows, k), 0xcd);
  mk.pack_rows(w.data(), nb * sizeof(BlockQ8_0), rows, k, cs.packed.data());
  mk.gemm_packed(cs.packed.data(), k, cs.a.data(), nb * sizeof(BlockQ8_0), 0, rows, kMaxTokens, cs.want.data(), rows);
  return cs;
}

// Runs gemm over rows [r0, r1) for tokens [t0, t0 + m) into a sentinel-filled c with
// ldc = rows + 3, and checks: the rows written equal the reference bit for bit, and nothing
// else of c was touched.
bool run_and_compare(const MatmulKernels& mk, const Case& cs, const std::vector<int64_t>& splits, int64_t t0,
                     int64_t m) {
  const int64_t ldc = cs.rows + 3;
  const size_t arb = (cs.k / kQ8_0Block) * sizeof(BlockQ8_0);
  const float sentinel = f32_from_bits(0x7fc0beef);
  std::vector<float> c(m * ldc, sentinel);
  for (size_t i = 0; i + 1 < splits.size(); ++i)
    mk.gemm_packed(cs.packed.data(), cs.k, cs.a.data() + t0 * (cs.k / kQ8_0Block), arb, splits[i], splits[i + 1], m,
                   c.data(), ldc);
  const int64_t lo = splits.front(), hi = splits.back();
  for (int64_t t = 0; t < m; ++t) {
    for (int64_t r = 0; r < ldc; ++r) {
      const float got = c[t * ldc + r];
      if (r >= lo && r < hi) {
        if (std::memcmp(&got, &cs.want[(t0 + t) * cs.rows + r], 4) != 0) return false;
      } else if (std::memcmp(&got, &sentinel, 4) != 0) {
        return false;
      }
    }
  }
  return true;
}

std::string shape(const Case& cs) { return " k=" + std::to_string(cs.k) + " rows=" + std::to_string(cs.rows); }

void check_case(const std::string& name, const MatmulKernels& mk, const Case& cs) {
  const int64_t rows = cs.rows;
  // Every decode token count, GEMM tiles with each ragged tail, several token blocks (at
  // k = 7168 a token block is 32 tokens).
  for (int64_t m : {1, 2, 3, 4, 5, 6, 7, 8, 17, 33}) {
    if (m > kMaxTokens) continue;
    check(run_and_compare(mk, cs, {0, rows}, 0, m), name + shape(cs) + " m=" + std::to_string(m));
  }
  // Batch invariance: token t alone (and small sub-batches at odd offsets) equal the rows
  // of the 33-token reference, so the same token gives the same bits in any batch.
  for (int64_t t0 : {0, 5, 16, 32}) check(run_and_compare(mk, cs, {0, rows}, t0, 1), name + shape(cs) + " m=1 t0=" + std::to_string(t0));
  for (int64_t m : {3, 6}) check(run_and_compare(mk, cs, {0, rows}, 7, m), name + shape(cs) + " sub-batch t0=7 m=" + std::to_string(m));
  // Row ranges: r0 on group boundaries, r1 a group boundary or the last row, as the thread
  // pool splits them; a middle range alone; every group on its own.
  std::vector<std::vector<int64_t>> splits;
  if (rows > kPackRows) {
    splits.push_back({0, kPackRows, rows});
    splits.push_back({kPackRows, rows});
    std::vector<int64_t> each;
    for (int64_t r = 0; r < rows; r += kPackRows) each.push_back(r);
    each.push_back(rows);
    splits.push_back(each);
  }
  if (rows > 2 * kPackRows) splits.push_back({kPackRows, 2 * kPackRows});
  for (const auto& s : splits) {
    std::string desc;
    for (int64_t r : s) {
      if (!desc.empty()) desc += ',';
      desc += std::to_string(r);
    }
    for (int64_t m : {1, 4, 17})
      check(run_and_compare(mk, cs, s, 0, m), name + shape(cs) + " rows {" + desc + "} m=" + std::to_string(m));
  }
}

}  // namespace

int main() {
  Table ref;
  make_table(Isa::kScalar, &ref);
  std::printf("cpu: %s\n", cpu_features_string().c_str());
  struct Entry {
    std::string name;
    Table t;
  };
  std::vector<Entry> tables;
  for (Isa isa : {Isa::kNeon, Isa::kSve}) {
    Table t;
    if (!make_table(isa, &t)) {
      std::printf("%s: not supported here, skipped\n", isa_name(isa));
      continue;
    }
    // Every ARM table this CPU can run has a packed gemm of its own, never the reference.
    const bool own = t.q8_0.gemm_packed != nullptr && t.q8_0.gemm_packed != ref.q8_0.gemm_packed &&
                     t.q8_0.pack_rows == ref.q8_0.pack_rows && t.q8_0.packed_bytes == ref.q8_0.packed_bytes &&
                     t.q8_0.unpack_rows == ref.q8_0.unpack_rows;
    check(own, std::string(isa_name(isa)) + " table has an ARM packed q8_0 gemm and the scalar layout entries");
    tables.push_back({std::string(isa_name(isa)) + " packed", t});
  }
  // The SVE table at 128-bit vectors keeps the NEON gemm (packed_q8_0_sve.cpp says why).
  if (tables.size() == 2)
    std::printf("sve table: %s packed gemm\n",
                tables[0].t.q8_0.gemm_packed == tables[1].t.q8_0.gemm_packed ? "the neon" : "its own sve");
  uint32_t seed = 7;
  for (int64_t k : {32, 64, 96, 4096, 7168}) {
    std::vector<int64_t> rows_list = {1, 5, 16, 17, 45};
    if (k >= 4096) rows_list = {17, 45};
    for (int64_t rows : rows_list) {
      const Case cs = make_case(ref, k, rows, seed++);
      for (const auto& e : tables) check_case(e.name, e.t.q8_0, cs);
    }
  }
  std::printf("%zu tables, %d passed, %d failed\n", tables.size(), g_passed, g_failed);
  return g_failed == 0 && !tables.empty() ? 0 : 1;
}
