// Basic ops of every architecture, over row-major [rows x cols] f32 activations.
// matmul converts activations to the weight's dot type (see kernels.h) and splits the
// weight rows over the pool; everything else is cheap and elementwise.
#pragma once

#include "model/forward.h"
#include "model/weights.h"

#include <cstdint>

namespace deepcpu {

// y[t, r] = dot(W row r, x[t]) for t < m; x rows `ldx` floats apart, y rows `ldy` apart.
void matmul(ForwardCtx& ctx, const Weight& w, const float* x, int64_t m, int64_t ldx, float* y, int64_t ldy);
// The common case: dense x [m x w.n_cols] -> new y [m x w.n_rows] from the arena.
float* matmul(ForwardCtx& ctx, const Weight& w, const float* x, int64_t m);

// x[t] <- x[t] / rms(x[t]) * weight (weight may be absent). ggml sums squares in double.
void rms_norm(float* x, int64_t m, int64_t n, int64_t ldx, const Weight& weight, float eps);
void add_bias(float* x, int64_t m, int64_t n, const Weight& bias);  // x[t] += bias
void add(float* x, const float* y, int64_t count);                   // x += y
// gate <- silu(gate) * up, elementwise.
void silu_mul(float* gate, const float* up, int64_t count);
// out[t] = embedding row of tokens[t], dequantized.
void embed(ForwardCtx& ctx, const Weight& table, const TokenId* tokens, int64_t m, float* out);

}  // namespace deepcpu
