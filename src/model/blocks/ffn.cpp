#include "model/blocks/ffn.h"

#include "model/blocks/ops.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

namespace deepcpu {

float* ffn_swiglu(ForwardCtx& ctx, const FfnWeights& w, const float* x, int64_t m) {
  float* g = matmul(ctx, w.gate, x, m);
  const float* u = matmul(ctx, w.up, x, m);
  silu_mul(g, u, m * w.gate.n_rows);
  return matmul(ctx, w.down, g, m);
}

}  // namespace deepcpu
