// The sampler chain of sampler.h, matching llama.cpp's common_sampler defaults:
// penalties -> top-k -> top-p -> min-p -> temperature -> dist (src/llama-sampling.cpp).
// Owns the candidate buffer and the penalty window; the token loop owns when to call.
#include "sampling/sampler.h"

#include "base/check.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace deepcpu {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// A total order (logit descending, then id ascending) so that partial sorts and ties
// give the same answer on every platform and standard library.
template <typename T>
bool ranks_before(const T& a, const T& b) {
  return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
}

struct IdLogit {
  TokenId id;
  float logit;
};

// max and log(sum(exp(logit - max))) of a row, in double so a 129k-entry sum loses nothing.
void log_sum_exp(const float* logits, int n_vocab, float* max_out, double* log_sum_out) {
  float max = kNegInf;
  for (int i = 0; i < n_vocab; ++i) max = std::max(max, logits[i]);
  double sum = 0.0;
  for (int i = 0; i < n_vocab; ++i) sum += std::exp(double(logits[i]) - double(max));
  *max_out = max;
  *log_sum_out = std::log(sum);
}

}  // namespace

Sampler::Sampler(const SamplingParams& params, int n_vocab)
    : params_(params), n_vocab_(n_vocab), seed_(params.seed) {
  DEEPCPU_CHECK(n_vocab > 0, "sampler needs a positive vocabulary size; got {}", n_vocab);
  cand_.resize(n_vocab_);
  if (penalties_on() && params_.repeat_last_n > 0) {
    // A request may ask for a huge window; reserve a sane amount and let it grow.
    const size_t n = std::min(params_.repeat_last_n, 1 << 16);
    history_.reserve(n);
    window_sorted_.reserve(n);
  }
  seed_rng();
}

Status Sampler::validate(const SamplingParams& p) {
  const auto finite = [](float v) { return std::isfinite(v); };
  if (!finite(p.temperature)) return error("sampling: temperature must be a finite number; got {}", p.temperature);
  if (!finite(p.top_p) || p.top_p < 0.0f || p.top_p > 1.0f)
    return error("sampling: top_p must be in [0, 1]; got {}", p.top_p);
  if (!finite(p.min_p) || p.min_p < 0.0f || p.min_p > 1.0f)
    return error("sampling: min_p must be in [0, 1]; got {}", p.min_p);
  if (!finite(p.repeat_penalty) || p.repeat_penalty <= 0.0f)
    return error("sampling: repeat_penalty must be > 0 (1 turns it off); got {}", p.repeat_penalty);
  if (p.repeat_last_n < -1)
    return error("sampling: repeat_last_n must be >= 0, or -1 for the whole history; got {}",
                 p.repeat_last_n);
  if (!finite(p.presence_penalty)) return error("sampling: presence_penalty must be a finite number; got {}", p.presence_penalty);
  if (!finite(p.frequency_penalty)) return error("sampling: frequency_penalty must be a finite number; got {}", p.frequency_penalty);
  return Status::ok();
}

// llama.cpp seeds its std::mt19937 with a uint32 seed; we do the same so a given seed
// means the same stream in both. A seed above 32 bits goes through seed_seq instead of
// being truncated, so it is not silently the same as its low half.
void Sampler::seed_rng() {
  if (params_.seed == kRandomSeed) {
    std::random_device rd;
    do {
      seed_ = rd();
    } while (seed_ == kRandomSeed);
  } else {
    seed_ = params_.seed;
  }
  if (seed_ <= 0xFFFFFFFFu) {
    rng_.seed(static_cast<uint32_t>(seed_));
  } else {
    std::seed_seq seq{static_cast<uint32_t>(seed_), static_cast<uint32_t>(seed_ >> 32)};
    rng_.seed(seq);
  }
}

void Sampler::reset() {
  history_.clear();
  history_pos_ = 0;
  seed_rng();
}

bool Sampler::penalties_on() const {
  return params_.repeat_last_n != 0 &&
         (params_.repeat_penalty != 1.0f || params_.presence_penalty != 0.0f ||
          params_.frequency_penalty != 0.0f);
}

