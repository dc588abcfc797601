// avx2 kernels. Only this folder is compiled with the avx2 flags (cmake/isa.cmake).
// Not written yet: fill_avx2 keeps the scalar entries. TODO(#4): int8/f16/bf16 SIMD gemm.
#include "kernels/kernels.h"

namespace deepcpu::kernels {

void fill_avx2(Table& t) { t.isa = Isa::kAvx2; }

}  // namespace deepcpu::kernels
