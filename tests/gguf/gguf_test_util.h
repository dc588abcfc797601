// Helpers for the GGUF tests: a byte-level builder for files the writer would refuse to
// make (bad magic, absurd counts, ...), and a check that the CLI rejects a file with one
// line on stderr. Header-only because tests/CMakeLists.txt compiles only *_test.cpp.
#pragma once

#include <gtest/gtest.h>

#include "gguf/gguf.h"
#include "gguf/gguf_writer.h"
#include "test_util.h"

#include <cstdint>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

namespace deepcpu::test {

// Appends little-endian GGUF fields to `bytes`; no validation at all.
struct RawGguf {
  std::string bytes;

  template <typename T>
  RawGguf& put(T v) {
    bytes.append(reinterpret_cast<const char*>(&v), sizeof(T));
    return *this;
  }
  RawGguf& u8(uint8_t v) { return put(v); }
  RawGguf& u32(uint32_t v) { return put(v); }
  RawGguf& u64(uint64_t v) { return put(v); }
  RawGguf& str(std::string_view s) {
    u64(s.size());
    bytes.append(s);
    return *this;
  }
  // magic "GGUF", version, tensor count, key count
  RawGguf& header(uint64_t n_tensors, uint64_t n_kv, uint32_t version = 3) {
    bytes.append("GGUF");
    return u32(version).u64(n_tensors).u64(n_kv);
  }
  RawGguf& kv_u32(std::string_view key, uint32_t v) { return str(key).u32(4).u32(v); }
  RawGguf& kv_u16(std::string_view key, uint16_t v) { return str(key).u32(2).put(v); }
  RawGguf& kv_i32(std::string_view key, int32_t v) { return str(key).u32(5).put(v); }
  RawGguf& kv_string(std::string_view key, std::string_view v) { return str(key).u32(8).str(v); }
  RawGguf& tensor(std::string_view name, std::vector<uint64_t> ne, uint32_t type, uint64_t offset) {
    str(name).u32(static_cast<uint32_t>(ne.size()));
    for (uint64_t n : ne) u64(n);
    return u32(type).u64(offset);
  }
  RawGguf& pad(size_t alignment = 32) {
    bytes.resize((bytes.size() + alignment - 1) / alignment * alignment, '\0');
    return *this;
  }
  RawGguf& data(size_t n, char fill = '\x11') {
    bytes.append(n, fill);
    return *this;
  }
};

inline std::string write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return path;
}

// A valid two-tensor file: f32 {4, 2} then q8_0 {32}, default alignment.
inline RawGguf small_valid_file() {
  RawGguf g;
  g.header(2, 2).kv_string("general.architecture", "llama").kv_u32("llama.block_count", 1);
  g.tensor("a.weight", {4, 2}, 0, 0).tensor("b.weight", {32}, 8, 32).pad();
  g.data(32).data(34).pad();
  return g;
}

// Status of parsing `bytes` written to dir/name; the file stays for the CLI check.
inline Status parse_bytes(const std::string& path, const std::string& bytes) {
  write_bytes(path, bytes);
  auto m = gguf::Model::open(path);
  return m.status();
}

// Message must name the file and every needle; the CLI must exit 1 with one stderr line
// that names the file.
inline void expect_rejected(const std::string& path, const Status& st, const std::vector<std::string>& needles) {
  ASSERT_FALSE(st.is_ok()) << path << " was accepted";
  const std::string& msg = st.message();
  EXPECT_NE(msg.find(path), std::string::npos) << "message does not name the file: " << msg;
  EXPECT_EQ(msg.find('\n'), std::string::npos) << "message has a newline: " << msg;
  for (const std::string& n : needles) EXPECT_NE(msg.find(n), std::string::npos) << "no '" << n << "' in: " << msg;
  const CommandResult r = run_deepcpu("gguf '" + path + "'");
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
  ASSERT_FALSE(r.err.empty());
  EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << "stderr is not one line: " << r.err;
  EXPECT_NE(r.err.find(path), std::string::npos) << r.err;
}

inline void expect_bytes_rejected(const std::string& path, const std::string& bytes,
                                  const std::vector<std::string>& needles) {
  expect_rejected(path, parse_bytes(path, bytes), needles);
}

// A writer holding every key (but split.*) and tensor of `m`, tensors from its mapping.
inline gguf::GgufWriter copy_of(const gguf::Model& m) {
  gguf::GgufWriter w;
  w.copy_metadata(m);
  for (const gguf::TensorInfo* t : m.tensors()) {
    std::span<const int64_t> ne(t->ne.data(), static_cast<size_t>(t->n_dims));
    EXPECT_TRUE(w.add_tensor(t->name, t->type, ne, t->data).is_ok()) << t->name;
  }
  return w;
}

}  // namespace deepcpu::test