void Sampler::accept(TokenId token) {
  DEEPCPU_CHECK(token >= 0 && token < n_vocab_, "accepted token {} is outside the vocabulary [0, {})",
                token, n_vocab_);
  if (!penalties_on()) return;  // params never change, so the history would never be read
  const int n = params_.repeat_last_n;
  if (n < 0 || static_cast<int>(history_.size()) < n) {
    history_.push_back(token);
  } else {
    history_[history_pos_] = token;
    history_pos_ = (history_pos_ + 1) % static_cast<size_t>(n);
  }
}

// llama.cpp's penalties sampler: for each distinct token in the window, with count c,
//   logit = logit <= 0 ? logit * repeat : logit / repeat   (CTRL-style, always away from likely)
//   logit -= c * frequency + (c > 0) * presence            (OpenAI semantics)
// Counting sorts a copy of the window (<= repeat_last_n ids): no vocab-sized count table
// per sequence, and no allocation once the scratch has reached the window size.
void Sampler::apply_penalties() {
  window_sorted_.assign(history_.begin(), history_.end());
  std::sort(window_sorted_.begin(), window_sorted_.end());
  for (size_t i = 0; i < window_sorted_.size();) {
    const TokenId id = window_sorted_[i];
    size_t j = i;
    while (j < window_sorted_.size() && window_sorted_[j] == id) ++j;
    const float count = static_cast<float>(j - i);
    float& logit = cand_[id].logit;  // cand_ is still indexed by id here
    if (logit <= 0.0f) {
      logit *= params_.repeat_penalty;
    } else {
      logit /= params_.repeat_penalty;
    }
    logit -= count * params_.frequency_penalty + params_.presence_penalty;
    i = j;
  }
}

// Only the k best are ordered: partial_sort is O(n log k), which for k = 40 over a 129k
// vocabulary is a single pass plus a small heap. With top-k off the whole list is sorted,
// as llama.cpp does, because top-p needs the candidates in order.
void Sampler::top_k(int k) {
  const auto cmp = ranks_before<Candidate>;
  if (k > 0 && static_cast<size_t>(k) < cand_.size()) {
    std::partial_sort(cand_.begin(), cand_.begin() + k, cand_.end(), cmp);
    cand_.resize(k);  // shrinking keeps the capacity: the next token refills it
  } else {
    std::sort(cand_.begin(), cand_.end(), cmp);
  }
}

void Sampler::softmax() {
  const float max = cand_.front().logit;
  double sum = 0.0;
  for (Candidate& c : cand_) {
    c.p = std::exp(c.logit - max);
    sum += c.p;
  }
  const double inv = 1.0 / sum;
  for (Candidate& c : cand_) c.p = static_cast<float>(c.p * inv);
}

// 53 random bits from two mt19937 outputs. std::uniform_real_distribution would do, but
// its algorithm is up to the standard library; this keeps a seed's tokens the same on
// every platform.
double Sampler::uniform01() {
  const uint64_t a = rng_() >> 5;  // 27 bits
  const uint64_t b = rng_() >> 6;  // 26 bits
  return static_cast<double>((a << 26) | b) * (1.0 / 9007199254740992.0);  // / 2^53
}

