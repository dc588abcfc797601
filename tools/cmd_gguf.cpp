// deepcpu gguf FILE [--all]: what a GGUF file (or split model) holds: format, split parts,
// every metadata key with type and value, the tensor table and totals. Read-only; the
// parsing and all validation are gguf::Model's, this file only prints.
#include "commands.h"
#include "gguf/gguf.h"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cstdio>
#include <limits>
#include <map>

namespace deepcpu::tools {

namespace {

std::string type_string(const gguf::Value& v) {
  if (v.type != gguf::ValueType::kArray) return gguf::value_type_name(v.type);
  std::string elem = v.array.empty() ? gguf::value_type_name(v.elem_type) : type_string(v.array[0]);
  if (v.elem_type == gguf::ValueType::kArray && v.array.empty()) elem = "array";
  return fmt::format("array[{}; {}]", elem, v.array.size());
}

std::string human_bytes(uint64_t n) {
  if (n < 1024) return fmt::format("{} B", n);
  if (n < (uint64_t(1) << 20)) return fmt::format("{:.1f} KiB", n / 1024.0);
  if (n < (uint64_t(1) << 30)) return fmt::format("{:.1f} MiB", n / 1048576.0);
  return fmt::format("{:.2f} GiB", n / 1073741824.0);
}

void print_model(const gguf::Model& m, bool all) {
  const auto& files = m.files();
  fmt::print("file: {}\n", m.path());
  if (files.size() == 1) {
    fmt::print("gguf version {}, alignment {}, tensor data at offset {}, not split\n", files[0]->version,
               files[0]->alignment, files[0]->data_offset);
  } else {
    fmt::print("split into {} parts:\n", files.size());
    for (size_t i = 0; i < files.size(); ++i) {
      fmt::print("  part {}: {} (gguf version {}, alignment {}, {} tensors, data at offset {})\n", i + 1,
                 files[i]->path, files[i]->version, files[i]->alignment, files[i]->tensors.size(),
                 files[i]->data_offset);
    }
  }

  const size_t max_items = all ? std::numeric_limits<size_t>::max() : 8;
  const size_t max_chars = all ? std::numeric_limits<size_t>::max() : 60;
  fmt::print("\nmetadata: {} keys\n", m.metadata_order().size());
  size_t key_width = 0;
  for (const std::string& key : m.metadata_order()) key_width = std::max(key_width, std::min<size_t>(key.size(), 48));
  for (const std::string& key : m.metadata_order()) {
    const gguf::Value& v = m.metadata().at(key);
    fmt::print("  {:<{}}  {:<20}  {}\n", gguf::printable(key), key_width, type_string(v),
               v.to_string(max_items, max_chars));
  }
  if (!all) fmt::print("  (long arrays and strings are cut; --all shows everything)\n");

  struct ByType {
    size_t n_tensors = 0;
    uint64_t n_params = 0, n_bytes = 0;
  };
  std::map<std::string, ByType> by_type;
  fmt::print("\ntensors: {}\n", m.tensors().size());
  fmt::print("  {:>4}  {:<32}  {:<7}  {:<24}  {:>12}  {:>4}  {:>12}\n", "#", "name", "type", "shape", "bytes",
             "part", "file offset");
  for (size_t i = 0; i < m.tensors().size(); ++i) {
    const gguf::TensorInfo& t = *m.tensors()[i];
    const gguf::File& f = *files[t.file_idx];
    fmt::print("  {:>4}  {:<32}  {:<7}  {:<24}  {:>12}  {:>4}  {:>12}\n", i, gguf::printable(t.name),
               dtype_name(t.type), t.shape_string(), t.size_bytes, t.file_idx + 1, f.data_offset + t.offset);
    ByType& b = by_type[std::string(dtype_name(t.type))];
    ++b.n_tensors;
    b.n_params += static_cast<uint64_t>(t.n_elements());
    b.n_bytes += t.size_bytes;
  }
  uint64_t n_params = 0;
  for (const auto& [name, b] : by_type) n_params += b.n_params;
  fmt::print("\ntotal: {} tensors, {} params, {} bytes ({})\n", m.tensors().size(), n_params,
             m.total_tensor_bytes(), human_bytes(m.total_tensor_bytes()));
  for (const auto& [name, b] : by_type) {
    fmt::print("  {:<7}  {:>5} tensors  {:>14} params  {:>14} bytes ({})\n", name, b.n_tensors, b.n_params,
               b.n_bytes, human_bytes(b.n_bytes));
  }
}

}  // namespace

int cmd_gguf(int argc, char** argv) {
  CLI::App app{"Print a GGUF file's format, split parts, metadata and tensor table.\n"
               "For a split model give part 1 (...-00001-of-N.gguf); the other parts are read too."};
  app.name("deepcpu gguf");
  std::string path;
  bool all = false;
  app.add_option("file", path, "GGUF file (or part 1 of a split)")->required();
  app.add_flag("--all", all, "show every array element and whole strings");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return 2;
  }
  auto model = gguf::Model::open(path);
  if (!model) {
    // One line, whatever bytes the file put in a key or tensor name.
    std::string msg = model.status().message();
    for (char& ch : msg) {
      if (ch == '\n' || ch == '\r') ch = ' ';
    }
    fmt::print(stderr, "deepcpu gguf: {}\n", msg);
    return 1;
  }
  print_model(**model, all);
  return 0;
}

}  // namespace deepcpu::tools
