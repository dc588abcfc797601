// Shared by the kernel tests: every table this CPU can build, and random rows.
#pragma once

#include <cstdint>
#include <ostream>
#include <random>
#include <string>
#include <vector>

#include "kernels/kernels.h"

namespace deepcpu::test {

struct NamedTable {
  std::string name;
  kernels::Table table;
};
// gtest prints a failing parameter with this instead of its raw bytes.
inline void PrintTo(const NamedTable& t, std::ostream* os) { *os << t.name; }

// scalar, avx2, avx512 (x86) or scalar, neon, sve (arm): the ones make_table accepts here.
inline std::vector<NamedTable> runnable_tables() {
  std::vector<NamedTable> out;
  for (kernels::Isa isa : {kernels::Isa::kScalar, kernels::Isa::kAvx2, kernels::Isa::kAvx512, kernels::Isa::kNeon,
                           kernels::Isa::kSve}) {
    kernels::Table t;
    if (kernels::make_table(isa, &t)) out.push_back({kernels::isa_name(isa), t});
  }
  return out;
}

inline kernels::Table scalar_table() {
  kernels::Table t;
  kernels::make_table(kernels::Isa::kScalar, &t);
  return t;
}

// Gaussian-ish values, with a per-row magnitude so rows differ in scale.
inline std::vector<float> random_floats(std::mt19937& rng, size_t n, float scale = 1.0f) {
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

}  // namespace deepcpu::test
