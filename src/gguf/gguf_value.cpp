// Metadata values: construction with every field set the way the reader sets them,
// equality (for round-trip tests) and display (`deepcpu gguf`, error messages).
#include "gguf/gguf.h"

#include <fmt/format.h>

#include <limits>

namespace deepcpu::gguf {

namespace {

Value unsigned_value(ValueType t, uint64_t v) {
  Value r;
  r.type = t;
  r.u = v;
  // `i` mirrors `u` when it fits, so callers wanting a signed number need not switch on type.
  r.i = v <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ? static_cast<int64_t>(v) : 0;
  r.f = static_cast<double>(v);
  return r;
}

Value signed_value(ValueType t, int64_t v) {
  Value r;
  r.type = t;
  r.i = v;
  r.f = static_cast<double>(v);
  return r;
}

}  // namespace

Value value_u8(uint8_t v) { return unsigned_value(ValueType::kU8, v); }
Value value_u16(uint16_t v) { return unsigned_value(ValueType::kU16, v); }
Value value_u32(uint32_t v) { return unsigned_value(ValueType::kU32, v); }
Value value_u64(uint64_t v) { return unsigned_value(ValueType::kU64, v); }
Value value_bool(bool v) { return unsigned_value(ValueType::kBool, v ? 1 : 0); }
Value value_i8(int8_t v) { return signed_value(ValueType::kI8, v); }
Value value_i16(int16_t v) { return signed_value(ValueType::kI16, v); }
Value value_i32(int32_t v) { return signed_value(ValueType::kI32, v); }
Value value_i64(int64_t v) { return signed_value(ValueType::kI64, v); }

Value value_f32(float v) {
  Value r;
  r.type = ValueType::kF32;
  r.f = v;
  return r;
}

Value value_f64(double v) {
  Value r;
  r.type = ValueType::kF64;
  r.f = v;
  return r;
}

Value value_string(std::string v) {
  Value r;
  r.type = ValueType::kString;
  r.s = std::move(v);
  return r;
}

Value value_array(ValueType elem_type, std::vector<Value> elems) {
  Value r;
  r.type = ValueType::kArray;
  r.elem_type = elem_type;
  r.array = std::move(elems);
  return r;
}

bool operator==(const Value& a, const Value& b) {
  if (a.type != b.type) return false;
  switch (a.type) {
    case ValueType::kString: return a.s == b.s;
    case ValueType::kArray: return a.elem_type == b.elem_type && a.array == b.array;
    // Bitwise for floats would call NaN != NaN equal; round-trip tests use ordinary numbers.
    case ValueType::kF32: case ValueType::kF64: return a.f == b.f;
    default: return a.is_unsigned() ? a.u == b.u : a.i == b.i;
  }
}

const char* value_type_name(ValueType t) {
  static const char* names[] = {"u8", "i8", "u16", "i16", "u32", "i32", "f32",
                                "bool", "string", "array", "u64", "i64", "f64"};
  const auto i = static_cast<uint32_t>(t);
  return i < 13 ? names[i] : "?";
}

bool Value::is_integer() const {
  switch (type) {
    case ValueType::kU8: case ValueType::kI8: case ValueType::kU16: case ValueType::kI16:
    case ValueType::kU32: case ValueType::kI32: case ValueType::kU64: case ValueType::kI64:
    case ValueType::kBool:
      return true;
    default:
      return false;
  }
}

bool Value::is_unsigned() const {
  return type == ValueType::kU8 || type == ValueType::kU16 || type == ValueType::kU32 ||
         type == ValueType::kU64 || type == ValueType::kBool;
}

std::string printable(std::string_view s, size_t max_chars) {
  std::string r;
  size_t shown = 0;
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    // Cut only at a character boundary: never inside a UTF-8 sequence.
    if (shown >= max_chars && (c & 0xc0) != 0x80) return r + "...";
    if (c == '\n') r += "\\n";
    else if (c == '\t') r += "\\t";
    else if (c == '\r') r += "\\r";
    else if (c == '\\') r += "\\\\";
    else if (c < 0x20 || c == 0x7f) r += fmt::format("\\x{:02x}", c);
    else r += ch;  // UTF-8 passes through: token strings are mostly non-ASCII
    ++shown;
  }
  return r;
}

std::string Value::to_string(size_t max_items, size_t max_chars) const {
  switch (type) {
    case ValueType::kString: {
      std::string r = "\"";
      for (const char ch : printable(s, max_chars)) {
        if (ch == '"') r += '\\';  // so the token `"` shows as "\"", not """
        r += ch;
      }
      return r + "\"";
    }
    case ValueType::kBool: return u ? "true" : "false";
    // Shortest text that reads back to the same float: 1e-05, not 9.999999747378752e-06.
    case ValueType::kF32: return fmt::format("{}", static_cast<float>(f));
    case ValueType::kF64: return fmt::format("{}", f);
    case ValueType::kArray: {
      std::string r = "[";
      for (size_t k = 0; k < array.size() && k < max_items; ++k) {
        r += (k ? ", " : "") + array[k].to_string(max_items, max_chars);
      }
      if (array.size() > max_items) r += fmt::format(", ... ({} more)", array.size() - max_items);
      return r + "]";
    }
    default: return is_unsigned() ? fmt::format("{}", u) : fmt::format("{}", i);
  }
}

}  // namespace deepcpu::gguf
