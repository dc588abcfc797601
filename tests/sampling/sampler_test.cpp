// Sampler: greedy and filter semantics (llama.cpp's chain), penalties, seeding and the
// logprob helpers. Statistical checks use fixed seeds, so they are deterministic; the
// bounds quoted are the margins the seeds were chosen not to need.
#include <gtest/gtest.h>

#include "sampling/sampler.h"

#include <cmath>
#include <map>
#include <random>
#include <set>
#include <vector>

namespace deepcpu {
namespace {

// Only the stage under test: no top-k, top-p or min-p, fixed seed.
SamplingParams plain(float temperature, uint64_t seed = 1234) {
  SamplingParams p;
  p.temperature = temperature;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.min_p = 0.0f;
  p.seed = seed;
  return p;
}

std::vector<float> log_of(const std::vector<double>& probs) {
  std::vector<float> out;
  for (double p : probs) out.push_back(static_cast<float>(std::log(p)));
  return out;
}

std::vector<float> random_logits(int n_vocab, uint32_t gen_seed, float stddev = 3.0f) {
  std::mt19937 gen(gen_seed);
  std::normal_distribution<float> dist(0.0f, stddev);
  std::vector<float> out(n_vocab);
  for (float& x : out) x = dist(gen);
  return out;
}

std::vector<double> softmax(const std::vector<float>& logits, double temperature = 1.0) {
  double max = -INFINITY;
  for (float l : logits) max = std::max(max, double(l));
  std::vector<double> p;
  double sum = 0.0;
  for (float l : logits) {
    p.push_back(std::exp((double(l) - max) / temperature));
    sum += p.back();
  }
  for (double& x : p) x /= sum;
  return p;
}

// How often each token comes out when a fresh sampler with seed s draws once, for
// s in [1, n_seeds]: the set a filter allows, seen across many random streams.
std::map<TokenId, int> draws_over_seeds(SamplingParams params, const std::vector<float>& logits,
                                        int n_seeds) {
  std::map<TokenId, int> counts;
  for (int s = 1; s <= n_seeds; ++s) {
    params.seed = static_cast<uint64_t>(s);
    Sampler sampler(params, static_cast<int>(logits.size()));
    ++counts[sampler.sample(logits.data())];
  }
  return counts;
}

std::set<TokenId> keys(const std::map<TokenId, int>& m) {
  std::set<TokenId> out;
  for (const auto& [id, n] : m) out.insert(id);
  return out;
}

TokenId greedy(SamplingParams params, const std::vector<float>& logits,
               const std::vector<TokenId>& history) {
  params.temperature = 0.0f;
  Sampler s(params, static_cast<int>(logits.size()));
  for (TokenId t : history) s.accept(t);
  return s.sample(logits.data());
}

// --- greedy ------------------------------------------------------------------------

TEST(SamplerGreedy, PicksArgmax) {
  const std::vector<float> logits = random_logits(5000, 7);
  const TokenId expected =
      static_cast<TokenId>(std::max_element(logits.begin(), logits.end()) - logits.begin());
  for (float temp : {0.0f, -1.0f}) {
    for (uint64_t seed : {1u, 2u, 99u}) {
      SamplingParams p;  // default filters on: greedy must ignore them
      p.temperature = temp;
      p.seed = seed;
      Sampler s(p, 5000);
      EXPECT_EQ(s.sample(logits.data()), expected) << "temp " << temp << " seed " << seed;
    }
  }
}

TEST(SamplerGreedy, TiesGoToLowerId) {
  const std::vector<float> logits = {1.0f, 3.0f, 0.0f, 3.0f, 3.0f};
  Sampler s(plain(0.0f), 5);
  EXPECT_EQ(s.sample(logits.data()), 1);
  const std::vector<float> last_wins = {-2.0f, -2.0f, -1.0f};
  Sampler s2(plain(0.0f), 3);
  EXPECT_EQ(s2.sample(last_wins.data()), 2);
}

TEST(SamplerGreedy, NanLogitIsNeverPicked) {
  const std::vector<float> logits = {0.5f, NAN, 0.25f};
  Sampler s(plain(0.0f), 3);
  EXPECT_EQ(s.sample(logits.data()), 0);
  Sampler s1(plain(1.0f), 3);
  for (int i = 0; i < 200; ++i) EXPECT_NE(s1.sample(logits.data()), 1);
}

// --- top-k -------------------------------------------------------------------------

TEST(SamplerTopK, OneEqualsGreedyAtAnyTemperature) {
  std::vector<float> logits = random_logits(1000, 3);
  const float top = *std::max_element(logits.begin(), logits.end());
  logits[523] = top + 1.0f;
  logits[17] = top + 1.0f;  // a tie at the top: both must go to the lower id
  const TokenId g = greedy(plain(0.0f), logits, {});
  ASSERT_EQ(g, 17);
  for (float temp : {0.01f, 0.5f, 1.0f, 2.0f, 100.0f}) {
    SamplingParams p;
    p.temperature = temp;
    p.top_k = 1;
    const auto counts = draws_over_seeds(p, logits, 50);
    EXPECT_EQ(keys(counts), std::set<TokenId>{g}) << "temperature " << temp;
  }
}

TEST(SamplerTopK, TiesAtTheCutKeepTheLowerIds) {
  // Five tokens tie for second place; top_k = 3 keeps the best and the two lowest ids of
  // the tie, whatever order partial_sort met them in.
  const std::vector<float> logits = {3.0f, 3.0f, 3.0f, 5.0f, 3.0f, 3.0f, 1.0f};
  SamplingParams p = plain(1.0f);
  p.top_k = 3;
  EXPECT_EQ(keys(draws_over_seeds(p, logits, 300)), (std::set<TokenId>{0, 1, 3}));
}

TEST(SamplerTopK, FullVocabularyDrawsOnlyFromTheKBest) {
  // The DeepSeek-V3 vocabulary size, where top-k takes the partial-sort path.
  const int n_vocab = 129280;
  const int k = 40;
  const std::vector<float> logits = random_logits(n_vocab, 11, 1.0f);
  std::vector<TokenId> order(n_vocab);
  for (int i = 0; i < n_vocab; ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](TokenId a, TokenId b) { return logits[a] > logits[b]; });
  const std::set<TokenId> best(order.begin(), order.begin() + k);

