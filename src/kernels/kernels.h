// The kernel table everyone calls. Filled once at start-up from CPU features:
// scalar/ first (the reference for every kernel), then each ISA folder the CPU supports
// overwrites the entries it implements. Nothing outside kernels/ knows about ISAs.
//
// Matmul convention (as in ggml): a weight matrix is n_rows rows of k elements in its
// own dtype; activations are converted once per matmul into the weight type's "dot
// type" (F32->f32, F16->f16, BF16->bf16, Q8_0->q8_0 blocks), which is what llama.cpp
// does, so rounding matches its numbers. Every output element is one dot product whose
// reduction order depends only on k, never on how many tokens or rows are in the call:
// this is what makes results identical across batch sizes and thread counts.
#pragma once

#include "tensor/dtype.h"

#include <cstddef>
#include <cstdint>
#include <string>

namespace deepcpu::kernels {

// kAmx: the avx512 table with the AMX-INT8 packed Q8_0 gemm for prefill (x86_amx/).
enum class Isa { kScalar = 0, kAvx2 = 1, kAvx512 = 2, kNeon = 3, kSve = 4, kAmx = 5 };
const char* isa_name(Isa isa);

struct CpuFeatures {
  bool avx2 = false, fma = false, f16c = false;
  bool avx512f = false, avx512bw = false, avx512vl = false, avx512dq = false;
  bool avx512vnni = false, avx512bf16 = false;
  // amx_tile/amx_int8: CPUID and XCR0 say so; amx_os: Linux granted this process the
  // tile data state (arch_prctl ARCH_REQ_XCOMP_PERM), without which tile use faults.
  bool amx_tile = false, amx_int8 = false, amx_os = false;
  bool neon = false, dotprod = false, i8mm = false, sve = false;
};
const CpuFeatures& cpu_features();
std::string cpu_features_string();

// f32 -> dot-type row of k elements (k a multiple of the dot type's block size).
using ConvertRowFn = void (*)(const float* x, void* out, int64_t k);
// Dot-type or weight-type row -> f32.
using ToFloatRowFn = void (*)(const void* x, float* out, int64_t k);
// c[it * ldc + ir] = dot(W row ir, A row it) for ir in [r0, r1), it in [0, m).
using GemmFn = void (*)(const void* w, size_t w_row_bytes, const void* a, size_t a_row_bytes, int64_t k,
                        int64_t r0, int64_t r1, int64_t m, float* c, int64_t ldc);

// Packed weights (Q8_0 only for now), built once at load by pack_rows. The layout is the
// same for every ISA (scalar/packed_q8_0.cpp documents it): rows in groups of
// kPackRows, each group one contiguous panel of packed_bytes(kPackRows, k) bytes, so rows
// [g * kPackRows, ...) start at dst + g * packed_bytes(kPackRows, k) and a row range
// can be packed or read on its own. A last group with fewer rows is zero-padded.
constexpr int kPackRows = 16;
using PackedBytesFn = size_t (*)(int64_t n_rows, int64_t k);
// Packs n_rows rows of k elements (src rows src_row_bytes apart) into dst.
using PackRowsFn = void (*)(const void* src, size_t src_row_bytes, int64_t n_rows, int64_t k, void* dst);
// The inverse (tests, debugging): n_rows rows out of a packed panel.
using UnpackRowsFn = void (*)(const void* packed, int64_t n_rows, int64_t k, void* dst, size_t dst_row_bytes);
// As GemmFn over packed weights: c[it * ldc + ir] = dot(W row ir, A row it) for ir in
// [r0, r1), it < m. r0 must be a multiple of kPackRows; r1 a multiple of it or the last
// row of the matrix (c is never written past r1). Same batch-invariance contract.
using GemmPackedFn = void (*)(const void* wp, int64_t k, const void* a, size_t a_row_bytes, int64_t r0, int64_t r1,
                              int64_t m, float* c, int64_t ldc);
// Writes one Q8_0 row of k elements into row `slot` (< kPackRows) of the packed group
// (panel) at `group`, leaving the other rows as they are: the KV cache keeps its K rows
// packed this way as they arrive (kv/kv_cache.h). The layout is every ISA's.
void pack_q8_0_row_into_group(const void* row, int slot, int64_t k, void* group);

struct MatmulKernels {
  DType dot_type = DType::kF32;
  ConvertRowFn convert_row = nullptr;  // f32 activations -> dot_type
  GemmFn gemm = nullptr;               // weights of this type x activations of dot_type
  // Packed path: all nullptr where this ISA has no packed kernel (weights stay unpacked).
  PackedBytesFn packed_bytes = nullptr;
  PackRowsFn pack_rows = nullptr;
  UnpackRowsFn unpack_rows = nullptr;
  GemmPackedFn gemm_packed = nullptr;
};

// y[i] += a * x[i]  /  y[i] *= a, for i < n. Used by attention's value accumulation;
// each element's operations happen in the same order whatever n is.
using AxpyFn = void (*)(float* y, float a, const float* x, int64_t n);
using ScaleFn = void (*)(float* y, float a, int64_t n);
// n_rows axpys in a row: y[i] += w[j] * x[j * ldx + i] for j = 0, 1, ... n_rows - 1, each
// element getting exactly the operations axpy_f32(y, w[j], x + j * ldx, n) would give it, in
// that order, with y held in registers across j (attention's P.V over one KV block).
using AxpyRowsFn = void (*)(float* y, const float* w, const float* x, int64_t ldx, int64_t n_rows, int64_t n);
// axpy_rows for n_y outputs over the same rows x: for r < n_y, y + r * ldy gets exactly
// the bits of axpy_rows_f32(y + r * ldy, w + r * ldw, x, ldx, n_rows, n). Attention's P.V
// for all heads of a token at once: each x row is loaded once for several outputs, so it
// is bound by the FMAs rather than by reading the V block from L2 for every head.
using AxpyRowsMultiFn = void (*)(float* y, int64_t ldy, const float* w, int64_t ldw, int64_t n_y, const float* x,
                                 int64_t ldx, int64_t n_rows, int64_t n);

struct Table {
  Isa isa = Isa::kScalar;
  AxpyFn axpy_f32 = nullptr;
  ScaleFn scale_f32 = nullptr;
  AxpyRowsFn axpy_rows_f32 = nullptr;
  AxpyRowsMultiFn axpy_rows_multi_f32 = nullptr;
  MatmulKernels f32, f16, bf16, q8_0;
  ToFloatRowFn to_float_f16 = nullptr, to_float_bf16 = nullptr, to_float_q8_0 = nullptr;
  ConvertRowFn from_float_f16 = nullptr, from_float_bf16 = nullptr, from_float_q8_0 = nullptr;

