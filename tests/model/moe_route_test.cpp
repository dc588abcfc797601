// MoE routing (blocks/moe.cpp) against a brute-force restatement of llama.cpp's
// build_moe_ffn rules: sigmoid (V3/R1) or softmax (V2) scores, score-correction bias used
// for choosing only, group-limited top-k, normalisation and scaling of the weights.
#include <gtest/gtest.h>

#include "model/blocks/ffn.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <vector>

namespace deepcpu {
namespace {

struct Expected {
  std::vector<int32_t> experts;
  std::vector<float> weights;
};

// The rules written out the slow way: score every group, keep the best groups, then
// take the best experts among them.
Expected brute_force(const MoeParams& p, const std::vector<float>& logits, const std::vector<float>& bias) {
  const int n = p.n_expert;
  std::vector<double> prob(n);
  if (p.gating == MoeGating::kSigmoid) {
    for (int e = 0; e < n; ++e) prob[e] = 1.0 / (1.0 + std::exp(-static_cast<double>(logits[e])));
  } else {
    double mx = *std::max_element(logits.begin(), logits.end()), sum = 0;
    for (int e = 0; e < n; ++e) sum += prob[e] = std::exp(logits[e] - mx);
    for (double& v : prob) v /= sum;
  }
  std::vector<double> sel(n);
  for (int e = 0; e < n; ++e) sel[e] = prob[e] + (bias.empty() ? 0.0 : bias[e]);
  std::vector<bool> allowed(n, true);
  if (p.n_group > 1) {
    const int per = n / p.n_group;
    std::vector<std::pair<double, int>> gs;
    for (int g = 0; g < p.n_group; ++g) {
      std::vector<double> v(sel.begin() + g * per, sel.begin() + (g + 1) * per);
      std::sort(v.rbegin(), v.rend());
      gs.push_back({v[0] + v[1], g});
    }
    std::sort(gs.begin(), gs.end(), [](auto a, auto b) { return a.first > b.first; });
    std::fill(allowed.begin(), allowed.end(), false);
    for (int r = 0; r < p.n_group_used; ++r)
      for (int i = 0; i < per; ++i) allowed[gs[r].second * per + i] = true;
  }
  std::vector<int> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
    if (allowed[a] != allowed[b]) return static_cast<bool>(allowed[a]);
    return sel[a] > sel[b];
  });
  Expected ex;
  double sum = 0;
  for (int k = 0; k < p.n_expert_used; ++k) {
    ex.experts.push_back(order[k]);
    sum += prob[order[k]];
  }
  for (int k = 0; k < p.n_expert_used; ++k) {
    const double w = p.norm_weights ? prob[order[k]] / sum : prob[order[k]];
    ex.weights.push_back(static_cast<float>(w * p.weights_scale));
  }
  return ex;
}

void check_many(const MoeParams& p, bool with_bias) {
  std::mt19937 rng(1234);
  std::normal_distribution<float> nd(0.0f, 1.5f);
  std::vector<float> work(2 * p.n_expert);
  for (int trial = 0; trial < 500; ++trial) {
    std::vector<float> logits(p.n_expert), bias;
    for (float& v : logits) v = nd(rng);
    if (with_bias) {
      bias.resize(p.n_expert);
      for (float& v : bias) v = 0.3f * nd(rng);
    }
    std::vector<int32_t> experts(p.n_expert_used);
    std::vector<float> weights(p.n_expert_used);
    moe_route(p, logits.data(), with_bias ? bias.data() : nullptr, experts.data(), weights.data(), work.data());
    const Expected ex = brute_force(p, logits, bias);
    ASSERT_EQ(experts, ex.experts) << "trial " << trial;
    for (int k = 0; k < p.n_expert_used; ++k) {
      // float vs double softmax/sigmoid: a few ulps.
      EXPECT_NEAR(weights[k], ex.weights[k], 1e-5f * std::max(1.0f, std::fabs(ex.weights[k]))) << "trial " << trial;
    }
  }
}

TEST(MoeRoute, DeepSeekV3SigmoidBiasGroups) {
  // ds3-tiny's routing: 16 experts in 4 groups of 4, best 2 groups, 4 experts, normalised x 2.5.
  MoeParams p;
  p.n_expert = 16;
  p.n_expert_used = 4;
  p.n_group = 4;
  p.n_group_used = 2;
  p.gating = MoeGating::kSigmoid;
  p.norm_weights = true;
  p.weights_scale = 2.5f;
  check_many(p, /*with_bias=*/true);
}

TEST(MoeRoute, DeepSeekV2SoftmaxNoGroups) {
  // V2: softmax scores, no bias, no groups, weights not normalised, scaled.
  MoeParams p;
  p.n_expert = 64;
  p.n_expert_used = 6;
  p.gating = MoeGating::kSoftmax;
  p.norm_weights = false;
  p.weights_scale = 16.0f;
  check_many(p, /*with_bias=*/false);
}

TEST(MoeRoute, BiasChoosesButDoesNotWeigh) {
  // A huge bias on expert 7 forces its choice, yet its weight is its unbiased score.
  MoeParams p;
  p.n_expert = 8;
  p.n_expert_used = 2;
  p.gating = MoeGating::kSigmoid;
  std::vector<float> logits = {2, 1, 0, 0, 0, 0, 0, -3};
  std::vector<float> bias(8, 0.0f);
  bias[7] = 10.0f;
  std::vector<int32_t> experts(2);
  std::vector<float> weights(2), work(16);
  moe_route(p, logits.data(), bias.data(), experts.data(), weights.data(), work.data());
  EXPECT_EQ(experts[0], 7);
  EXPECT_EQ(experts[1], 0);
  EXPECT_NEAR(weights[0], 1.0f / (1.0f + std::exp(3.0f)), 1e-6f);
  EXPECT_NEAR(weights[1], 1.0f / (1.0f + std::exp(-2.0f)), 1e-6f);
}

}  // namespace
}  // namespace deepcpu
