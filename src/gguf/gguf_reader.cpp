// GGUF parsing with a cursor that refuses to read past the end of the bytes.
// Every count is checked against the bytes left before anything is allocated (each key,
// tensor or array element needs a known minimum of bytes), and the metadata as a whole has
// an element budget, so a hostile file costs at most a bounded multiple of its size.
// Split handling (several files, split.* keys) lives in gguf_model.cpp.
#include "gguf/gguf.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <numeric>
#include <set>

namespace deepcpu::gguf {

namespace {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" read little-endian
constexpr int kMaxArrayDepth = 8;
// gguf.md: a key is at most 2^16-1 bytes. Tensor names get the same bound (ggml itself
// stops at 63); neither limit is hit by any real file.
constexpr uint64_t kMaxKeyBytes = 65535;
constexpr uint64_t kMaxNameBytes = 65535;
constexpr uint64_t kMaxStringBytes = uint64_t(1) << 30;
// A parsed Value is ~96 bytes, so a u8 array would otherwise cost ~100x its file bytes.
// The largest real metadata (a 262k vocab: tokens, scores, types, merges) is ~1.3M
// elements; 8M leaves room and caps memory for metadata near 800 MB.
constexpr uint64_t kMaxMetadataElements = uint64_t(1) << 23;
constexpr uint64_t kMaxAlignment = uint64_t(1) << 24;
// 2^50 elements (a petabyte of f8) is beyond any model and keeps byte sizes far from overflow.
constexpr uint64_t kMaxTensorElements = uint64_t(1) << 50;

// Minimum bytes on disk: a key is an 8-byte length, >= 1 char, a 4-byte type and a
// >= 1-byte value; a tensor info is a length, >= 1 char, n_dims, >= 1 dim, type, offset.
constexpr uint64_t kMinKeyBytes = 8 + 1 + 4 + 1;
constexpr uint64_t kMinTensorInfoBytes = 8 + 1 + 4 + 8 + 4 + 8;

size_t min_value_bytes(ValueType t) {
  switch (t) {
    case ValueType::kU8: case ValueType::kI8: case ValueType::kBool: return 1;
    case ValueType::kU16: case ValueType::kI16: return 2;
    case ValueType::kU32: case ValueType::kI32: case ValueType::kF32: return 4;
    case ValueType::kU64: case ValueType::kI64: case ValueType::kF64: return 8;
    case ValueType::kString: return 8;   // the length, even for ""
    case ValueType::kArray: return 12;   // element type + length
  }
  return 1;
}

bool valid_value_type(uint32_t t) { return t <= 12; }

class Cursor {
 public:
  Cursor(const uint8_t* data, size_t size, const std::string& path) : data_(data), size_(size), path_(path) {}

  size_t pos() const { return pos_; }
  size_t remaining() const { return size_ - pos_; }

