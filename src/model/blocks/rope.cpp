#include "model/blocks/rope.h"

#include <algorithm>
#include <cmath>

namespace deepcpu {

namespace {

float yarn_corr_dim(int n_dims, int n_ctx_orig, float n_rot, float base) {
  return n_dims * std::log(n_ctx_orig / (n_rot * 2 * static_cast<float>(M_PI))) / (2 * std::log(base));
}

float yarn_ramp(float low, float high, int i0) {
  const float y = (i0 / 2 - low) / std::max(0.001f, high - low);
  return 1 - std::min(1.0f, std::max(0.0f, y));
}

}  // namespace

void rope_cos_sin(const RopeParams& p, int32_t pos, float* cs) {
  float corr[2] = {0, 0};
  if (p.ext_factor != 0.0f) {
    const float start = std::floor(yarn_corr_dim(p.n_dims, p.n_ctx_orig, p.beta_fast, p.freq_base));
    const float end = std::ceil(yarn_corr_dim(p.n_dims, p.n_ctx_orig, p.beta_slow, p.freq_base));
    corr[0] = std::max(0.0f, start);
    corr[1] = std::min(static_cast<float>(p.n_dims - 1), end);
  }
  const float theta_scale = std::pow(p.freq_base, -2.0f / p.n_dims);
  float theta = static_cast<float>(pos);
  for (int i0 = 0; i0 < p.n_dims; i0 += 2) {
    const float ff = p.freq_factors ? p.freq_factors[i0 / 2] : 1.0f;
    const float theta_extrap = theta / ff;
    const float theta_interp = p.freq_scale * theta_extrap;
    float t = theta_interp;
    float mscale = p.attn_factor;
    if (p.ext_factor != 0.0f) {
      const float ramp_mix = yarn_ramp(corr[0], corr[1], i0) * p.ext_factor;
      t = theta_interp * (1 - ramp_mix) + theta_extrap * ramp_mix;
      mscale *= 1.0f + 0.1f * std::log(1.0f / p.freq_scale);
    }
    cs[i0] = std::cos(t) * mscale;
    cs[i0 + 1] = std::sin(t) * mscale;
    theta *= theta_scale;
  }
}

void rope_apply(const RopeParams& p, const float* cs, float* x) {
  const int half = p.n_dims / 2;
  for (int i0 = 0; i0 < p.n_dims; i0 += 2) {
    const float c = cs[i0], s = cs[i0 + 1];
    const int a = p.neox ? i0 / 2 : i0;
    const int b = p.neox ? i0 / 2 + half : i0 + 1;
    const float x0 = x[a], x1 = x[b];
    x[a] = x0 * c - x1 * s;
    x[b] = x0 * s + x1 * c;
  }
}

}  // namespace deepcpu