  SamplingParams p = plain(1.5f, 5);
  p.top_k = k;
  Sampler s(p, n_vocab);
  std::set<TokenId> seen;
  for (int i = 0; i < 2000; ++i) {
    const TokenId t = s.sample(logits.data());
    ASSERT_TRUE(best.count(t)) << "token " << t << " is not among the " << k << " best";
    seen.insert(t);
  }
  // The 40 best lie within about one logit of each other, flattened further by
  // temperature 1.5, so 2000 draws reach every one of them.
  EXPECT_EQ(seen, best);
}

// --- top-p and min-p --------------------------------------------------------------

TEST(SamplerTopP, KeepsTheSmallestPrefixReachingP) {
  const std::vector<float> logits = log_of({0.4, 0.3, 0.2, 0.06, 0.04});
  const std::vector<std::pair<float, std::set<TokenId>>> cases = {
      {0.0f, {0}},           // keeps at least one
      {0.35f, {0}},          // 0.4 >= 0.35
      {0.65f, {0, 1}},       // 0.4 < 0.65 <= 0.7
      {0.85f, {0, 1, 2}},    // 0.7 < 0.85 <= 0.9
      {0.95f, {0, 1, 2, 3}}, // 0.9 < 0.95 <= 0.96
      {1.0f, {0, 1, 2, 3, 4}},
  };
  for (const auto& [top_p, allowed] : cases) {
    SamplingParams p = plain(1.0f);
    p.top_p = top_p;
    EXPECT_EQ(keys(draws_over_seeds(p, logits, 1000)), allowed) << "top_p " << top_p;
  }
}

TEST(SamplerTopP, TemperatureComesAfterTheCut) {
  // llama.cpp's default order applies temperature last: a hot temperature spreads mass
  // over the survivors but cannot bring back a token top-p removed.
  const std::vector<float> logits = log_of({0.4, 0.3, 0.2, 0.06, 0.04});
  SamplingParams p = plain(50.0f);
  p.top_p = 0.65f;
  const auto counts = draws_over_seeds(p, logits, 2000);
  EXPECT_EQ(keys(counts), (std::set<TokenId>{0, 1}));
  // At temperature 50 the two survivors are nearly equally likely (0.503 vs 0.497):
  // 2000 draws keep each within 1000 +- 150 (6.7 sigma).
  EXPECT_NEAR(counts.at(0), 1000, 150);
}

TEST(SamplerTopP, SeesOnlyWhatTopKKept) {
  // top-p renormalizes over the top-k survivors, as llama.cpp's chain does.
  const std::vector<float> logits = log_of({0.3, 0.25, 0.2, 0.15, 0.1});
  SamplingParams p = plain(1.0f);
  p.top_p = 0.5f;
  EXPECT_EQ(keys(draws_over_seeds(p, logits, 500)), (std::set<TokenId>{0, 1}));
  p.top_k = 2;  // survivors 0.3/0.55 = 0.545 and 0.455: the first alone reaches 0.5
  EXPECT_EQ(keys(draws_over_seeds(p, logits, 500)), std::set<TokenId>{0});
}

TEST(SamplerMinP, KeepsTokensAboveFractionOfTheBest) {
  const std::vector<float> logits = log_of({0.5, 0.25, 0.15, 0.06, 0.04});
  const std::vector<std::pair<float, std::set<TokenId>>> cases = {
      {0.05f, {0, 1, 2, 3, 4}},  // threshold 0.025: all five stay
      {0.1f, {0, 1, 2, 3}},   // threshold 0.05: 0.06 stays, 0.04 goes
      {0.25f, {0, 1, 2}},     // threshold 0.125
      {0.4f, {0, 1}},         // threshold 0.2
      {1.0f, {0}},            // only the best itself
  };
  for (const auto& [min_p, allowed] : cases) {
    SamplingParams p = plain(1.0f);
    p.min_p = min_p;
    EXPECT_EQ(keys(draws_over_seeds(p, logits, 1000)), allowed) << "min_p " << min_p;
    p.temperature = 20.0f;  // also decided before temperature
    EXPECT_EQ(keys(draws_over_seeds(p, logits, 1000)), allowed) << "min_p " << min_p << " hot";
  }
}

// --- temperature -------------------------------------------------------------------

TEST(SamplerTemperature, SmallTemperatureGivesArgmax) {
  const std::vector<float> logits = {1.0f, 1.1f, 0.9f, 1.05f};
  // At T = 1e-3 the runner-up is exp(-50) times less likely than token 1.
  EXPECT_EQ(keys(draws_over_seeds(plain(1e-3f), logits, 1000)), std::set<TokenId>{1});
}

TEST(SamplerTemperature, FrequenciesMatchSoftmax) {
  const std::vector<float> logits = {0.5f, -1.0f, 2.0f, 0.0f, 1.2f, -0.3f};
  const int n = 100000;
  for (double temp : {1.0, 2.0, 0.5}) {
    Sampler s(plain(static_cast<float>(temp), 42), 6);
    std::vector<int> counts(6, 0);
    for (int i = 0; i < n; ++i) ++counts[s.sample(logits.data())];
    const std::vector<double> p = softmax(logits, temp);
    for (int id = 0; id < 6; ++id) {
      // Binomial count: 5 standard deviations, a bound a correct sampler misses with
      // probability ~6e-7 per token (and, with the seed fixed, never).
      const double sigma = std::sqrt(p[id] * (1.0 - p[id]) / n);
      EXPECT_NEAR(counts[id] / double(n), p[id], 5.0 * sigma + 1e-9)
          << "token " << id << " temperature " << temp;
    }
  }
}

// --- penalties (observed through the greedy pick flipping) ---------------------------

TEST(SamplerPenalties, RepeatDividesPositiveLogits) {
  SamplingParams p = plain(0.0f);
  const std::vector<float> logits = {2.0f, 1.8f, 0.0f};
  p.repeat_penalty = 1.2f;  // 2.0 / 1.2 = 1.667 < 1.8
  EXPECT_EQ(greedy(p, logits, {}), 0);
  EXPECT_EQ(greedy(p, logits, {0}), 1);
  p.repeat_penalty = 1.05f;  // 2.0 / 1.05 = 1.905 > 1.8: a divide, not a subtract of 0.05*2
  EXPECT_EQ(greedy(p, logits, {0}), 0);
  p.repeat_penalty = 1.2f;  // a count of three is penalized once, like one
  EXPECT_EQ(greedy(p, {2.0f, 1.6f}, {0, 0, 0}), 0);  // 1.667 > 1.6
}

TEST(SamplerPenalties, RepeatMultipliesNonPositiveLogits) {
  SamplingParams p = plain(0.0f);
  p.repeat_penalty = 1.2f;
  // -1.0 * 1.2 = -1.2 < -1.1; dividing would have given -0.833 and kept token 0.
  EXPECT_EQ(greedy(p, {-1.0f, -1.1f}, {0}), 1);
  EXPECT_EQ(greedy(p, {-1.0f, -1.1f}, {}), 0);
  // A penalty below 1 rewards: -1.0 * 0.8 = -0.8 beats -0.9.
  p.repeat_penalty = 0.8f;
  EXPECT_EQ(greedy(p, {-0.9f, -1.0f}, {1}), 1);
}

TEST(SamplerPenalties, PresenceIsPerTokenFrequencyPerOccurrence) {
  const std::vector<float> logits = {1.0f, 0.8f};
  SamplingParams p = plain(0.0f);
  p.presence_penalty = 0.1f;  // 1.0 - 0.1 = 0.9 > 0.8, however often token 0 appeared
  EXPECT_EQ(greedy(p, logits, {0, 0, 0}), 0);
  p.presence_penalty = 0.3f;  // 0.7 < 0.8
  EXPECT_EQ(greedy(p, logits, {0}), 1);

  p = plain(0.0f);
  p.frequency_penalty = 0.1f;
  EXPECT_EQ(greedy(p, logits, {0}), 0);        // 0.9
  EXPECT_EQ(greedy(p, logits, {0, 0, 0}), 1);  // 0.7
  EXPECT_EQ(greedy(p, logits, {0, 1, 0, 1, 0, 1}), 0);  // both lose 0.3

  // A negative presence penalty encourages repeats (OpenAI allows [-2, 2]).
  p = plain(0.0f);
  p.presence_penalty = -0.5f;
  EXPECT_EQ(greedy(p, logits, {1}), 1);
}

TEST(SamplerPenalties, RepeatComesBeforePresence) {
  // llama.cpp: (2.0 / 2) - 0.5 = 0.5 < 0.6; the other order, (2.0 - 0.5) / 2 = 0.75, would
  // keep token 0.
  SamplingParams p = plain(0.0f);
  p.repeat_penalty = 2.0f;
  p.presence_penalty = 0.5f;
  EXPECT_EQ(greedy(p, {2.0f, 0.6f}, {0}), 1);
}

TEST(SamplerPenalties, OnlyTheLastNTokensCount) {
  const std::vector<float> logits = {1.0f, 0.8f, -5.0f};
  SamplingParams p = plain(0.0f);
  p.frequency_penalty = 0.1f;
  p.repeat_last_n = 4;
  EXPECT_EQ(greedy(p, logits, {0, 0, 0}), 1);             // 0.7
  EXPECT_EQ(greedy(p, logits, {0, 0, 0, 2, 2}), 0);       // two of the zeros left the window
  EXPECT_EQ(greedy(p, logits, {2, 2, 2, 2, 2, 0, 0, 0}), 1);  // the ring wrapped
  EXPECT_EQ(greedy(p, logits, {0, 0, 0, 2, 2, 2, 2}), 0);  // gone entirely

  p.repeat_last_n = -1;  // the whole history
  std::vector<TokenId> long_history(500, 2);
  long_history[0] = long_history[1] = long_history[2] = 0;
  EXPECT_EQ(greedy(p, logits, long_history), 1);

  p.repeat_last_n = 0;  // llama.cpp: a window of 0 turns the penalties off
  EXPECT_EQ(greedy(p, logits, {0, 0, 0, 0, 0}), 0);
}

TEST(SamplerPenalties, ApplyWhenSampling) {
  // The penalized logits feed the whole chain, not just greedy: with top_k = 1 the
  // penalized favourite can never come out.
  SamplingParams p = plain(1.0f);
  p.top_k = 1;
  p.repeat_penalty = 1.5f;
  Sampler s(p, 3);
  s.accept(0);
  const std::vector<float> logits = {2.0f, 1.5f, 0.0f};  // 2.0 / 1.5 = 1.33 < 1.5
  for (int i = 0; i < 100; ++i) EXPECT_EQ(s.sample(logits.data()), 1);
}

// --- seeding and reset ---------------------------------------------------------------

// Feeds a varying logits sequence, accepting each sampled token, with the default chain
// plus penalties on the real vocabulary size.
std::vector<TokenId> run_sequence(Sampler& s, int n_tokens) {
  const int n_vocab = 129280;
  std::vector<TokenId> out;
  for (int it = 0; it < n_tokens; ++it) {
    const std::vector<float> logits = random_logits(n_vocab, 1000 + it, 2.0f);
    const TokenId t = s.sample(logits.data());
    s.accept(t);
    out.push_back(t);
  }
  return out;
}

SamplingParams seeded_default(uint64_t seed) {
  SamplingParams p;
  p.temperature = 1.5f;  // hot, so seeds visibly diverge
  p.repeat_penalty = 1.1f;
  p.frequency_penalty = 0.2f;
  p.seed = seed;
  return p;
}

TEST(SamplerSeed, SameSeedSameTokensDifferentSeedDifferentTokens) {
  Sampler a(seeded_default(7), 129280), b(seeded_default(7), 129280), c(seeded_default(8), 129280);
  EXPECT_EQ(a.seed(), 7u);
  const std::vector<TokenId> ta = run_sequence(a, 30);
  EXPECT_EQ(run_sequence(b, 30), ta);
  EXPECT_NE(run_sequence(c, 30), ta);
}

TEST(SamplerSeed, SeedsAbove32BitsAreNotTruncated) {
  const std::vector<float> logits(64, 0.0f);  // uniform over 64 tokens
  const auto draw = [&](uint64_t seed) {
    Sampler s(plain(1.0f, seed), 64);
    std::vector<TokenId> out;
    for (int i = 0; i < 32; ++i) out.push_back(s.sample(logits.data()));
    return out;
  };
  EXPECT_EQ(draw(5), draw(5));
  EXPECT_NE(draw(5), draw((uint64_t{1} << 32) | 5));
}

TEST(SamplerSeed, RandomSeedIsReportedAndReplays) {
  Sampler a(seeded_default(kRandomSeed), 129280);
  EXPECT_NE(a.seed(), kRandomSeed);
  const std::vector<TokenId> ta = run_sequence(a, 10);
  Sampler b(seeded_default(a.seed()), 129280);
  EXPECT_EQ(run_sequence(b, 10), ta);
}

TEST(SamplerSeed, ResetReplaysAndForgetsHistory) {
  Sampler s(seeded_default(21), 129280);
  const std::vector<TokenId> first = run_sequence(s, 20);
  s.reset();
  EXPECT_EQ(s.seed(), 21u);
  EXPECT_EQ(run_sequence(s, 20), first);

  SamplingParams p = plain(0.0f);
  p.repeat_penalty = 2.0f;
  Sampler g(p, 2);
  const std::vector<float> logits = {1.0f, 0.8f};
  g.accept(0);
  EXPECT_EQ(g.sample(logits.data()), 1);
  g.reset();
  EXPECT_EQ(g.sample(logits.data()), 0);
}

// --- logprobs ------------------------------------------------------------------------

TEST(SamplerLogprob, MatchesDirectLogSoftmax) {
  std::vector<float> logits = random_logits(32000, 5, 4.0f);
  logits[100] = 30.0f;  // one dominant token: its logprob is close to 0
  long double max = -INFINITY, sum = 0.0L;
  for (float l : logits) max = std::max<long double>(max, l);
  for (float l : logits) sum += std::exp((long double)l - max);
  for (TokenId id : {0, 100, 31999, 12345}) {
    const double expected = double((long double)logits[id] - max - std::log(sum));
    // float result of a double computation: relative float rounding of the answer.
    EXPECT_NEAR(Sampler::logprob(logits.data(), 32000, id), expected,
                1e-6 * std::max(1.0, std::fabs(expected)))
        << "token " << id;
  }
  // Shifting every logit leaves log-softmax unchanged, even far from zero.
  std::vector<float> shifted = {1000.0f, 1001.0f, 999.0f};
  EXPECT_NEAR(Sampler::logprob(shifted.data(), 3, 1), std::log(std::exp(1.0) / (std::exp(1.0) + 1 + std::exp(-1.0))), 1e-6);
}

TEST(SamplerLogprob, TopLogprobsAreTheBestInOrder) {
  const std::vector<float> logits = {0.1f, 2.0f, -1.0f, 2.0f, 0.5f, 3.0f, -0.2f};
  std::vector<std::pair<TokenId, float>> top = {{99, 9.0f}};  // replaced, not appended to
  Sampler::top_logprobs(logits.data(), 7, 4, &top);
  ASSERT_EQ(top.size(), 4u);
  const std::vector<TokenId> ids = {5, 1, 3, 4};  // the 2.0 tie goes to the lower id first
  double probs_sum = 0.0;
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(top[i].first, ids[i]);
    EXPECT_FLOAT_EQ(top[i].second, Sampler::logprob(logits.data(), 7, ids[i]));
    probs_sum += std::exp(top[i].second);
  }
  EXPECT_LT(probs_sum, 1.0);

