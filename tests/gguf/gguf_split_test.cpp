// Split models: the llama.cpp-made 3-part stories260K opens to the same tensors and bytes
// as the single file, and GgufWriter::write_split reproduces llama-gguf-split's output.
#include <gtest/gtest.h>

#include "gguf/gguf.h"
#include "gguf/gguf_writer.h"
#include "gguf_test_util.h"
#include "test_util.h"

#include <cstring>
#include <filesystem>

namespace deepcpu::test {
namespace {

using namespace gguf;

struct Fixtures {
  std::string single, split;
};

// Both fixtures, or empty strings (the caller skips).
Fixtures fixtures() {
  Fixtures f{fixture("models/stories260K.gguf"), fixture("models/stories260K-00001-of-00003.gguf")};
  if (f.single.empty() || f.split.empty()) return {};
  return f;
}


bool compared_key(const std::string& k) { return k.rfind("split.", 0) != 0 && k != "general.alignment"; }

// Same metadata (ignoring split.* and the alignment), same tensors in the same order with the same bytes.
void expect_same_model(const Model& a, const Model& b) {
  std::vector<std::string> keys_a, keys_b;
  for (const auto& k : a.metadata_order()) {
    if (compared_key(k)) keys_a.push_back(k);
  }
  for (const auto& k : b.metadata_order()) {
    if (compared_key(k)) keys_b.push_back(k);
  }
  EXPECT_EQ(keys_a, keys_b);
  for (const auto& k : keys_a) EXPECT_TRUE(*a.find(k) == *b.find(k)) << k;
  ASSERT_EQ(a.tensors().size(), b.tensors().size());
  EXPECT_EQ(a.total_tensor_bytes(), b.total_tensor_bytes());
  for (size_t i = 0; i < a.tensors().size(); ++i) {
    const TensorInfo& ta = *a.tensors()[i];
    const TensorInfo& tb = *b.tensors()[i];
    EXPECT_EQ(ta.name, tb.name);
    EXPECT_EQ(ta.type, tb.type);
    EXPECT_EQ(ta.shape_string(), tb.shape_string());
    ASSERT_EQ(ta.size_bytes, tb.size_bytes);
    EXPECT_EQ(std::memcmp(ta.data, tb.data, ta.size_bytes), 0) << ta.name;
  }
}

TEST(GgufSplit, FixtureSplitEqualsSingleFile) {
  const Fixtures fx = fixtures();
  if (fx.single.empty()) GTEST_SKIP() << "stories260K fixtures not found";
  auto single = Model::open(fx.single);
  auto split = Model::open(fx.split);
  ASSERT_TRUE(single.is_ok()) << single.status().message();
  ASSERT_TRUE(split.is_ok()) << split.status().message();
  ASSERT_EQ((*split)->files().size(), 3u);
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ((*split)->files()[i]->tensors.size(), 16u);
  EXPECT_EQ((*split)->tensors()[16]->file_idx, 1);
  EXPECT_EQ(*(*split)->get_int("split.tensors.count").value(), 48);
  expect_same_model(**single, **split);
}

TEST(GgufSplit, WriteSplitReproducesLlamaCppGgufSplit) {
  const Fixtures fx = fixtures();
  if (fx.single.empty()) GTEST_SKIP() << "stories260K fixtures not found";
  auto single = Model::open(fx.single);
  ASSERT_TRUE(single.is_ok()) << single.status().message();
  const std::string dir = temp_dir();
  auto parts = copy_of(**single).write_split(dir + "/stories260K", {.max_tensors_per_part = 16});
  ASSERT_TRUE(parts.is_ok()) << parts.status().message();
  ASSERT_EQ(parts->size(), 3u);
  const std::string prefix = fx.split.substr(0, fx.split.size() - std::string("-00001-of-00003.gguf").size());
  for (int k = 1; k <= 3; ++k) {
    EXPECT_EQ((*parts)[k - 1], split_path(dir + "/stories260K", k, 3));
    EXPECT_TRUE(read_file((*parts)[k - 1]) == read_file(split_path(prefix, k, 3)))
        << "part " << k << " differs from llama-gguf-split's";
  }
  std::filesystem::remove_all(dir);
}

TEST(GgufSplit, WriteSplitByBytesRoundTrips) {
  const Fixtures fx = fixtures();
  if (fx.single.empty()) GTEST_SKIP() << "stories260K fixtures not found";
  auto single = Model::open(fx.single);
  ASSERT_TRUE(single.is_ok());
  const std::string dir = temp_dir();
  GgufWriter w = copy_of(**single);
  w.set_u32("general.alignment", 64);  // later parts must keep it too
  auto parts = w.write_split(dir + "/m", {.max_bytes_per_part = 200000, .version = 2});
  ASSERT_TRUE(parts.is_ok()) << parts.status().message();
  EXPECT_GT(parts->size(), 5u);
  auto back = Model::open((*parts)[0]);
  ASSERT_TRUE(back.is_ok()) << back.status().message();
  for (const auto& f : (*back)->files()) {
    EXPECT_EQ(f->version, 2u);
    EXPECT_EQ(f->alignment, 64u);
    uint64_t data = 0;
    for (const auto& t : f->tensors) data += t.size_bytes;
    // A part over the limit holds one tensor bigger than the limit.
    EXPECT_TRUE(data <= 200000 || f->tensors.size() == 1) << f->path;
  }
  expect_same_model(**single, **back);
  // The CLI describes the split part by part.
  const CommandResult r = run_deepcpu("gguf '" + (*parts)[0] + "'");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("split into " + std::to_string(parts->size()) + " parts"), std::string::npos) << r.out;
  std::filesystem::remove_all(dir);
}

TEST(GgufSplit, OnePartAndNoTensors) {
  const std::string dir = temp_dir();
  GgufWriter w;
  w.set_string("general.architecture", "llama");
  auto parts = w.write_split(dir + "/v", {});
  ASSERT_TRUE(parts.is_ok()) << parts.status().message();
  ASSERT_EQ(parts->size(), 1u);
  EXPECT_EQ((*parts)[0], dir + "/v-00001-of-00001.gguf");
  auto m = Model::open((*parts)[0]);
  ASSERT_TRUE(m.is_ok()) << m.status().message();
  EXPECT_EQ(*m.value()->get_int("split.count").value(), 1);
  EXPECT_EQ(*m.value()->get_int("split.tensors.count").value(), 0);
  EXPECT_EQ(m.value()->architecture(), "llama");
  std::filesystem::remove_all(dir);
}

TEST(GgufSplit, CliOnFixtureSplit) {
  const Fixtures fx = fixtures();
  if (fx.single.empty()) GTEST_SKIP() << "stories260K fixtures not found";
  const CommandResult r = run_deepcpu("gguf '" + fx.split + "'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* needle : {"split into 3 parts", "stories260K-00003-of-00003.gguf", "split.tensors.count",
                             "total: 48 tensors, 292800 params, 1171200 bytes"}) {
    EXPECT_NE(r.out.find(needle), std::string::npos) << "no '" << needle << "' in:\n" << r.out;
  }
}

}  // namespace
}  // namespace deepcpu::test