  // nullptr for a weight type without kernels.
  const MatmulKernels* matmul(DType weight_type) const;
  ToFloatRowFn to_float(DType t) const;     // nullptr for f32 (copy) or unknown
  ConvertRowFn from_float(DType t) const;   // nullptr for f32 (copy) or unknown
};

// The best table for this CPU (chosen on first call, then fixed). The environment variable
// DEEPCPU_NO_AMX=1 makes it skip kAmx (the avx512 VNNI kernels are used instead).
const Table& table();
// A table using ISAs up to `max_isa` only, if this CPU can run them (for tests and benches).
bool make_table(Isa max_isa, Table* out);

// Per-ISA fillers (each lives in its ISA folder; declared here so dispatch.cpp can call them).
void fill_scalar(Table& t);
void fill_avx2(Table& t);
void fill_avx512(Table& t);
void fill_neon(Table& t);
void fill_sve(Table& t);
// Vector helpers (vec_ops_*.cpp), filled after the matmul entries of the same ISA.
void fill_vec_ops_scalar(Table& t);
// The packed Q8_0 layout's pack/unpack/size (scalar/packed_q8_0.cpp), shared by every ISA,
// and its reference gemm.
void fill_packed_q8_0_scalar(MatmulKernels& q8);
void fill_packed_q8_0_avx2(MatmulKernels& q8);    // gemm_packed only; needs the scalar entries
void fill_packed_q8_0_avx512(MatmulKernels& q8);  // gemm_packed where VNNI is present
// gemm_packed with AMX-INT8 for m >= 5, the previous gemm_packed (VNNI GEMV) below; only
// where cpu_features() has amx_tile, amx_int8 and amx_os.
void fill_packed_q8_0_amx(MatmulKernels& q8);
void fill_packed_q8_0_neon(MatmulKernels& q8);    // gemm_packed where dotprod is present
void fill_packed_q8_0_sve(MatmulKernels& q8);     // gemm_packed for SVE vectors of 256 bits and up
void fill_vec_ops_avx2(Table& t);
void fill_vec_ops_avx512(Table& t);

}  // namespace deepcpu::kernels