  Sampler::top_logprobs(logits.data(), 7, 100, &top);  // more than the vocabulary
  ASSERT_EQ(top.size(), 7u);
  double all = 0.0;
  for (size_t i = 0; i < top.size(); ++i) {
    all += std::exp(double(top[i].second));
    if (i > 0) {
      EXPECT_GE(top[i - 1].second, top[i].second);
    }
  }
  EXPECT_NEAR(all, 1.0, 1e-6);

  Sampler::top_logprobs(logits.data(), 7, 0, &top);
  EXPECT_TRUE(top.empty());
}

TEST(SamplerLogprob, TopLogprobsTiesAtTheCutKeepTheLowerIds) {
  const std::vector<float> logits = {1.0f, 1.0f, 1.0f, 4.0f, 1.0f, 1.0f, 2.0f, 1.0f};
  std::vector<std::pair<TokenId, float>> top;
  Sampler::top_logprobs(logits.data(), 8, 4, &top);
  ASSERT_EQ(top.size(), 4u);
  EXPECT_EQ(top[0].first, 3);
  EXPECT_EQ(top[1].first, 6);
  EXPECT_EQ(top[2].first, 0);
  EXPECT_EQ(top[3].first, 1);
}

TEST(SamplerLogprob, TopLogprobsOnLargeVocabularyMatchFullSort) {
  const int n_vocab = 129280;
  const std::vector<float> logits = random_logits(n_vocab, 9);
  std::vector<TokenId> order(n_vocab);
  for (int i = 0; i < n_vocab; ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](TokenId a, TokenId b) {
    return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
  });
  std::vector<std::pair<TokenId, float>> top;
  Sampler::top_logprobs(logits.data(), n_vocab, 20, &top);
  ASSERT_EQ(top.size(), 20u);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(top[i].first, order[i]) << "rank " << i;
}

// --- validation ----------------------------------------------------------------------

TEST(SamplerValidate, NamesTheBadField) {
  EXPECT_TRUE(Sampler::validate(SamplingParams{}).is_ok());
  SamplingParams p;
  p.temperature = NAN;
  EXPECT_NE(Sampler::validate(p).message().find("temperature"), std::string::npos);
  p = SamplingParams{};
  p.top_p = 1.5f;
  EXPECT_NE(Sampler::validate(p).message().find("top_p"), std::string::npos);
  p = SamplingParams{};
  p.min_p = -0.1f;
  EXPECT_NE(Sampler::validate(p).message().find("min_p"), std::string::npos);
  p = SamplingParams{};
  p.repeat_penalty = 0.0f;
  EXPECT_NE(Sampler::validate(p).message().find("repeat_penalty"), std::string::npos);
  p = SamplingParams{};
  p.repeat_last_n = -2;
  EXPECT_NE(Sampler::validate(p).message().find("repeat_last_n"), std::string::npos);
  p = SamplingParams{};
  p.frequency_penalty = INFINITY;
  EXPECT_NE(Sampler::validate(p).message().find("frequency_penalty"), std::string::npos);
}

}  // namespace
}  // namespace deepcpu
