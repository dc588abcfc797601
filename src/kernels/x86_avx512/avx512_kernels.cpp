// avx512 kernels. Only this folder is compiled with the avx512 flags (cmake/isa.cmake).
// Not written yet: fill_avx512 keeps the scalar entries. TODO(#4): int8/f16/bf16 SIMD gemm.
#include "kernels/kernels.h"

namespace deepcpu::kernels {

void fill_avx512(Table& t) { t.isa = Isa::kAvx512; }

}  // namespace deepcpu::kernels
