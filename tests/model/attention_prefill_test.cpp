// Attention over the paged KV cache (blocks/attention.cpp): a prompt processed whole
// (tiles of several tokens per task), in small ubatches, or beside another sequence
// gives bit-for-bit the outputs of feeding the same tokens one at a time (decode), for
// MLA-like shapes (one KV head, V a prefix of the K row) and llama-like ones (several
// KV heads, separate V), f16/bf16/q8_0 caches, on every kernel table this CPU runs.
// A loose comparison with a double-precision softmax checks that the numbers are right.
// With a q8_0 K cache the flash path takes its scores from the packed GEMM; those are
// checked against the scalar packed reference on prompts spanning several spans.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "kernels/kernels.h"
#include "kv/kv_cache.h"
#include "model/blocks/attention.h"
#include "runtime/arena.h"
#include "runtime/thread_pool.h"

namespace deepcpu {
namespace {

struct Case {
  const char* name;
  int n_head, n_head_kv, k_dim, v_dim;
  bool v_in_k;
  DType type_k, type_v;
};

// Two sequences' prompts: q [n][n_head][k_dim], k [n][n_head_kv][k_dim], v [n][n_head_kv][v_dim].
struct Prompt {
  int n = 0;
  std::vector<float> q, k, v;
};

Prompt random_prompt(std::mt19937& rng, const Case& c, int n) {
  std::normal_distribution<float> d(0.0f, 1.0f);
  Prompt p;
  p.n = n;
  p.q.resize(static_cast<size_t>(n) * c.n_head * c.k_dim);
  p.k.resize(static_cast<size_t>(n) * c.n_head_kv * c.k_dim);
  p.v.resize(static_cast<size_t>(n) * c.n_head_kv * c.v_dim);
  for (auto* vec : {&p.q, &p.k, &p.v}) {
    for (float& x : *vec) x = d(rng);
  }
  if (c.v_in_k) {  // MLA: V is the first v_dim values of the K row
    for (int t = 0; t < n; ++t) {
      for (int h = 0; h < c.n_head_kv; ++h) {
        std::memcpy(&p.v[(static_cast<size_t>(t) * c.n_head_kv + h) * c.v_dim],
                    &p.k[(static_cast<size_t>(t) * c.n_head_kv + h) * c.k_dim], c.v_dim * sizeof(float));
      }
    }
  }
  return p;
}

class Runner {
 public:
  Runner(const Case& c, const kernels::Table& kt, int n_threads, bool flash) : c_(c), kt_(kt), pool_(n_threads), flash_(flash) {
    KvLayerShape s{c.n_head_kv, c.k_dim, c.v_dim, c.v_in_k};
    // Packed K panels with flash attention, as Engine makes the cache; prompts up to 150 tokens.
    auto kv = KvCache::create({s}, c.type_k, c.type_v, 256, 2, flash);
    EXPECT_TRUE(kv.is_ok());
    kv_ = std::move(kv.value());
  }