  // `what` names the field for the error message. GGUF is little-endian, as are the
  // CPUs we run on, so a plain copy is the decode.
  template <typename T>
  Status read(T* out, std::string_view what) {
    if (remaining() < sizeof(T)) return truncated(what, sizeof(T));
    std::memcpy(out, data_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return Status::ok();
  }

  Status read_string(std::string* out, std::string_view what, uint64_t max_len) {
    uint64_t len = 0;
    if (Status st = read(&len, fmt::format("{} (string length)", what)); !st) return st;
    if (len > remaining()) {
      return error("{}: {}: string length {} runs past the end of the file (only {} bytes left at offset {})",
                   path_, what, len, remaining(), pos_);
    }
    if (len > max_len) {
      return error("{}: {}: string length {} is over the limit of {} bytes", path_, what, len, max_len);
    }
    out->assign(reinterpret_cast<const char*>(data_ + pos_), len);
    pos_ += len;
    return Status::ok();
  }

  Status truncated(std::string_view what, size_t need) const {
    return error("{}: truncated file: {} needs {} bytes at offset {} but only {} remain (file is {} bytes)", path_,
                 what, need, pos_, remaining(), size_);
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
  const std::string& path_;
};

class MetadataParser {
 public:
  MetadataParser(Cursor& c, const std::string& path) : c_(c), path_(path) {}

  // `what` is "key 'name'" for the error messages.
  Status read_value(ValueType type, Value* out, const std::string& what, int depth) {
    switch (type) {
      case ValueType::kU8: return read_scalar<uint8_t>(out, what, value_u8);
      case ValueType::kI8: return read_scalar<int8_t>(out, what, value_i8);
      case ValueType::kU16: return read_scalar<uint16_t>(out, what, value_u16);
      case ValueType::kI16: return read_scalar<int16_t>(out, what, value_i16);
      case ValueType::kU32: return read_scalar<uint32_t>(out, what, value_u32);
      case ValueType::kI32: return read_scalar<int32_t>(out, what, value_i32);
      case ValueType::kU64: return read_scalar<uint64_t>(out, what, value_u64);
      case ValueType::kI64: return read_scalar<int64_t>(out, what, value_i64);
      case ValueType::kF32: return read_scalar<float>(out, what, value_f32);
      case ValueType::kF64: return read_scalar<double>(out, what, value_f64);
      case ValueType::kBool: {
        uint8_t v = 0;
        if (Status st = c_.read(&v, what); !st) return st;
        if (v > 1) return error("{}: {}: bool value is {}, expected 0 or 1", path_, what, v);
        *out = value_bool(v != 0);
        return Status::ok();
      }
      case ValueType::kString:
        out->type = ValueType::kString;
        return c_.read_string(&out->s, what, kMaxStringBytes);
      case ValueType::kArray:
        return read_array(out, what, depth);
    }
    return error("{}: {}: unknown value type {} (valid: 0-12)", path_, what, static_cast<uint32_t>(type));
  }

 private:
  template <typename T, typename Make>
  Status read_scalar(Value* out, const std::string& what, Make make) {
    T v{};
    if (Status st = c_.read(&v, what); !st) return st;
    *out = make(v);
    return Status::ok();
  }

  Status read_array(Value* out, const std::string& what, int depth) {
    if (depth >= kMaxArrayDepth) {
      return error("{}: {}: arrays nested deeper than {} levels", path_, what, kMaxArrayDepth);
    }
    uint32_t et = 0;
    uint64_t n = 0;
    if (Status st = c_.read(&et, what + " (array element type)"); !st) return st;
    if (!valid_value_type(et)) {
      return error("{}: {}: unknown array element type {} (valid: 0-12)", path_, what, et);
    }
    if (Status st = c_.read(&n, what + " (array length)"); !st) return st;
    const auto elem = static_cast<ValueType>(et);
    const size_t min_elem = min_value_bytes(elem);
    if (n > c_.remaining() / min_elem) {
      return error("{}: {}: array length {} is impossible: {} elements need at least {} bytes each but only {} "
                   "bytes remain",
                   path_, what, n, value_type_name(elem), min_elem, c_.remaining());
    }
    if (n > kMaxMetadataElements - n_elements_) {
      return error("{}: {}: array length {} takes the metadata over the limit of {} array elements in all", path_,
                   what, n, kMaxMetadataElements);
    }
    n_elements_ += n;
    out->type = ValueType::kArray;
    out->elem_type = elem;
    out->array.resize(n);
    for (uint64_t k = 0; k < n; ++k) {
      if (Status st = read_value(elem, &out->array[k], what, depth + 1); !st) return st;
    }
    return Status::ok();
  }

  Cursor& c_;
  const std::string& path_;
  uint64_t n_elements_ = 0;
};

Status read_metadata(Cursor& c, uint64_t n_kv, File* file) {
  const std::string& path = file->path;
  if (n_kv > c.remaining() / kMinKeyBytes) {
    return error("{}: metadata key count {} is impossible: each key needs at least {} bytes and only {} remain "
                 "(file is {} bytes)",
                 path, n_kv, kMinKeyBytes, c.remaining(), file->size_bytes);
  }
  MetadataParser parser(c, path);
  for (uint64_t k = 0; k < n_kv; ++k) {
    std::string key;
    if (Status st = c.read_string(&key, fmt::format("metadata key #{} of {}", k, n_kv), kMaxKeyBytes); !st) {
      return st;
    }
    if (key.empty()) return error("{}: metadata key #{} of {} has an empty name", path, k, n_kv);
    const std::string what = fmt::format("key '{}'", printable(key));
    if (file->kv.count(key)) return error("{}: {} appears twice (second time as key #{})", path, what, k);
    uint32_t vt = 0;
    if (Status st = c.read(&vt, what + " (value type)"); !st) return st;
    if (!valid_value_type(vt)) return error("{}: {}: unknown value type {} (valid: 0-12)", path, what, vt);
    Value v;
    if (Status st = parser.read_value(static_cast<ValueType>(vt), &v, what, 0); !st) return st;
    file->kv_order.push_back(key);
    file->kv.emplace(std::move(key), std::move(v));
  }
  return Status::ok();
}

Status read_alignment(File* file) {
  auto it = file->kv.find("general.alignment");
  if (it == file->kv.end()) return Status::ok();
  const Value& a = it->second;
  // gguf.md says u32; any integer type is accepted, the value is what matters.
  const bool is_int = a.is_integer() && a.type != ValueType::kBool;
  const uint64_t v = !is_int ? 0 : a.is_unsigned() ? a.u : (a.i > 0 ? static_cast<uint64_t>(a.i) : 0);
  if (!is_int || v == 0 || (v & (v - 1)) != 0 || v > kMaxAlignment) {
    return error("{}: key 'general.alignment' is {} ({}), expected a power of two from 1 to {}", file->path,
                 a.to_string(), value_type_name(a.type), kMaxAlignment);
  }
  file->alignment = v;
  return Status::ok();
}

Status read_tensor_info(Cursor& c, uint64_t k, uint64_t n_tensors, File* file, TensorInfo* t) {
  const std::string& path = file->path;
  if (Status st = c.read_string(&t->name, fmt::format("name of tensor #{} of {}", k, n_tensors), kMaxNameBytes);
      !st) {
    return st;
  }
  if (t->name.empty()) return error("{}: tensor #{} of {} has an empty name", path, k, n_tensors);
  const std::string what = fmt::format("tensor '{}'", printable(t->name));
  uint32_t n_dims = 0;
  if (Status st = c.read(&n_dims, what + " (dimension count)"); !st) return st;
  if (n_dims == 0 || n_dims > kMaxDims) {
    return error("{}: {}: has {} dimensions, expected 1 to {}", path, what, n_dims, kMaxDims);
  }
  t->n_dims = static_cast<int>(n_dims);
  uint64_t n_elements = 1;
  for (uint32_t d = 0; d < n_dims; ++d) {
    uint64_t ne = 0;
    if (Status st = c.read(&ne, what + " (shape)"); !st) return st;
    if (ne == 0) return error("{}: {}: dimension {} is 0, expected at least 1", path, what, d);
    if (ne > kMaxTensorElements / n_elements) {
      return error("{}: {}: dimension {} is {}, which makes over 2^50 elements", path, what, d, ne);
    }
    n_elements *= ne;
    t->ne[d] = static_cast<int64_t>(ne);
  }
  uint32_t type_id = 0;
  if (Status st = c.read(&type_id, what + " (type)"); !st) return st;
  auto info = dtype_info(type_id);
  if (!info) {
    return error("{}: {}: unknown tensor type id {}; this file needs a newer deepcpu or is corrupt", path, what,
                 type_id);
  }
  t->type = info->type;
  if (Status st = c.read(&t->offset, what + " (data offset)"); !st) return st;
  if (t->ne[0] % info->block_size != 0) {
    return error("{}: {}: row length {} is not a multiple of the {} block size {}", path, what, t->ne[0],
                 info->name, info->block_size);
  }
  t->size_bytes = static_cast<size_t>(n_elements / info->block_size) * info->block_bytes;
  if (t->offset % file->alignment != 0) {
    return error("{}: {}: data offset {} is not a multiple of the alignment {}", path, what, t->offset,
                 file->alignment);
  }
  return Status::ok();
}

// Tensor data must lie inside the data section and no two tensors may share bytes
// (ggml lays them out back to back; an overlap means a corrupt or hostile header).
Status check_tensor_layout(File* file) {
  const std::string& path = file->path;
  const uint64_t data_size = file->size_bytes - std::min<uint64_t>(file->size_bytes, file->data_offset);
  for (TensorInfo& t : file->tensors) {
    if (t.offset > data_size || t.size_bytes > data_size - t.offset) {
      return error("{}: tensor '{}' ({} {}, {} bytes at data offset {}) runs past the end of the file: the data "
                   "section holds {} bytes (file truncated?)",
                   path, printable(t.name), dtype_name(t.type), t.shape_string(), t.size_bytes, t.offset, data_size);
    }
    t.data = file->bytes + file->data_offset + t.offset;
  }
  std::vector<size_t> order(file->tensors.size());
  std::iota(order.begin(), order.end(), size_t(0));
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return file->tensors[a].offset < file->tensors[b].offset; });
  for (size_t k = 1; k < order.size(); ++k) {
    const TensorInfo& a = file->tensors[order[k - 1]];
    const TensorInfo& b = file->tensors[order[k]];
    if (a.offset + a.size_bytes > b.offset) {
      return error("{}: tensors '{}' (data bytes {} to {}) and '{}' (from {}) overlap", path, printable(a.name),
                   a.offset, a.offset + a.size_bytes, printable(b.name), b.offset);
    }
  }
  return Status::ok();
}

Status parse(File* file) {
  const std::string& path = file->path;
  Cursor c(file->bytes, file->size_bytes, path);
  if (file->size_bytes < 4) {
    return error("{}: not a GGUF file: {} bytes, too short for the 4-byte magic", path, file->size_bytes);
  }
  uint32_t magic = 0;
  if (Status st = c.read(&magic, "magic"); !st) return st;
  if (magic != kMagic) {
    return error("{}: not a GGUF file: magic is \"{}\" (0x{:08x}), expected \"GGUF\" (0x{:08x})", path,
                 printable(std::string_view(reinterpret_cast<const char*>(file->bytes), 4)), magic, kMagic);
  }
  if (Status st = c.read(&file->version, "version"); !st) return st;
  if (file->version != 2 && file->version != 3) {
    const char* hint = file->version == 1 ? "; re-convert it with a current llama.cpp"
                       : (file->version == 0x02000000 || file->version == 0x03000000)
                           ? "; this looks like a big-endian GGUF, which is not supported"
                           : "";
    return error("{}: GGUF version {} is not supported, expected 2 or 3{}", path, file->version, hint);
  }
  uint64_t n_tensors = 0, n_kv = 0;
  if (Status st = c.read(&n_tensors, "tensor count"); !st) return st;
  if (Status st = c.read(&n_kv, "metadata key count"); !st) return st;
  if (Status st = read_metadata(c, n_kv, file); !st) return st;
  if (Status st = read_alignment(file); !st) return st;

  if (n_tensors > c.remaining() / kMinTensorInfoBytes) {
    return error("{}: tensor count {} is impossible: each tensor needs at least {} bytes of header and only {} "
                 "remain (file is {} bytes)",
                 path, n_tensors, kMinTensorInfoBytes, c.remaining(), file->size_bytes);
  }
  file->tensors.resize(n_tensors);
  std::set<std::string_view> names;
  for (uint64_t k = 0; k < n_tensors; ++k) {
    TensorInfo& t = file->tensors[k];
    if (Status st = read_tensor_info(c, k, n_tensors, file, &t); !st) return st;
    if (!names.insert(t.name).second) {
      return error("{}: tensor '{}' appears twice (second time as tensor #{})", path, printable(t.name), k);
    }
  }

  const uint64_t pos = c.pos();
  file->data_offset = (pos + file->alignment - 1) / file->alignment * file->alignment;
  if (n_tensors > 0 && file->data_offset > file->size_bytes) {
    return error("{}: truncated file: tensor data should start at offset {} but the file is {} bytes", path,
                 file->data_offset, file->size_bytes);
  }
  return check_tensor_layout(file);
}

}  // namespace

std::string TensorInfo::shape_string() const {
  std::string r = "{";
  for (int d = 0; d < n_dims; ++d) r += fmt::format("{}{}", d ? ", " : "", ne[d]);
  return r + "}";
}

Result<std::unique_ptr<File>> parse_file(const std::string& path) {
  auto mapped = MappedFile::open(path);
  if (!mapped) return mapped.status();
  auto file = std::make_unique<File>();
  file->path = path;
  file->map = std::move(mapped.value());
  file->bytes = file->map->data();
  file->size_bytes = file->map->size();
  if (Status st = parse(file.get()); !st) return st;
  return file;
}

Result<std::unique_ptr<File>> parse_memory(const uint8_t* data, size_t size, const std::string& name) {
  auto file = std::make_unique<File>();
  file->path = name;
  file->bytes = data;
  file->size_bytes = size;
  if (Status st = parse(file.get()); !st) return st;
  return file;
}

}  // namespace deepcpu::gguf
