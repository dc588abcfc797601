#include "tensor/dtype.h"

#include "base/check.h"

#include <array>

namespace deepcpu {

namespace {

// Every type id ggml has defined (ids 4, 5, 31-33, 36-38 were removed upstream).
constexpr std::array<DTypeInfo, 33> kTypes = {{
    {DType::kF32, "f32", 1, 4, true},
    {DType::kF16, "f16", 1, 2, true},
    {DType::kQ4_0, "q4_0", 32, 18, false},
    {DType::kQ4_1, "q4_1", 32, 20, false},
    {DType::kQ5_0, "q5_0", 32, 22, false},
    {DType::kQ5_1, "q5_1", 32, 24, false},
    {DType::kQ8_0, "q8_0", 32, 34, true},
    {DType::kQ8_1, "q8_1", 32, 36, false},
    {DType::kQ2_K, "q2_K", 256, 84, false},
    {DType::kQ3_K, "q3_K", 256, 110, false},
    {DType::kQ4_K, "q4_K", 256, 144, false},
    {DType::kQ5_K, "q5_K", 256, 176, false},
    {DType::kQ6_K, "q6_K", 256, 210, false},
    {DType::kQ8_K, "q8_K", 256, 292, false},
    {static_cast<DType>(16), "iq2_xxs", 256, 66, false},
    {static_cast<DType>(17), "iq2_xs", 256, 74, false},
    {static_cast<DType>(18), "iq3_xxs", 256, 98, false},
    {static_cast<DType>(19), "iq1_s", 256, 50, false},
    {static_cast<DType>(20), "iq4_nl", 32, 18, false},
    {static_cast<DType>(21), "iq3_s", 256, 110, false},
    {static_cast<DType>(22), "iq2_s", 256, 82, false},
    {static_cast<DType>(23), "iq4_xs", 256, 136, false},
    {DType::kI8, "i8", 1, 1, false},
    {DType::kI16, "i16", 1, 2, false},
    {DType::kI32, "i32", 1, 4, false},
    {DType::kI64, "i64", 1, 8, false},
    {DType::kF64, "f64", 1, 8, false},
    {static_cast<DType>(29), "iq1_m", 256, 56, false},
    {DType::kBF16, "bf16", 1, 2, true},
    {static_cast<DType>(34), "tq1_0", 256, 54, false},
    {static_cast<DType>(35), "tq2_0", 256, 66, false},
    {static_cast<DType>(39), "mxfp4", 32, 17, false},
    {static_cast<DType>(1000), "", 1, 1, false},  // sentinel, never matched
}};

}  // namespace

std::optional<DTypeInfo> dtype_info(uint32_t id) {
  for (const auto& t : kTypes) {
    if (static_cast<uint32_t>(t.type) == id && !t.name.empty()) return t;
  }
  return std::nullopt;
}

const DTypeInfo& dtype_info(DType t) {
  for (const auto& info : kTypes) {
    if (info.type == t) return info;
  }
  DEEPCPU_CHECK(false, "unknown dtype id {}", static_cast<uint32_t>(t));
  return kTypes[0];
}

std::optional<DType> dtype_from_name(std::string_view name) {
  for (const auto& t : kTypes) {
    if (!t.name.empty() && t.name == name) return t.type;
  }
  return std::nullopt;
}

}  // namespace deepcpu
