// Rotary position embedding as ggml computes it, including YaRN (DeepSeek) and
// per-frequency divisors (Llama-3 `rope_freqs`).
//
// For pair i (dims 2i, 2i+1 in NORM mode; i, i + n_dims/2 in NEOX mode):
//   theta_extrap = pos * freq_base^(-2i/n_dims) / freq_factor[i]
//   theta_interp = freq_scale * theta_extrap
//   YaRN (ext_factor != 0) blends them with a ramp over the "correction dims" and
//   scales the magnitude by attn_factor * (1 + 0.1 ln(1/freq_scale)).
// theta is advanced by repeated multiplication, as ggml does, so rounding matches.
#pragma once

#include <cstdint>

namespace deepcpu {

struct RopeParams {
  int n_dims = 0;            // rotated dims per head (the rest pass through)
  bool neox = false;         // NEOX pairs (i, i + n_dims/2) instead of (2i, 2i+1)
  float freq_base = 10000.0f;
  float freq_scale = 1.0f;   // 1 / scaling factor
  float ext_factor = 0.0f;   // YaRN: 1, otherwise 0
  float attn_factor = 1.0f;
  float beta_fast = 32.0f, beta_slow = 1.0f;
  int n_ctx_orig = 0;
  const float* freq_factors = nullptr;  // n_dims/2 divisors, or null
};

// cos/sin for one position: cs[2i] = cos, cs[2i+1] = sin, i < n_dims/2.
void rope_cos_sin(const RopeParams& p, int32_t pos, float* cs);
// Rotates one head vector in place with cos/sin from rope_cos_sin.
void rope_apply(const RopeParams& p, const float* cs, float* x);

}  // namespace deepcpu
