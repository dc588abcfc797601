// GgufWriter: builds the header in memory (metadata is small next to the weights),
// then streams tensor data through a buffered file that is renamed into place at the end.
// Layout matches ggml's gguf_write: header, tensor infos, zero padding to the alignment,
// each tensor's bytes followed by zero padding to the alignment.
#include "gguf/gguf_writer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <cstring>

namespace deepcpu::gguf {

namespace {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" little-endian
constexpr uint64_t kDefaultAlignment = 32;
constexpr int kMaxArrayDepth = 8;        // the reader's limit
constexpr size_t kMaxKeyBytes = 65535;   // gguf.md

template <typename T>
void put(std::string& out, T v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof(T));
}

void put_string(std::string& out, const std::string& s) {
  put<uint64_t>(out, s.size());
  out.append(s);
}

Status put_value(std::string& out, const Value& v, const std::string& key, int depth) {
  switch (v.type) {
    case ValueType::kU8: put<uint8_t>(out, static_cast<uint8_t>(v.u)); return Status::ok();
    case ValueType::kI8: put<int8_t>(out, static_cast<int8_t>(v.i)); return Status::ok();
    case ValueType::kU16: put<uint16_t>(out, static_cast<uint16_t>(v.u)); return Status::ok();
    case ValueType::kI16: put<int16_t>(out, static_cast<int16_t>(v.i)); return Status::ok();
    case ValueType::kU32: put<uint32_t>(out, static_cast<uint32_t>(v.u)); return Status::ok();
    case ValueType::kI32: put<int32_t>(out, static_cast<int32_t>(v.i)); return Status::ok();
    case ValueType::kU64: put<uint64_t>(out, v.u); return Status::ok();
    case ValueType::kI64: put<int64_t>(out, v.i); return Status::ok();
    case ValueType::kF32: put<float>(out, static_cast<float>(v.f)); return Status::ok();
    case ValueType::kF64: put<double>(out, v.f); return Status::ok();
    case ValueType::kBool: put<uint8_t>(out, v.u ? 1 : 0); return Status::ok();
    case ValueType::kString: put_string(out, v.s); return Status::ok();
    case ValueType::kArray: {
      if (depth >= kMaxArrayDepth) {
        return error("gguf writer: key '{}': arrays nested deeper than {} levels", printable(key), kMaxArrayDepth);
      }
      put<uint32_t>(out, static_cast<uint32_t>(v.elem_type));
      put<uint64_t>(out, v.array.size());
      for (size_t k = 0; k < v.array.size(); ++k) {
        if (v.array[k].type != v.elem_type) {
          return error("gguf writer: key '{}': array element {} is {}, expected {} like the array says",
                       printable(key), k, value_type_name(v.array[k].type), value_type_name(v.elem_type));
        }
        DEEPCPU_RETURN_IF_ERROR(put_value(out, v.array[k], key, depth + 1));
      }
      return Status::ok();
    }
  }
  return error("gguf writer: key '{}': unknown value type {}", printable(key), static_cast<uint32_t>(v.type));
}

Result<uint64_t> alignment_of(const Value* a) {
  if (a == nullptr) return kDefaultAlignment;
  const bool ok = a->is_integer() && a->type != ValueType::kBool && a->is_unsigned() && a->u != 0 &&
                  (a->u & (a->u - 1)) == 0 && a->u <= (uint64_t(1) << 24);
  if (!ok) {
    return error("gguf writer: general.alignment is {} ({}), expected an unsigned power of two up to 2^24",
                 a->to_string(), value_type_name(a->type));
  }
  return a->u;
}

uint64_t pad_to(uint64_t n, uint64_t alignment) { return (n + alignment - 1) / alignment * alignment; }

// A file written through a buffer to "<path>.XXXXXX" and renamed to `path` by commit().
// Destroying it uncommitted removes the temp file.
class AtomicFile : public TensorSink {
 public:
  ~AtomicFile() override {
    if (fd_ >= 0) ::close(fd_);
    if (!tmp_.empty() && !committed_) ::unlink(tmp_.c_str());
  }

  Status open(const std::string& path) {
    path_ = path;
    std::string tmpl = path + ".XXXXXX";
    fd_ = ::mkstemp(tmpl.data());
    if (fd_ < 0) return error("{}: cannot create a temporary file beside it: {}", path, std::strerror(errno));
    tmp_ = tmpl;
    ::fchmod(fd_, 0644);  // mkstemp makes 0600; model files are meant to be shared
    buf_.reserve(kBufferBytes);
    return Status::ok();
  }

