// CPU feature detection and the start-up choice of kernels.
#include "kernels/kernels.h"

#include <fmt/format.h>

#include <cstdlib>
#include <cstring>

#if defined(__x86_64__)
#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif
#if defined(__aarch64__)
#include <asm/hwcap.h>
#include <sys/auxv.h>
#endif

namespace deepcpu::kernels {

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::kScalar: return "scalar";
    case Isa::kAvx2: return "avx2";
    case Isa::kAvx512: return "avx512";
    case Isa::kNeon: return "neon";
    case Isa::kSve: return "sve";
    case Isa::kAmx: return "amx";
  }
  return "?";
}

namespace {

CpuFeatures detect() {
  CpuFeatures f;
#if defined(__x86_64__)
  unsigned a, b, c, d;
  if (__get_cpuid(1, &a, &b, &c, &d)) {
    f.fma = (c >> 12) & 1;
    f.f16c = (c >> 29) & 1;
    const bool osxsave = (c >> 27) & 1;
    unsigned xcr0_lo = 0, xcr0_hi = 0;
    if (osxsave) __asm__("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
    const bool ymm_ok = (xcr0_lo & 0x6) == 0x6;
    const bool zmm_ok = (xcr0_lo & 0xe6) == 0xe6;
    if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) {
      f.avx2 = ymm_ok && ((b >> 5) & 1);
      f.avx512f = zmm_ok && ((b >> 16) & 1);
      f.avx512dq = zmm_ok && ((b >> 17) & 1);
      f.avx512bw = zmm_ok && ((b >> 30) & 1);
      f.avx512vl = zmm_ok && ((b >> 31) & 1);
      f.avx512vnni = zmm_ok && ((c >> 11) & 1);
      // XCR0 bits 17/18: the OS manages XTILECFG/XTILEDATA.
      const bool tiles_ok = (xcr0_lo & 0x60000) == 0x60000;
      f.amx_tile = tiles_ok && ((d >> 24) & 1);
      f.amx_int8 = tiles_ok && ((d >> 25) & 1);
    }
    if (f.amx_tile && f.amx_int8) {
      // Linux (5.16+) hands out the 8 KiB tile state only on request, once per process;
      // the first tile instruction faults without it. ARCH_REQ_XCOMP_PERM = 0x1023,
      // XFEATURE_XTILEDATA = 18 (arch/x86/include/uapi/asm/prctl.h).
      f.amx_os = syscall(SYS_arch_prctl, 0x1023, 18) == 0;
    }
    if (__get_cpuid_count(7, 1, &a, &b, &c, &d)) f.avx512bf16 = zmm_ok && ((a >> 5) & 1);
  }
#endif
#if defined(__aarch64__)
  const unsigned long hw = getauxval(AT_HWCAP);
  const unsigned long hw2 = getauxval(AT_HWCAP2);
  f.neon = true;
  f.dotprod = (hw & HWCAP_ASIMDDP) != 0;
  f.sve = (hw & HWCAP_SVE) != 0;
#ifdef HWCAP2_I8MM
  f.i8mm = (hw2 & HWCAP2_I8MM) != 0;
#else
  (void)hw2;
#endif
#endif
  return f;
}

bool isa_supported(Isa isa, const CpuFeatures& f) {
  switch (isa) {
    case Isa::kScalar: return true;
    case Isa::kAvx2: return f.avx2 && f.fma && f.f16c;
    case Isa::kAvx512: return f.avx2 && f.fma && f.f16c && f.avx512f && f.avx512bw && f.avx512vl && f.avx512dq;
    case Isa::kNeon: return f.neon && f.dotprod;
    case Isa::kSve: return f.neon && f.dotprod && f.sve;
    case Isa::kAmx:
      return isa_supported(Isa::kAvx512, f) && f.avx512vnni && f.amx_tile && f.amx_int8 && f.amx_os;
  }
  return false;
}

}  // namespace