  // Feeds tokens [from, to) of each listed sequence in one ubatch (sequence order, then
  // token order); writes the attention outputs into out[seq].
  void step(const std::vector<const Prompt*>& prompts, const std::vector<std::pair<int, int>>& ranges,
            std::vector<std::vector<float>>& out) {
    std::vector<int32_t> pos, seq;
    std::vector<float> q, k, v;
    for (size_t s = 0; s < prompts.size(); ++s) {
      const Prompt& p = *prompts[s];
      for (int t = ranges[s].first; t < ranges[s].second; ++t) {
        pos.push_back(t);
        seq.push_back(static_cast<int32_t>(s));
        append(q, p.q, t, c_.n_head * c_.k_dim);
        append(k, p.k, t, c_.n_head_kv * c_.k_dim);
        append(v, p.v, t, c_.n_head_kv * c_.v_dim);
      }
      if (ranges[s].second > ranges[s].first) {
        ASSERT_TRUE(kv_->reserve(static_cast<int32_t>(s), ranges[s].second).is_ok());
      }
    }
    std::vector<TokenId> tokens(pos.size(), 0);
    UBatch ub;
    ub.n = static_cast<int>(pos.size());
    ub.tokens = tokens.data();
    ub.pos = pos.data();
    ub.seq = seq.data();
    ForwardCtx ctx{pool_, *kv_, arena_, kt_, flash_};
    const float scale = 1.0f / std::sqrt(static_cast<float>(c_.k_dim));
    AttentionShape as{0, c_.n_head, c_.n_head_kv, c_.k_dim, c_.v_dim, scale};
    std::vector<float> o(static_cast<size_t>(ub.n) * c_.n_head * c_.v_dim);
    arena_.reset();
    kv_store(ctx, ub, 0, k.data(), v.data());
    attention(ctx, ub, as, q.data(), o.data());
    for (int i = 0; i < ub.n; ++i) {
      kv_->set_length(seq[i], std::max(kv_->length(seq[i]), pos[i] + 1));
      const size_t row = static_cast<size_t>(c_.n_head) * c_.v_dim;
      std::vector<float>& dst = out[seq[i]];
      if (dst.size() < (pos[i] + 1) * row) dst.resize((pos[i] + 1) * row);
      std::memcpy(&dst[pos[i] * row], &o[i * row], row * sizeof(float));
    }
  }

 private:
  static void append(std::vector<float>& dst, const std::vector<float>& src, int t, int row) {
    dst.insert(dst.end(), src.begin() + static_cast<size_t>(t) * row, src.begin() + static_cast<size_t>(t + 1) * row);
  }