  Status write(const void* data, size_t n) override {
    const char* p = static_cast<const char*>(data);
    if (buf_.size() + n > kBufferBytes) DEEPCPU_RETURN_IF_ERROR(flush());
    if (n >= kBufferBytes) return write_fd(p, n);
    buf_.append(p, n);
    return Status::ok();
  }

  Status write_zeros(size_t n) {
    static const char zeros[256] = {};
    while (n > 0) {
      const size_t k = std::min(n, sizeof(zeros));
      DEEPCPU_RETURN_IF_ERROR(write(zeros, k));
      n -= k;
    }
    return Status::ok();
  }

  Status commit() {
    DEEPCPU_RETURN_IF_ERROR(flush());
    if (::fsync(fd_) != 0) return error("{}: fsync failed: {}", path_, std::strerror(errno));
    const int rc = ::close(fd_);
    fd_ = -1;
    if (rc != 0) return error("{}: close failed: {}", path_, std::strerror(errno));
    if (::rename(tmp_.c_str(), path_.c_str()) != 0) {
      return error("{}: cannot rename {} into place: {}", path_, tmp_, std::strerror(errno));
    }
    committed_ = true;
    return Status::ok();
  }

 private:
  static constexpr size_t kBufferBytes = size_t(4) << 20;

  Status flush() {
    Status st = write_fd(buf_.data(), buf_.size());
    buf_.clear();
    return st;
  }

  Status write_fd(const char* p, size_t n) {
    while (n > 0) {
      const ssize_t k = ::write(fd_, p, n);
      if (k < 0 && errno == EINTR) continue;
      if (k <= 0) return error("{}: write failed: {}", path_, k < 0 ? std::strerror(errno) : "wrote nothing");
      p += k;
      n -= static_cast<size_t>(k);
    }
    return Status::ok();
  }

  std::string path_, tmp_;
  int fd_ = -1;
  bool committed_ = false;
  std::string buf_;
};

// Counts what a tensor callback writes so a short or long tensor is caught at once.
class CountingSink : public TensorSink {
 public:
  CountingSink(AtomicFile& out, const std::string& name, size_t expected)
      : out_(out), name_(name), expected_(expected) {}
  Status write(const void* data, size_t n) override {
    if (n > expected_ - written_) {
      return error("gguf writer: tensor '{}': the data callback wrote more than its {} bytes", printable(name_),
                   expected_);
    }
    written_ += n;
    return out_.write(data, n);
  }
  size_t written() const { return written_; }

 private:
  AtomicFile& out_;
  const std::string& name_;
  size_t expected_;
  size_t written_ = 0;
};

}  // namespace

void GgufWriter::set(const std::string& key, Value v) {
  auto [it, inserted] = kv_.insert_or_assign(key, std::move(v));
  if (inserted) key_order_.push_back(key);
}

void GgufWriter::set_string_array(const std::string& key, const std::vector<std::string>& v) {
  std::vector<Value> elems;
  elems.reserve(v.size());
  for (const std::string& s : v) elems.push_back(value_string(s));
  set_array(key, ValueType::kString, std::move(elems));
}

void GgufWriter::set_i32_array(const std::string& key, std::span<const int32_t> v) {
  std::vector<Value> elems;
  elems.reserve(v.size());
  for (int32_t x : v) elems.push_back(value_i32(x));
  set_array(key, ValueType::kI32, std::move(elems));
}

void GgufWriter::set_f32_array(const std::string& key, std::span<const float> v) {
  std::vector<Value> elems;
  elems.reserve(v.size());
  for (float x : v) elems.push_back(value_f32(x));
  set_array(key, ValueType::kF32, std::move(elems));
}

void GgufWriter::remove(const std::string& key) {
  if (kv_.erase(key) == 0) return;
  std::erase(key_order_, key);
}

void GgufWriter::copy_metadata(const Model& m) {
  for (const std::string& key : m.metadata_order()) {
    if (key.rfind("split.", 0) == 0) continue;  // describes the source's split, not ours
    set(key, m.metadata().at(key));
  }
}