TokenId Sampler::sample(const float* logits) {
  cand_.resize(n_vocab_);  // within capacity: no allocation
  for (int i = 0; i < n_vocab_; ++i) {
    // A NaN would break the sort's ordering; it can never be a sensible pick either.
    const float x = logits[i];
    cand_[i] = Candidate{i, std::isnan(x) ? kNegInf : x, 0.0f};
  }
  if (penalties_on() && !history_.empty()) apply_penalties();

  // Greedy: every filter below keeps the best token, so argmax of the penalized logits is
  // the whole chain. Strict '>' keeps the lower id on ties. No random draw is consumed.
  if (params_.temperature <= 0.0f) {
    TokenId best = 0;
    for (int i = 1; i < n_vocab_; ++i) {
      if (cand_[i].logit > cand_[best].logit) best = i;
    }
    return best;
  }

  top_k(params_.top_k);  // cand_ is now sorted, best first
  DEEPCPU_CHECK(cand_.front().logit > kNegInf,
                "every logit in the row is -inf or NaN (n_vocab {}); nothing can be sampled",
                n_vocab_);

  // Nucleus: the smallest prefix whose probability reaches top_p (always at least one).
  if (params_.top_p < 1.0f) {
    softmax();
    double cum = 0.0;
    size_t keep = cand_.size();
    for (size_t i = 0; i < cand_.size(); ++i) {
      cum += cand_[i].p;
      if (cum >= params_.top_p) {
        keep = i + 1;
        break;
      }
    }
    cand_.resize(keep);
  }

  // min-p: keep p >= min_p * p_max. Like llama.cpp we test it on logits,
  // logit >= max + log(min_p), which needs no normalization. The best always stays.
  if (params_.min_p > 0.0f) {
    const float min_logit = cand_.front().logit + std::log(params_.min_p);
    size_t keep = 1;
    while (keep < cand_.size() && cand_[keep].logit >= min_logit) ++keep;
    cand_.resize(keep);
  }

  // Temperature last, as in llama.cpp's default order: it reshapes the distribution over
  // the survivors but never changes which tokens survived.
  const float max = cand_.front().logit;
  const float inv_temp = 1.0f / params_.temperature;
  double sum = 0.0;
  for (Candidate& c : cand_) {
    c.p = std::exp((c.logit - max) * inv_temp);
    sum += c.p;
  }

  // One draw per sampled token, even when one candidate is left, so a seed's stream stays
  // aligned with the token count whatever the filters did.
  const double target = uniform01() * sum;
  double cum = 0.0;
  for (const Candidate& c : cand_) {
    cum += c.p;
    if (cum > target) return c.id;
  }
  // Rounding pushed target past the last sum: take the last token with any mass.
  for (size_t i = cand_.size(); i-- > 0;) {
    if (cand_[i].p > 0.0f) return cand_[i].id;
  }
  return cand_.front().id;
}

float Sampler::logprob(const float* logits, int n_vocab, TokenId id) {
  DEEPCPU_CHECK(id >= 0 && id < n_vocab, "logprob of token {} outside the vocabulary [0, {})", id,
                n_vocab);
  float max;
  double log_sum;
  log_sum_exp(logits, n_vocab, &max, &log_sum);
  return static_cast<float>(double(logits[id]) - double(max) - log_sum);
}

// One pass with a heap of the n best seen so far (its top is the worst of them), so the
// only memory is *out itself.
void Sampler::top_logprobs(const float* logits, int n_vocab, int n,
                           std::vector<std::pair<TokenId, float>>* out) {
  out->clear();
  n = std::min(n, n_vocab);
  if (n <= 0) return;
  float max;
  double log_sum;
  log_sum_exp(logits, n_vocab, &max, &log_sum);

  std::vector<std::pair<TokenId, float>>& heap = *out;
  heap.reserve(n);
  const auto cmp = [](const std::pair<TokenId, float>& a, const std::pair<TokenId, float>& b) {
    return ranks_before(IdLogit{a.first, a.second}, IdLogit{b.first, b.second});
  };
  for (int i = 0; i < n_vocab; ++i) {
    const std::pair<TokenId, float> x{i, std::isnan(logits[i]) ? kNegInf : logits[i]};
    if (static_cast<int>(heap.size()) < n) {
      heap.push_back(x);
      std::push_heap(heap.begin(), heap.end(), cmp);
    } else if (cmp(x, heap.front())) {
      std::pop_heap(heap.begin(), heap.end(), cmp);
      heap.back() = x;
      std::push_heap(heap.begin(), heap.end(), cmp);
    }
  }
  std::sort_heap(heap.begin(), heap.end(), cmp);  // best first
  for (auto& [id, value] : heap) {
    value = static_cast<float>(double(value) - double(max) - log_sum);
  }
}

}  // namespace deepcpu
