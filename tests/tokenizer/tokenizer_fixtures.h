// Shared by the tokenizer tests: loading a tokenizer from a fixture once per test binary,
// printable forms of strings and id lists for failure messages.
#pragma once

#include "gguf/gguf.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"

#include <fmt/format.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace deepcpu::test {

// The tokenizer of fixture `rel` (e.g. "tokenizer/ggml-vocab-qwen2.gguf"), loaded once;
// nullptr when the fixture is absent. A load error fails the calling test via `error`.
inline const Tokenizer* load_tokenizer(const std::string& rel, std::string* error = nullptr) {
  static std::map<std::string, std::unique_ptr<Tokenizer>> cache;
  auto it = cache.find(rel);
  if (it != cache.end()) return it->second.get();
  const std::string path = fixture(rel);
  if (path.empty()) return nullptr;
  auto model = gguf::Model::open(path);
  if (!model.is_ok()) {
    if (error) *error = model.status().message();
    return nullptr;
  }
  auto tok = Tokenizer::from_gguf(**model);
  if (!tok.is_ok()) {
    if (error) *error = tok.status().message();
    return nullptr;
  }
  return (cache[rel] = std::move(tok.value())).get();
}

inline std::string ids_string(const std::vector<TokenId>& ids) {
  return fmt::format("[{}]", fmt::join(ids, ", "));
}

// The text with control bytes and non-ASCII escaped, so a failing vector is readable.
inline std::string quoted(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '\n') out += "\\n";
    else if (c == '\r') out += "\\r";
    else if (c == '\t') out += "\\t";
    else if (c == '"') out += "\\\"";
    else if (c < 0x20 || c == 0x7F) out += fmt::format("\\x{:02x}", c);
    else out.push_back(static_cast<char>(c));
  }
  return out + "\"";
}

}  // namespace deepcpu::test