const Value* GgufWriter::find(const std::string& key) const {
  auto it = kv_.find(key);
  return it == kv_.end() ? nullptr : &it->second;
}

uint64_t GgufWriter::alignment() const {
  auto a = alignment_of(find("general.alignment"));
  return a ? *a : kDefaultAlignment;
}

Status GgufWriter::add(Tensor t, std::span<const int64_t> ne) {
  const std::string what = fmt::format("gguf writer: tensor '{}'", printable(t.name));
  if (t.name.empty()) return error("gguf writer: a tensor needs a name");
  if (t.name.size() > kMaxKeyBytes) return error("{}: name is {} bytes, limit {}", what, t.name.size(), kMaxKeyBytes);
  if (tensor_index_.count(t.name)) return error("{}: added twice", what);
  if (ne.empty() || ne.size() > kMaxDims) {
    return error("{}: has {} dimensions, expected 1 to {}", what, ne.size(), kMaxDims);
  }
  t.n_dims = static_cast<int>(ne.size());
  uint64_t n = 1;
  for (int d = 0; d < kMaxDims; ++d) {
    t.ne[d] = d < t.n_dims ? ne[d] : 1;
    if (t.ne[d] < 1 || static_cast<uint64_t>(t.ne[d]) > (uint64_t(1) << 50) / n) {
      return error("{}: dimension {} is {}, expected 1 or more and under 2^50 elements in all", what, d, t.ne[d]);
    }
    n *= static_cast<uint64_t>(t.ne[d]);
  }
  const DTypeInfo& info = dtype_info(t.type);
  if (t.ne[0] % info.block_size != 0) {
    return error("{}: row length {} is not a multiple of the {} block size {}", what, t.ne[0], info.name,
                 info.block_size);
  }
  t.size_bytes = static_cast<size_t>(n / info.block_size) * info.block_bytes;
  tensor_index_.emplace(t.name, tensors_.size());
  tensors_.push_back(std::move(t));
  return Status::ok();
}

Status GgufWriter::add_tensor(const std::string& name, DType type, std::span<const int64_t> ne, const void* data) {
  if (data == nullptr) return error("gguf writer: tensor '{}': data is null", printable(name));
  return add(Tensor{name, type, 0, {}, 0, data, nullptr}, ne);
}

Status GgufWriter::add_tensor(const std::string& name, DType type, std::span<const int64_t> ne, TensorDataFn fn) {
  if (!fn) return error("gguf writer: tensor '{}': data callback is empty", printable(name));
  return add(Tensor{name, type, 0, {}, 0, nullptr, std::move(fn)}, ne);
}

Status GgufWriter::write_file(const std::string& path, uint32_t version, const KeyValues& kv, size_t tensor_begin,
                              size_t tensor_end) const {
  if (version != 2 && version != 3) return error("{}: cannot write GGUF version {}, only 2 or 3", path, version);
  const Value* align_value = nullptr;
  std::string header;
  put<uint32_t>(header, kMagic);
  put<uint32_t>(header, version);  // v2 and v3 share a layout; v3 only allowed big-endian files too
  put<uint64_t>(header, tensor_end - tensor_begin);
  put<uint64_t>(header, kv.size());
  for (const auto& [key, value] : kv) {
    if (key->empty() || key->size() > kMaxKeyBytes) {
      return error("{}: metadata key '{}' must be 1 to {} bytes", path, printable(*key), kMaxKeyBytes);
    }
    if (*key == "general.alignment") align_value = value;
    put_string(header, *key);
    put<uint32_t>(header, static_cast<uint32_t>(value->type));
    if (Status st = put_value(header, *value, *key, 0); !st) return error("{}: {}", path, st.message());
  }
  auto alignment = alignment_of(align_value);
  if (!alignment) return error("{}: {}", path, alignment.status().message());
  uint64_t offset = 0;
  for (size_t k = tensor_begin; k < tensor_end; ++k) {
    const Tensor& t = tensors_[k];
    put_string(header, t.name);
    put<uint32_t>(header, static_cast<uint32_t>(t.n_dims));
    for (int d = 0; d < t.n_dims; ++d) put<uint64_t>(header, static_cast<uint64_t>(t.ne[d]));
    put<uint32_t>(header, static_cast<uint32_t>(t.type));
    put<uint64_t>(header, offset);
    offset += pad_to(t.size_bytes, *alignment);
  }

  AtomicFile out;
  DEEPCPU_RETURN_IF_ERROR(out.open(path));
  DEEPCPU_RETURN_IF_ERROR(out.write(header.data(), header.size()));
  DEEPCPU_RETURN_IF_ERROR(out.write_zeros(pad_to(header.size(), *alignment) - header.size()));
  for (size_t k = tensor_begin; k < tensor_end; ++k) {
    const Tensor& t = tensors_[k];
    if (t.data != nullptr) {
      DEEPCPU_RETURN_IF_ERROR(out.write(t.data, t.size_bytes));
    } else {
      CountingSink sink(out, t.name, t.size_bytes);
      if (Status st = t.fn(sink); !st) return error("{}: {}", path, st.message());
      if (sink.written() != t.size_bytes) {
        return error("{}: tensor '{}' ({}): the data callback wrote {} bytes, expected {}", path, printable(t.name),
                     dtype_name(t.type), sink.written(), t.size_bytes);
      }
    }
    DEEPCPU_RETURN_IF_ERROR(out.write_zeros(pad_to(t.size_bytes, *alignment) - t.size_bytes));
  }
  return out.commit();
}