const CpuFeatures& cpu_features() {
  static const CpuFeatures f = detect();
  return f;
}

std::string cpu_features_string() {
  const CpuFeatures& f = cpu_features();
  std::string s;
  auto add = [&](bool on, const char* name) {
    if (on) s += (s.empty() ? "" : " ") + std::string(name);
  };
  add(f.avx2, "AVX2");
  add(f.fma, "FMA");
  add(f.f16c, "F16C");
  add(f.avx512f, "AVX512F");
  add(f.avx512bw, "AVX512BW");
  add(f.avx512vnni, "AVX512_VNNI");
  add(f.avx512bf16, "AVX512_BF16");
  add(f.amx_tile, "AMX_TILE");
  add(f.amx_int8, "AMX_INT8");
  if (f.amx_tile && !f.amx_os) s += " (AMX denied by the OS)";
  add(f.neon, "NEON");
  add(f.dotprod, "DOTPROD");
  add(f.i8mm, "I8MM");
  add(f.sve, "SVE");
  return s.empty() ? "none" : s;
}

bool make_table(Isa max_isa, Table* out) {
  const CpuFeatures& f = cpu_features();
  if (!isa_supported(max_isa, f)) return false;
  Table t;
  fill_scalar(t);
  fill_vec_ops_scalar(t);
#if defined(DEEPCPU_HAVE_X86_KERNELS)
  if (max_isa == Isa::kAvx2 || max_isa == Isa::kAvx512 || max_isa == Isa::kAmx) {
    fill_avx2(t);
    fill_vec_ops_avx2(t);
  }
  if (max_isa == Isa::kAvx512 || max_isa == Isa::kAmx) {
    fill_avx512(t);
    fill_vec_ops_avx512(t);
  }
  if (max_isa == Isa::kAmx) {
    fill_packed_q8_0_amx(t.q8_0);  // prefill only; small m keeps the VNNI entry above
    t.isa = Isa::kAmx;
  }
#endif
#if defined(DEEPCPU_HAVE_ARM_KERNELS)
  if (max_isa == Isa::kNeon || max_isa == Isa::kSve) {
    fill_neon(t);
    fill_packed_q8_0_scalar(t.q8_0);  // fill_neon resets the q8_0 entries; the layout is shared
    fill_packed_q8_0_neon(t.q8_0);
  }
  if (max_isa == Isa::kSve) {
    fill_sve(t);
    fill_packed_q8_0_sve(t.q8_0);
  }
#endif
  *out = t;
  return true;
}

const Table& table() {
  static const Table t = [] {
    Table best;
    const char* no_amx = std::getenv("DEEPCPU_NO_AMX");
    const bool amx_off = no_amx != nullptr && *no_amx != '\0' && std::strcmp(no_amx, "0") != 0;
    if (!amx_off && make_table(Isa::kAmx, &best)) return best;
    for (Isa isa : {Isa::kAvx512, Isa::kAvx2, Isa::kSve, Isa::kNeon, Isa::kScalar}) {
      if (make_table(isa, &best)) break;
    }
    return best;
  }();
  return t;
}

const MatmulKernels* Table::matmul(DType w) const {
  switch (w) {
    case DType::kF32: return &f32;
    case DType::kF16: return &f16;
    case DType::kBF16: return &bf16;
    case DType::kQ8_0: return &q8_0;
    default: return nullptr;
  }
}

ToFloatRowFn Table::to_float(DType t) const {
  switch (t) {
    case DType::kF16: return to_float_f16;
    case DType::kBF16: return to_float_bf16;
    case DType::kQ8_0: return to_float_q8_0;
    default: return nullptr;
  }
}

ConvertRowFn Table::from_float(DType t) const {
  switch (t) {
    case DType::kF16: return from_float_f16;
    case DType::kBF16: return from_float_bf16;
    case DType::kQ8_0: return from_float_q8_0;
    default: return nullptr;
  }
}

}  // namespace deepcpu::kernels
