// deepcpu tokenize: print the tokens of a text like llama.cpp's llama-tokenize: one
// "ID -> 'piece'" line per token, or with --ids one JSON array. Only the GGUF metadata is
// read (Tokenizer::from_gguf); tensor data is never touched, so this is instant even for
// large models.
#include "cli_common.h"
#include "commands.h"
#include "gguf/gguf.h"
#include "tokenizer/tokenizer.h"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <optional>
#include <sstream>

namespace deepcpu::tools {
namespace {

constexpr std::string_view kCmd = "tokenize";  // fail() prefixes "deepcpu "

// The bytes of a file or of stdin, unchanged (no newline stripping, binary-safe).
Result<std::string> read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return error("cannot open prompt file '{}'", path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string read_stdin() {
  std::ios::sync_with_stdio(false);
  return std::string(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
}

// Whether `s` is valid UTF-8 (llama-tokenize flags pieces that are not).
bool valid_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<uint8_t>(s[i]);
    const size_t n = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    for (size_t k = 1; k < n; ++k) {
      if ((static_cast<uint8_t>(s[i + k]) & 0xC0) != 0x80) return false;
    }
    i += n;
  }
  return true;
}

}  // namespace

int cmd_tokenize(int argc, char** argv) {
  std::string model;
  std::optional<std::string> prompt, file;
  bool from_stdin = false, ids_only = false, no_bos = false, no_parse_special = false, show_count = false;

  CLI::App app{"Print the tokens of a text, as llama-tokenize does: one line 'ID -> 'piece'' per token."};
  app.name("deepcpu tokenize");
  app.add_option("-m,--model", model, "GGUF model; only its tokenizer metadata is read (default: " +
                                          default_model_path() + ")");
  auto* p_opt = app.add_option("-p,--prompt", prompt, "the text to tokenize");
  auto* f_opt = app.add_option("-f,--file", file, "read the text from FILE, byte for byte");
  auto* s_opt = app.add_flag("--stdin", from_stdin, "read the text from standard input, byte for byte");
  p_opt->excludes(f_opt, s_opt);
  f_opt->excludes(s_opt);
  app.add_flag("--ids", ids_only, "print only the ids, as one JSON array");
  app.add_flag("--no-bos", no_bos, "do not add BOS even when the vocab asks for it");
  app.add_flag("--no-parse-special", no_parse_special, "tokenize special-token strings (<｜User｜>, ...) as text");
  app.add_flag("--show-count", show_count, "print the number of tokens at the end");
  if (const int rc = parse_args(app, argc, argv); rc >= 0) return rc;
  if (!prompt && !file && !from_stdin) return fail(kCmd, "give the text with -p TEXT, -f FILE or --stdin");

  std::string text;
  if (prompt) {
    text = *prompt;
  } else if (file) {
    auto content = read_all(*file);
    if (!content.is_ok()) return fail(kCmd, content.status().message());
    text = std::move(content.value());
  } else {
    text = read_stdin();
  }

  const std::string path = model.empty() ? default_model_path() : model;
  if (path.empty()) return fail(kCmd, "no model: pass -m MODEL.gguf (this build has no bundled default)");
  auto gguf_model = gguf::Model::open(path);
  if (!gguf_model.is_ok()) return fail(kCmd, gguf_model.status().message());
  auto tok = Tokenizer::from_gguf(**gguf_model);
  if (!tok.is_ok()) return fail(kCmd, tok.status().message());

  // llama-tokenize: add_special = the vocab's add_bos unless --no-bos.
  const bool add_special = (*tok)->add_bos() && !no_bos;
  const std::vector<TokenId> ids = (*tok)->tokenize(text, add_special, !no_parse_special);

  std::string out;
  if (ids_only) {
    out = fmt::format("[{}]\n", fmt::join(ids, ", "));
  } else {
    for (TokenId id : ids) {
      const std::string piece = (*tok)->token_to_piece(id, true);
      out += fmt::format("{:6d} -> '{}'{}\n", id, piece, valid_utf8(piece) ? "" : " (utf-8 decode failure)");
    }
  }
  if (show_count) out += fmt::format("Total number of tokens: {}\n", ids.size());
  std::fwrite(out.data(), 1, out.size(), stdout);
  return 0;
}

}  // namespace deepcpu::tools