Status GgufWriter::write(const std::string& path, uint32_t version) const {
  KeyValues kv;
  for (const std::string& key : key_order_) kv.emplace_back(&key, &kv_.at(key));
  return write_file(path, version, kv, 0, tensors_.size());
}

Result<std::vector<std::string>> GgufWriter::write_split(const std::string& prefix, const SplitOptions& opt) const {
  if (opt.max_tensors_per_part < 0) {
    return error("gguf writer: max_tensors_per_part is {}, expected 0 (no limit) or more", opt.max_tensors_per_part);
  }
  // Part boundaries: [bounds[i], bounds[i+1]) are the tensors of part i.
  std::vector<size_t> bounds = {0};
  uint64_t part_bytes = 0;
  const uint64_t alignment = this->alignment();
  for (size_t k = 0; k < tensors_.size(); ++k) {
    const size_t in_part = k - bounds.back();
    const uint64_t bytes = pad_to(tensors_[k].size_bytes, alignment);
    const bool full_count = opt.max_tensors_per_part > 0 && in_part >= static_cast<size_t>(opt.max_tensors_per_part);
    const bool full_bytes = opt.max_bytes_per_part > 0 && in_part > 0 && part_bytes + bytes > opt.max_bytes_per_part;
    if (full_count || full_bytes) {
      bounds.push_back(k);
      part_bytes = 0;
    }
    part_bytes += bytes;
  }
  bounds.push_back(tensors_.size());
  const size_t n_parts = bounds.size() - 1;
  if (n_parts > 65535) return error("{}: a split of {} parts does not fit split.count (u16)", prefix, n_parts);
  if (tensors_.size() > 0x7fffffff) return error("{}: too many tensors for split.tensors.count (i32)", prefix);

  // Keys llama.cpp's gguf-split appends, in its order.
  const std::string kNo = "split.no", kCount = "split.count", kTensors = "split.tensors.count";
  const Value count = value_u16(static_cast<uint16_t>(n_parts));
  const Value n_tensors = value_i32(static_cast<int32_t>(tensors_.size()));
  std::vector<std::string> written;
  for (size_t part = 0; part < n_parts; ++part) {
    const Value no = value_u16(static_cast<uint16_t>(part));
    KeyValues kv;
    for (const std::string& key : key_order_) {
      if (key.rfind("split.", 0) == 0) continue;
      // Later parts carry no metadata, as in llama.cpp, except a non-default alignment:
      // without it their data would be laid out at 32 instead.
      if (part == 0 || key == "general.alignment") kv.emplace_back(&key, &kv_.at(key));
    }
    kv.emplace_back(&kNo, &no);
    kv.emplace_back(&kTensors, &n_tensors);
    kv.emplace_back(&kCount, &count);
    const std::string path = split_path(prefix, static_cast<int>(part + 1), static_cast<int>(n_parts));
    if (Status st = write_file(path, opt.version, kv, bounds[part], bounds[part + 1]); !st) {
      for (const std::string& p : written) ::unlink(p.c_str());
      return st;
    }
    written.push_back(path);
  }
  return written;
}

}  // namespace deepcpu::gguf
