// GGUF parsing with a cursor that refuses to read past the end of the mapping.
// Limits on counts are derived from the file size (each key, tensor or array element
// needs at least one byte), so an absurd count fails before any allocation.
#include "gguf/gguf.h"

#include <fmt/format.h>

#include <cstring>
#include <limits>

namespace deepcpu::gguf {

namespace {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" little-endian
constexpr int kMaxArrayDepth = 8;
constexpr uint64_t kMaxStringBytes = uint64_t(1) << 30;

size_t scalar_size(ValueType t) {
  switch (t) {
    case ValueType::kU8: case ValueType::kI8: case ValueType::kBool: return 1;
    case ValueType::kU16: case ValueType::kI16: return 2;
    case ValueType::kU32: case ValueType::kI32: case ValueType::kF32: return 4;
    case ValueType::kU64: case ValueType::kI64: case ValueType::kF64: return 8;
    default: return 0;
  }
}

bool valid_value_type(uint32_t t) { return t <= 12; }

class Cursor {
 public:
  Cursor(const uint8_t* data, size_t size, const std::string& path)
      : data_(data), size_(size), path_(path) {}

  size_t pos() const { return pos_; }
  size_t remaining() const { return size_ - pos_; }

  // `what` names the field for the error message.
  template <typename T>
  Status read(T* out, const std::string& what) {
    if (remaining() < sizeof(T)) return truncated(what, sizeof(T));
    std::memcpy(out, data_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return Status::ok();
  }

  Status read_string(std::string* out, const std::string& what) {
    uint64_t len = 0;
    if (Status st = read(&len, what + " (string length)"); !st) return st;
    if (len > kMaxStringBytes || len > remaining()) {
      return error("{}: {}: string length {} runs past the end of the file ({} bytes left at offset {})",
                   path_, what, len, remaining(), pos_);
    }
    out->assign(reinterpret_cast<const char*>(data_ + pos_), len);
    pos_ += len;
    return Status::ok();
  }

  Status truncated(const std::string& what, size_t need) const {
    return error("{}: truncated file: {} needs {} bytes at offset {} but only {} remain (file is {} bytes)",
                 path_, what, need, pos_, remaining(), size_);
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
  const std::string& path_;
};

Status read_value(Cursor& c, ValueType type, Value* out, const std::string& what, int depth,
                  const std::string& path) {
  out->type = type;
  switch (type) {
#define DEEPCPU_SCALAR(VT, CT, FIELD)                          \
  case ValueType::VT: {                                        \
    CT v{};                                                    \
    if (Status st = c.read(&v, what); !st) return st;          \
    out->FIELD = v;                                            \
    out->f = static_cast<double>(v);                           \
    return Status::ok();                                       \
  }
    DEEPCPU_SCALAR(kU8, uint8_t, u)
    DEEPCPU_SCALAR(kU16, uint16_t, u)
    DEEPCPU_SCALAR(kU32, uint32_t, u)
    DEEPCPU_SCALAR(kU64, uint64_t, u)
    DEEPCPU_SCALAR(kI8, int8_t, i)
    DEEPCPU_SCALAR(kI16, int16_t, i)
    DEEPCPU_SCALAR(kI32, int32_t, i)
    DEEPCPU_SCALAR(kI64, int64_t, i)
    DEEPCPU_SCALAR(kF32, float, f)
    DEEPCPU_SCALAR(kF64, double, f)
#undef DEEPCPU_SCALAR
    case ValueType::kBool: {
      uint8_t v = 0;
      if (Status st = c.read(&v, what); !st) return st;
      if (v > 1) return error("{}: {}: bool value is {}, expected 0 or 1", path, what, v);
      out->u = v;
      out->i = v;
      return Status::ok();
    }
    case ValueType::kString:
      return c.read_string(&out->s, what);
    case ValueType::kArray: {
      if (depth >= kMaxArrayDepth) {
        return error("{}: {}: arrays nested deeper than {} levels", path, what, kMaxArrayDepth);
      }
      uint32_t et = 0;
      uint64_t n = 0;
      if (Status st = c.read(&et, what + " (array element type)"); !st) return st;
      if (!valid_value_type(et)) {
        return error("{}: {}: unknown array element type {} (valid: 0-12)", path, what, et);
      }
      if (Status st = c.read(&n, what + " (array length)"); !st) return st;
      const size_t min_elem = std::max<size_t>(scalar_size(static_cast<ValueType>(et)),
                                               et == 8 ? 8 : (et == 9 ? 12 : 1));
      if (n > c.remaining() / min_elem) {
        return error("{}: {}: array of {} elements of type {} cannot fit in the {} bytes left", path, what,
                     n, value_type_name(static_cast<ValueType>(et)), c.remaining());
      }
      out->elem_type = static_cast<ValueType>(et);
      out->array.resize(n);
      for (uint64_t k = 0; k < n; ++k) {
        Status st = read_value(c, out->elem_type, &out->array[k], what, depth + 1, path);
        if (!st) return st;
      }
      return Status::ok();
    }
  }
  return error("{}: {}: unknown value type {}", path, what, static_cast<uint32_t>(type));
}

}  // namespace

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

std::string Value::to_string(size_t max_items) const {
  switch (type) {
    case ValueType::kString: {
      std::string shown = s.size() > 60 ? s.substr(0, 57) + "..." : s;
      for (auto& ch : shown) {
        if (ch == '\n') ch = ' ';
      }
      return "\"" + shown + "\"";
    }
    case ValueType::kBool: return u ? "true" : "false";
    case ValueType::kF32: case ValueType::kF64: return fmt::format("{}", f);
    case ValueType::kU8: case ValueType::kU16: case ValueType::kU32: case ValueType::kU64:
      return fmt::format("{}", u);
    case ValueType::kArray: {
      std::string r = fmt::format("[{} x {}] [", array.size(), value_type_name(elem_type));
      for (size_t k = 0; k < array.size() && k < max_items; ++k) {
        r += (k ? ", " : "") + array[k].to_string(max_items);
      }
      r += array.size() > max_items ? ", ...]" : "]";
      return r;
    }
    default: return fmt::format("{}", i);
  }
}

std::string TensorInfo::shape_string() const {
  std::string r = "{";
  for (int d = 0; d < n_dims; ++d) r += fmt::format("{}{}", d ? ", " : "", ne[d]);
  return r + "}";
}

Result<std::unique_ptr<File>> parse_file(const std::string& path) {
  auto mapped = MappedFile::open(path);
  if (!mapped) return mapped.status();
  auto file = std::make_unique<File>();
  file->map = std::move(mapped.value());
  Cursor c(file->map->data(), file->map->size(), path);

  uint32_t magic = 0;
  if (file->map->size() < 4) {
    return error("{}: not a GGUF file: {} bytes, too short for the 4-byte magic", path, file->map->size());
  }
  if (Status st = c.read(&magic, "magic"); !st) return st;
  if (magic != kMagic) {
    return error("{}: not a GGUF file: magic is 0x{:08x}, expected 0x{:08x} (\"GGUF\")", path, magic, kMagic);
  }
  if (Status st = c.read(&file->version, "version"); !st) return st;
  if (file->version != 2 && file->version != 3) {
    return error("{}: GGUF version {} is not supported (expected 2 or 3)", path, file->version);
  }
  uint64_t n_tensors = 0, n_kv = 0;
  if (Status st = c.read(&n_tensors, "tensor count"); !st) return st;
  if (Status st = c.read(&n_kv, "metadata key count"); !st) return st;
  // A key needs >= 8+1+4 bytes, a tensor info >= 8+1+4+8+4+8 bytes.
  if (n_kv > c.remaining() / 13) {
    return error("{}: metadata key count {} is impossible for a file of {} bytes", path, n_kv, file->map->size());
  }
  if (n_tensors > c.remaining() / 33) {
    return error("{}: tensor count {} is impossible for a file of {} bytes", path, n_tensors, file->map->size());
  }

  for (uint64_t k = 0; k < n_kv; ++k) {
    std::string key;
    if (Status st = c.read_string(&key, fmt::format("metadata key #{}", k)); !st) return st;
    uint32_t vt = 0;
    if (Status st = c.read(&vt, fmt::format("type of key '{}'", key)); !st) return st;
    if (!valid_value_type(vt)) {
      return error("{}: key '{}': unknown value type {} (valid: 0-12)", path, key, vt);
    }
    Value v;
    if (Status st = read_value(c, static_cast<ValueType>(vt), &v, fmt::format("key '{}'", key), 0, path); !st) {
      return st;
    }
    if (file->kv.count(key)) return error("{}: key '{}' appears twice", path, key);
    file->kv_order.push_back(key);
    file->kv.emplace(std::move(key), std::move(v));
  }

  if (auto it = file->kv.find("general.alignment"); it != file->kv.end()) {
    const Value& a = it->second;
    if (!a.is_integer() || a.u == 0 || (a.u & (a.u - 1)) != 0 || a.u > 65536) {
      return error("{}: general.alignment must be a power of two up to 65536, found {}", path, a.to_string());
    }
    file->alignment = a.u;
  }

  file->tensors.resize(n_tensors);
  for (uint64_t k = 0; k < n_tensors; ++k) {
    TensorInfo& t = file->tensors[k];
    if (Status st = c.read_string(&t.name, fmt::format("name of tensor #{}", k)); !st) return st;
    const std::string what = fmt::format("tensor '{}'", t.name);
    uint32_t n_dims = 0;
    if (Status st = c.read(&n_dims, what + " (dimension count)"); !st) return st;
    if (n_dims == 0 || n_dims > kMaxDims) {
      return error("{}: {}: {} dimensions, expected 1 to {}", path, what, n_dims, kMaxDims);
    }
    t.n_dims = static_cast<int>(n_dims);
    for (uint32_t d = 0; d < n_dims; ++d) {
      uint64_t ne = 0;
      if (Status st = c.read(&ne, what + " (shape)"); !st) return st;
      if (ne == 0 || ne > (uint64_t(1) << 40)) {
        return error("{}: {}: dimension {} is {}, expected 1 to 2^40", path, what, d, ne);
      }
      t.ne[d] = static_cast<int64_t>(ne);
    }
    uint32_t type_id = 0;
    if (Status st = c.read(&type_id, what + " (type)"); !st) return st;
    auto info = dtype_info(type_id);
    if (!info) return error("{}: {}: unknown tensor type id {}", path, what, type_id);
    t.type = info->type;
    if (Status st = c.read(&t.offset, what + " (offset)"); !st) return st;

    // Element count and byte size without overflow.
    __int128 n = 1;
    for (int d = 0; d < kMaxDims; ++d) n *= t.ne[d];
    if (n > (__int128(1) << 50)) return error("{}: {}: {} elements is absurd", path, what, t.shape_string());
    if (t.ne[0] % info->block_size != 0) {
      return error("{}: {}: row length {} is not a multiple of the {} block size {}", path, what, t.ne[0],
                   info->name, info->block_size);
    }
    t.size_bytes = static_cast<size_t>(n / info->block_size) * info->block_bytes;
    if (t.offset % file->alignment != 0) {
      return error("{}: {}: data offset {} is not aligned to {}", path, what, t.offset, file->alignment);
    }
  }

  const uint64_t pos = c.pos();
  file->data_offset = (pos + file->alignment - 1) / file->alignment * file->alignment;
  const uint64_t file_size = file->map->size();
  if (n_tensors > 0 && file->data_offset > file_size) {
    return error("{}: truncated file: tensor data should start at offset {} but the file is {} bytes", path,
                 file->data_offset, file_size);
  }
  const uint64_t data_size = file_size - std::min(file_size, file->data_offset);
  for (TensorInfo& t : file->tensors) {
    if (t.offset > data_size || t.size_bytes > data_size - t.offset) {
      return error("{}: tensor '{}' ({} {}, {} bytes at data offset {}) runs past the end of the file: "
                   "the data section holds {} bytes (file truncated?)",
                   path, t.name, dtype_name(t.type), t.shape_string(), t.size_bytes, t.offset, data_size);
    }
    t.data = file->map->data() + file->data_offset + t.offset;
  }
  return file;
}

}  // namespace deepcpu::gguf
