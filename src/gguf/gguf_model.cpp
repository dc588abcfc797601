// A model made of one GGUF file or of the parts of a split (llama.cpp's gguf-split):
// part 1 holds all metadata; split.no is 0-based, file names are 1-based.
#include "gguf/gguf.h"

#include <fmt/format.h>

#include <limits>
#include <regex>

namespace deepcpu::gguf {

std::optional<SplitName> parse_split_name(const std::string& path) {
  static const std::regex re(R"(^(.*)-(\d{5})-of-(\d{5})\.gguf$)");
  std::smatch m;
  if (!std::regex_match(path, m, re)) return std::nullopt;
  return SplitName{m[1].str(), std::stoi(m[2].str()), std::stoi(m[3].str())};
}

std::string split_path(const std::string& prefix, int no, int count) {
  return fmt::format("{}-{:05d}-of-{:05d}.gguf", prefix, no, count);
}

namespace {

// split.* keys of one part. llama.cpp writes no/count as u16 and tensors.count as i32;
// any integer type is accepted, the values are checked by the caller.
struct SplitKeys {
  int64_t no = 0, count = 1, tensors = -1;
  bool has_tensors = false;
};

Result<SplitKeys> read_split_keys(const File& f) {
  SplitKeys k;
  auto get = [&](const char* key, int64_t* out, bool* present) -> Status {
    auto it = f.kv.find(key);
    if (it == f.kv.end()) return Status::ok();
    const Value& v = it->second;
    if (!v.is_integer() || v.type == ValueType::kBool) {
      return error("{}: key '{}' must be an integer (u16), found {}", f.path, key, value_type_name(v.type));
    }
    if (v.is_unsigned() && v.u > 0x7fffffff) return error("{}: key '{}' is {}, which is absurd", f.path, key, v.u);
    *out = v.is_unsigned() ? static_cast<int64_t>(v.u) : v.i;
    if (present) *present = true;
    return Status::ok();
  };
  if (Status st = get("split.no", &k.no, nullptr); !st) return st;
  if (Status st = get("split.count", &k.count, nullptr); !st) return st;
  if (Status st = get("split.tensors.count", &k.tensors, &k.has_tensors); !st) return st;
  return k;
}

// Parts 2..count of a split whose part 1 is `first`; each must agree on the split keys.
Status open_other_parts(const std::string& path, const SplitKeys& keys, std::vector<std::unique_ptr<File>>* files) {
  const int64_t count = keys.count;
  auto name = parse_split_name(path);
  if (!name || name->count != count || name->no != 1) {
    return error("{}: split.count says {} parts but the file name does not end in -00001-of-{:05d}.gguf, so the "
                 "other parts cannot be found",
                 path, count, count);
  }
  for (int part = 2; part <= count; ++part) {
    const std::string p = split_path(name->prefix, part, static_cast<int>(count));
    auto f = parse_file(p);
    if (!f) {
      return error("{}: split part {} of {} is missing or unreadable: {}", path, part, count, f.status().message());
    }
    auto k = read_split_keys(**f);
    if (!k) return k.status();
    if (k->no != part - 1 || k->count != count) {
      return error("{}: split mismatch in part {} of {} ({}): expected split.no={} split.count={}, found "
                   "split.no={} split.count={}",
                   path, part, count, p, part - 1, count, k->no, k->count);
    }
    if (k->has_tensors && keys.has_tensors && k->tensors != keys.tensors) {
      return error("{}: split mismatch in part {} of {} ({}): split.tensors.count is {} there but {} in part 1",
                   path, part, count, p, k->tensors, keys.tensors);
    }
    files->push_back(std::move(f.value()));
  }
  return Status::ok();
}

}  // namespace

Result<std::unique_ptr<Model>> Model::open(const std::string& path) {
  auto first = parse_file(path);
  if (!first) return first.status();
  auto keys = read_split_keys(**first);
  if (!keys) return keys.status();
  std::unique_ptr<Model> m(new Model());
  const int64_t count = keys->count;
  if (count < 1 || count > 99999) {
    return error("{}: split.count is {}, expected 1 to 99999", path, count);
  }
  if (keys->no < 0 || keys->no >= count) {
    return error("{}: split.no is {}, expected 0 to {} for a {}-part split", path, keys->no, count - 1, count);
  }
  if (keys->no != 0) {
    return error("{}: this is part {} of a {}-part split (split.no={}); open part 1 (...-00001-of-{:05d}.gguf) "
                 "instead",
                 path, keys->no + 1, count, keys->no, count);
  }
  m->files_.push_back(std::move(first.value()));
  if (count > 1) DEEPCPU_RETURN_IF_ERROR(open_other_parts(path, *keys, &m->files_));
  size_t total = 0;
  for (size_t fi = 0; fi < m->files_.size(); ++fi) {
    for (TensorInfo& t : m->files_[fi]->tensors) {
      t.file_idx = static_cast<int>(fi);
      if (!m->by_name_.emplace(t.name, &t).second) {
        const TensorInfo* prev = m->by_name_[t.name];
        return error("{}: tensor '{}' appears twice: in part {} ({}) and in part {} ({})", path,
                     printable(t.name), prev->file_idx + 1, m->files_[prev->file_idx]->path, fi + 1,
                     m->files_[fi]->path);
      }
      m->tensor_list_.push_back(&t);
      ++total;
    }
  }
  if (keys->has_tensors && (keys->tensors < 0 || static_cast<size_t>(keys->tensors) != total)) {
    return error("{}: split.tensors.count says {} tensors but the {} part(s) hold {}", path, keys->tensors,
                 m->files_.size(), total);
  }
  return m;
}

const TensorInfo* Model::find_tensor(const std::string& name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : it->second;
}

const Value* Model::find(const std::string& key) const {
  auto it = metadata().find(key);
  return it == metadata().end() ? nullptr : &it->second;
}

std::string Model::architecture() const {
  auto v = find("general.architecture");
  return v && v->type == ValueType::kString ? v->s : "";
}

Result<std::optional<int64_t>> Model::get_int(const std::string& key) const {
  const Value* v = find(key);
  if (!v) return std::optional<int64_t>();
  if (!v->is_integer()) {
    return error("{}: key '{}' must be an integer, found {}", path(), key, value_type_name(v->type));
  }
  const bool is_unsigned = v->is_unsigned();
  if (is_unsigned && v->u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    return error("{}: key '{}' = {} is out of range", path(), key, v->u);
  }
  return std::optional<int64_t>(is_unsigned ? static_cast<int64_t>(v->u) : v->i);
}

Result<std::optional<double>> Model::get_float(const std::string& key) const {
  const Value* v = find(key);
  if (!v) return std::optional<double>();
  if (!v->is_number()) return error("{}: key '{}' must be a number, found {}", path(), key, value_type_name(v->type));
  return std::optional<double>(v->f);
}

Result<std::optional<bool>> Model::get_bool(const std::string& key) const {
  const Value* v = find(key);
  if (!v) return std::optional<bool>();
  if (v->type != ValueType::kBool) {
    return error("{}: key '{}' must be a bool, found {}", path(), key, value_type_name(v->type));
  }
  return std::optional<bool>(v->u != 0);
}

Result<std::optional<std::string>> Model::get_string(const std::string& key) const {
  const Value* v = find(key);
  if (!v) return std::optional<std::string>();
  if (v->type != ValueType::kString) {
    return error("{}: key '{}' must be a string, found {}", path(), key, value_type_name(v->type));
  }
  return std::optional<std::string>(v->s);
}

Result<std::vector<std::string>> Model::get_string_array(const std::string& key) const {
  const Value* v = find(key);
  std::vector<std::string> out;
  if (!v) return out;
  if (v->type != ValueType::kArray || v->elem_type != ValueType::kString) {
    return error("{}: key '{}' must be an array of strings", path(), key);
  }
  out.reserve(v->array.size());
  for (const Value& e : v->array) out.push_back(e.s);
  return out;
}

Result<std::vector<double>> Model::get_number_array(const std::string& key) const {
  const Value* v = find(key);
  std::vector<double> out;
  if (!v) return out;
  if (v->type != ValueType::kArray) {
    return error("{}: key '{}' must be an array of numbers", path(), key);
  }
  out.reserve(v->array.size());
  for (const Value& e : v->array) {
    if (!e.is_number()) return error("{}: key '{}' must be an array of numbers", path(), key);
    out.push_back(e.f);  // the reader sets `f` for every numeric type
  }
  return out;
}

size_t Model::total_tensor_bytes() const {
  size_t n = 0;
  for (const TensorInfo* t : tensor_list_) n += t->size_bytes;
  return n;
}

}  // namespace deepcpu::gguf
