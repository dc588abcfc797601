// SVE kernels. Only this folder is compiled with +sve (cmake/isa.cmake). So far one
// kernel: the Q8_0 x Q8_0 gemm with svdot, written vector-length agnostic; everything
// else stays on the NEON entries fill_neon installed first.
//
// Batch invariance: each output element owns one svfloat32_t accumulator; per block,
// svdot sums the 32 byte products into VL/32 int32 lanes (exact), which are converted to
// fp32 and fma'd with d_w * d_a. The lane layout depends only on k and the machine's
// vector length, never on the tile; svaddv reduces it in one fixed order.
// DEEPCPU_ISA_GUARD: the top-level GLOB_RECURSE of src/kernels/*.cpp also picks this file up
// on other architectures; there it compiles to nothing (dispatch never calls it).
#if defined(__aarch64__)
#include <arm_sve.h>


#include "base/fp16.h"
#include "kernels/kernels.h"

namespace deepcpu::kernels {

namespace {

// SVE types are sizeless and cannot live in arrays, so there is no NR x NT tile template
// here yet: each output is one dot over the row (TODO(#4): hand-unrolled 2x2 tiles).
// A block's 32 quant bytes take ceil(32 / VL bytes) predicated loads (2 at 128-bit SVE,
// 1 from 256-bit up; lanes past byte 32 are zero).
float dot_q8_0_sve(const BlockQ8_0* w, const BlockQ8_0* a, int64_t nb) {
  const int64_t vl_bytes = static_cast<int64_t>(svcntb());
  const svbool_t all32 = svptrue_b32();
  svfloat32_t acc = svdup_n_f32(0.0f);
  for (int64_t ib = 0; ib < nb; ++ib) {
    svint32_t isum = svdup_n_s32(0);
    for (int64_t off = 0; off < kQ8_0Block; off += vl_bytes) {
      const svbool_t pg = svwhilelt_b8(off, static_cast<int64_t>(kQ8_0Block));
      isum = svdot_s32(isum, svld1_s8(pg, w[ib].qs + off), svld1_s8(pg, a[ib].qs + off));
    }
    const float s = fp16_to_f32(w[ib].d) * fp16_to_f32(a[ib].d);
    acc = svmla_n_f32_x(all32, acc, svcvt_f32_s32_x(all32, isum), s);
  }
  return svaddv_f32(all32, acc);
}

void gemm_q8_0_sve(const void* w, size_t wrb, const void* a, size_t arb, int64_t k, int64_t r0, int64_t r1, int64_t m,
                   float* c, int64_t ldc) {
  const auto* wb = static_cast<const uint8_t*>(w);
  const auto* ab = static_cast<const uint8_t*>(a);
  for (int64_t ir = r0; ir < r1; ++ir)
    for (int64_t it = 0; it < m; ++it)
      c[it * ldc + ir] = dot_q8_0_sve(reinterpret_cast<const BlockQ8_0*>(wb + ir * wrb),
                                      reinterpret_cast<const BlockQ8_0*>(ab + it * arb), k / kQ8_0Block);
}

}  // namespace

void fill_sve(Table& t) {
  t.isa = Isa::kSve;
  t.q8_0.gemm = gemm_q8_0_sve;
}

}  // namespace deepcpu::kernels

#endif  // defined(__aarch64__)