  Case c_;
  const kernels::Table& kt_;
  ThreadPool pool_;
  Arena arena_;
  bool flash_;
  std::unique_ptr<KvCache> kv_;
};

// Softmax(q.k * scale) . v in double, on the prompt's own floats (not the cache's rounding).
std::vector<double> naive(const Case& c, const Prompt& p) {
  const double scale = 1.0 / std::sqrt(static_cast<double>(c.k_dim));
  const int group = c.n_head / c.n_head_kv;
  std::vector<double> out(static_cast<size_t>(p.n) * c.n_head * c.v_dim, 0.0);
  for (int t = 0; t < p.n; ++t) {
    for (int h = 0; h < c.n_head; ++h) {
      const int hk = h / group;
      std::vector<double> s(t + 1);
      double mx = -INFINITY;
      for (int j = 0; j <= t; ++j) {
        double d = 0.0;
        for (int e = 0; e < c.k_dim; ++e) {
          d += static_cast<double>(p.q[(static_cast<size_t>(t) * c.n_head + h) * c.k_dim + e]) *
               p.k[(static_cast<size_t>(j) * c.n_head_kv + hk) * c.k_dim + e];
        }
        s[j] = d * scale;
        mx = std::max(mx, s[j]);
      }
      double sum = 0.0;
      for (double& x : s) sum += (x = std::exp(x - mx));
      for (int j = 0; j <= t; ++j) {
        for (int e = 0; e < c.v_dim; ++e) {
          out[(static_cast<size_t>(t) * c.n_head + h) * c.v_dim + e] +=
              s[j] / sum * p.v[(static_cast<size_t>(j) * c.n_head_kv + hk) * c.v_dim + e];
        }
      }
    }
  }
  return out;
}

std::vector<kernels::Table> tables() {
  std::vector<kernels::Table> out;
  for (kernels::Isa isa : {kernels::Isa::kScalar, kernels::Isa::kAvx2, kernels::Isa::kAvx512, kernels::Isa::kAmx,
                           kernels::Isa::kNeon, kernels::Isa::kSve}) {
    kernels::Table t;
    if (kernels::make_table(isa, &t)) out.push_back(t);
  }
  return out;
}

const Case kCases[] = {
    // DeepSeek MLA absorbed: one latent head, V = first 512 of the 576-wide K row; 20 heads
    // make one chunk of 16 and one of 4.
    {"mla_q8_0", 20, 1, 576, 512, true, DType::kQ8_0, DType::kQ8_0},
    {"mla_f16", 20, 1, 576, 512, true, DType::kF16, DType::kF16},
    // llama: grouped query heads, separate V (v_dim 96 = 64 + 32 exercises the narrower steps).
    {"gqa_q8_0", 8, 2, 64, 96, false, DType::kQ8_0, DType::kQ8_0},
    {"gqa_f16_q8_0", 8, 2, 64, 96, false, DType::kF16, DType::kQ8_0},
    {"gqa_bf16", 6, 3, 64, 64, false, DType::kBF16, DType::kBF16},
    // odd widths: v_dim 40 leaves a scalar tail after the vector steps.
    {"mha_f16_odd", 3, 3, 24, 40, false, DType::kF16, DType::kF16},
};

void expect_same_bits(const std::vector<float>& want, const std::vector<float>& got, const std::string& what) {
  ASSERT_EQ(want.size(), got.size()) << what;
  size_t first_diff = want.size();
  for (size_t i = 0; i < want.size() && first_diff == want.size(); ++i) {
    if (std::memcmp(&want[i], &got[i], sizeof(float)) != 0) first_diff = i;
  }
  EXPECT_EQ(first_diff, want.size()) << what << ": element " << first_diff << " is " << got[first_diff]
                                      << ", one token at a time gave " << want[first_diff];
}

void check_case(const Case& c, const kernels::Table& kt, bool flash) {
  std::mt19937 rng(1234);
  const std::string where = std::string(c.name) + " on " + kernels::isa_name(kt.isa) + (flash ? " flash" : " plain");
  for (int n0 : {1, 15, 16, 17, 50}) {
    const int n1 = n0 == 50 ? 33 : 17;
    const Prompt p0 = random_prompt(rng, c, n0);
    const Prompt p1 = random_prompt(rng, c, n1);
    const std::vector<const Prompt*> both = {&p0, &p1};

    // One token at a time, one thread: the decode path.
    std::vector<std::vector<float>> one(2);
    {
      Runner r(c, kt, 1, flash);
      for (int t = 0; t < std::max(n0, n1); ++t) {
        r.step(both, {{std::min(t, n0), std::min(t + 1, n0)}, {std::min(t, n1), std::min(t + 1, n1)}}, one);
      }
    }
    // Both prompts whole in one ubatch, three threads.
    std::vector<std::vector<float>> whole(2);
    {
      Runner r(c, kt, 3, flash);
      r.step(both, {{0, n0}, {0, n1}}, whole);
    }
    // Ubatches of 7 tokens per sequence, two threads.
    std::vector<std::vector<float>> chunked(2);
    {
      Runner r(c, kt, 2, flash);
      for (int t = 0; t < std::max(n0, n1); t += 7) {
        r.step(both, {{std::min(t, n0), std::min(t + 7, n0)}, {std::min(t, n1), std::min(t + 7, n1)}}, chunked);
      }
    }
    for (int s = 0; s < 2; ++s) {
      const std::string what = where + " prompt " + std::to_string(n0) + " seq " + std::to_string(s);
      expect_same_bits(one[s], whole[s], what + " whole");
      expect_same_bits(one[s], chunked[s], what + " chunked");
      // The cache rounds K/V (q8_0: ~1% per value) and q is converted to the dot type, so
      // the scores move by a few percent of their spread; outputs are averages of
      // unit-variance values.
      const std::vector<double> ref = naive(c, *both[s]);
      double worst = 0.0;
      for (size_t i = 0; i < ref.size(); ++i) worst = std::max(worst, std::abs(ref[i] - whole[s][i]));
      EXPECT_LT(worst, 0.1) << what;
    }
  }
}

// The scalar packed reference, counting its calls: a table with this as its q8_0
// gemm_packed computes the scores exactly as the reference does and shows whether the
// packed path ran at all.
std::atomic<int64_t> g_reference_calls{0};
kernels::GemmPackedFn g_reference = nullptr;
void counting_reference(const void* wp, int64_t k, const void* a, size_t a_row_bytes, int64_t r0, int64_t r1,
                        int64_t m, float* c, int64_t ldc) {
  ++g_reference_calls;
  g_reference(wp, k, a, a_row_bytes, r0, r1, m, c, ldc);
}

// Flash attention with a q8_0 K cache, as attention calls the packed GEMM (panels offset
// by block, ldc the span, a row range ending inside a panel, m from 1 token x 4 heads to
// whole tiles): every table's packed kernel (on an AMX CPU: AMX for m >= 5, VNNI below) gives
// the outputs of the same table with the scalar packed reference in its place; prompts of
// 150 and 70 tokens cover several spans and a short last one, the whole prompt still
// equals one token at a time, and the double-precision softmax agrees loosely. An f16 K
// cache must not take the packed path.
TEST(AttentionPrefill, FlashPackedScoresEqualPackedReference) {
  kernels::Table scalar;
  ASSERT_TRUE(kernels::make_table(kernels::Isa::kScalar, &scalar));
  g_reference = scalar.q8_0.gemm_packed;
  ASSERT_NE(g_reference, nullptr);
  const Case cases[] = {kCases[0], kCases[2], kCases[3]};  // mla_q8_0, gqa_q8_0, gqa_f16_q8_0 (f16 K)
  for (const Case& c : cases) {
    std::mt19937 rng(99);
    const Prompt p0 = random_prompt(rng, c, 150);
    const Prompt p1 = random_prompt(rng, c, 70);
    const std::vector<const Prompt*> both = {&p0, &p1};
    const std::vector<double> naive_out[2] = {naive(c, p0), naive(c, p1)};
    for (const kernels::Table& kt : tables()) {
      kernels::Table ref = kt;
      ref.q8_0.gemm_packed = counting_reference;
      const std::string where = std::string(c.name) + " on " + kernels::isa_name(kt.isa);
      std::vector<std::vector<float>> fast(2), want(2), one(2);
      {
        Runner r(c, kt, 3, true);
        r.step(both, {{0, p0.n}, {0, p1.n}}, fast);
      }
      g_reference_calls = 0;
      {
        Runner r(c, ref, 3, true);
        r.step(both, {{0, p0.n}, {0, p1.n}}, want);
      }
      if (c.type_k == DType::kQ8_0) {
        EXPECT_GT(g_reference_calls.load(), 0) << where << ": the packed path did not run";
      } else {
        EXPECT_EQ(g_reference_calls.load(), 0) << where << ": no packed kernels for this K type";
      }
      {
        Runner r(c, kt, 1, true);
        for (int t = 0; t < p0.n; ++t) r.step(both, {{t, t + 1}, {std::min(t, p1.n), std::min(t + 1, p1.n)}}, one);
      }
      for (int s = 0; s < 2; ++s) {
        expect_same_bits(want[s], fast[s], where + " seq " + std::to_string(s) + " vs packed reference");
        expect_same_bits(one[s], fast[s], where + " seq " + std::to_string(s) + " whole vs one token at a time");
        double worst = 0.0;  // the tolerance of check_case
        for (size_t i = 0; i < naive_out[s].size(); ++i) worst = std::max(worst, std::abs(naive_out[s][i] - fast[s][i]));
        EXPECT_LT(worst, 0.1) << where << " seq " << s;
      }
    }
  }
}

TEST(AttentionPrefill, FlashWholePromptEqualsOneTokenAtATime) {
  for (const kernels::Table& kt : tables()) {
    for (const Case& c : kCases) check_case(c, kt, true);
  }
}

TEST(AttentionPrefill, PlainWholePromptEqualsOneTokenAtATime) {
  for (const kernels::Table& kt : tables()) {
    for (const Case& c : kCases) check_case(c, kt, false);
  }
}

}  // namespace
}  // namespace deepcpu
