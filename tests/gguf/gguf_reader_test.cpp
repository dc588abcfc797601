// Reading the real stories260K fixture (numbers cross-checked with the Python reader in
// ../shared/models/PROVENANCE-real.md), typed getters, display helpers and `deepcpu gguf`.
#include <gtest/gtest.h>

#include "gguf/gguf.h"
#include "gguf_test_util.h"
#include "test_util.h"

#include <filesystem>

namespace deepcpu::test {
namespace {

using namespace gguf;

std::string stories() { return fixture("models/stories260K.gguf"); }

TEST(GgufReader, OpensStories) {
  const std::string path = stories();
  if (path.empty()) GTEST_SKIP() << "models/stories260K.gguf not found";
  auto m = Model::open(path);
  ASSERT_TRUE(m.is_ok()) << m.status().message();
  const File& f = *(*m)->files()[0];
  EXPECT_EQ(f.version, 3u);
  EXPECT_EQ(f.alignment, 32u);
  EXPECT_EQ(f.data_offset, 14176u);
  EXPECT_EQ(f.kv_order.size(), 19u);
  EXPECT_EQ(f.kv_order[0], "tokenizer.ggml.tokens");
  EXPECT_EQ((*m)->architecture(), "llama");
  ASSERT_EQ((*m)->tensors().size(), 48u);
  EXPECT_EQ((*m)->total_tensor_bytes(), 1171200u);
  EXPECT_EQ(f.data_offset + (*m)->total_tensor_bytes(), f.size_bytes);

  const TensorInfo* emb = (*m)->find_tensor("token_embd.weight");
  ASSERT_NE(emb, nullptr);
  EXPECT_EQ(emb->type, DType::kF32);
  EXPECT_EQ(emb->shape_string(), "{64, 512}");
  EXPECT_EQ(emb->size_bytes, 64u * 512 * 4);
  EXPECT_EQ(emb->data, f.bytes + f.data_offset);
  EXPECT_EQ((*m)->find_tensor("blk.4.ffn_down.weight")->shape_string(), "{172, 64}");
  EXPECT_EQ((*m)->find_tensor("nope"), nullptr);
}

TEST(GgufReader, TypedGetters) {
  const std::string path = stories();
  if (path.empty()) GTEST_SKIP() << "models/stories260K.gguf not found";
  auto m = Model::open(path);
  ASSERT_TRUE(m.is_ok()) << m.status().message();
  const Model& model = **m;
  EXPECT_EQ(*model.get_int("llama.block_count").value(), 5);
  EXPECT_EQ(*model.get_int("tokenizer.ggml.padding_token_id").value(), 4294967295);
  EXPECT_FLOAT_EQ(static_cast<float>(*model.get_float("llama.attention.layer_norm_rms_epsilon").value()), 1e-5f);
  EXPECT_EQ(*model.get_string("general.name").value(), "llama");
  EXPECT_FALSE(model.get_int("no.such.key").value().has_value());
  auto tokens = model.get_string_array("tokenizer.ggml.tokens");
  ASSERT_TRUE(tokens.is_ok());
  ASSERT_EQ(tokens->size(), 512u);
  EXPECT_EQ((*tokens)[1], "<s>");
  auto scores = model.get_number_array("tokenizer.ggml.scores");
  ASSERT_TRUE(scores.is_ok());
  EXPECT_EQ(scores->size(), 512u);
  auto types = model.get_number_array("tokenizer.ggml.token_type");
  ASSERT_TRUE(types.is_ok());
  EXPECT_EQ((*types)[0], 2.0);

  // Wrong types name the file, the key, and what was found.
  auto bad = model.get_int("general.name");
  ASSERT_FALSE(bad.is_ok());
  EXPECT_NE(bad.status().message().find(path), std::string::npos);
  EXPECT_NE(bad.status().message().find("'general.name' must be an integer, found string"), std::string::npos);
  EXPECT_FALSE(model.get_string("llama.block_count").is_ok());
  EXPECT_FALSE(model.get_bool("llama.block_count").is_ok());
  EXPECT_FALSE(model.get_string_array("tokenizer.ggml.scores").is_ok());
  EXPECT_FALSE(model.get_number_array("tokenizer.ggml.tokens").is_ok());
}

TEST(GgufReader, ParseMemoryMatchesParseFile) {
  const std::string path = stories();
  if (path.empty()) GTEST_SKIP() << "models/stories260K.gguf not found";
  const std::string bytes = read_file(path);
  auto a = parse_file(path);
  auto b = parse_memory(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "mem");
  ASSERT_TRUE(a.is_ok() && b.is_ok());
  EXPECT_EQ((*a)->kv_order, (*b)->kv_order);
  for (const auto& [key, v] : (*a)->kv) EXPECT_TRUE(v == (*b)->kv.at(key)) << key;
  ASSERT_EQ((*a)->tensors.size(), (*b)->tensors.size());
  for (size_t i = 0; i < (*a)->tensors.size(); ++i) {
    EXPECT_EQ((*a)->tensors[i].name, (*b)->tensors[i].name);
    EXPECT_EQ((*a)->tensors[i].offset, (*b)->tensors[i].offset);
  }
  EXPECT_EQ((*b)->path, "mem");
  EXPECT_EQ((*b)->map, nullptr);
}

TEST(GgufReader, ZeroTensorsAndZeroKeysIsAValidFile) {
  RawGguf g;
  g.header(0, 0);
  auto f = parse_memory(reinterpret_cast<const uint8_t*>(g.bytes.data()), g.bytes.size(), "empty");
  ASSERT_TRUE(f.is_ok()) << f.status().message();
  EXPECT_TRUE((*f)->kv.empty());
  EXPECT_TRUE((*f)->tensors.empty());
}

TEST(GgufReader, PrintableEscapesAndCuts) {
  EXPECT_EQ(printable("a\nb\t\x01\\"), "a\\nb\\t\\x01\\\\");
  EXPECT_EQ(printable(std::string(100, 'x'), 10), std::string(10, 'x') + "...");
  // Never cuts inside a UTF-8 sequence: "é" is two bytes.
  EXPECT_EQ(printable("\xc3\xa9\xc3\xa9", 1), "\xc3\xa9...");
  EXPECT_EQ(value_string("a\nb").to_string(), "\"a\\nb\"");
  EXPECT_EQ(value_string("\"").to_string(), "\"\\\"\"");
  EXPECT_EQ(value_f32(1e-5f).to_string(), "1e-05");
  EXPECT_EQ(value_u64(~uint64_t(0)).to_string(), "18446744073709551615");
  EXPECT_EQ(value_i8(-3).to_string(), "-3");
  EXPECT_EQ(value_bool(true).to_string(), "true");
  std::vector<Value> many;
  for (int i = 0; i < 10; ++i) many.push_back(value_i32(i));
  EXPECT_EQ(value_array(ValueType::kI32, many).to_string(3), "[0, 1, 2, ... (7 more)]");
}

TEST(GgufReader, SplitNameParsing) {
  auto n = parse_split_name("/m/DeepSeek-R1-Q4_K-00002-of-00015.gguf");
  ASSERT_TRUE(n.has_value());
  EXPECT_EQ(n->prefix, "/m/DeepSeek-R1-Q4_K");
  EXPECT_EQ(n->no, 2);
  EXPECT_EQ(n->count, 15);
  EXPECT_FALSE(parse_split_name("model.gguf").has_value());
  EXPECT_EQ(split_path("x", 1, 3), "x-00001-of-00003.gguf");
}

// --- deepcpu gguf ------------------------------------------------------------------

TEST(GgufCli, PrintsStories) {
  const std::string path = stories();
  if (path.empty()) GTEST_SKIP() << "models/stories260K.gguf not found";
  const CommandResult r = run_deepcpu("gguf '" + path + "'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(r.err.empty()) << r.err;
  for (const char* needle :
       {"gguf version 3, alignment 32", "not split", "metadata: 19 keys", "llama.block_count", "u32",
        "array[string; 512]", "(504 more)", "llama.attention.layer_norm_rms_epsilon", "1e-05", "tensors: 48",
        "token_embd.weight", "{64, 512}", "131072", "14176", "total: 48 tensors, 292800 params, 1171200 bytes",
        "f32         48 tensors"}) {
    EXPECT_NE(r.out.find(needle), std::string::npos) << "no '" << needle << "' in:\n" << r.out;
  }
}

TEST(GgufCli, AllShowsEveryArrayElement) {
  const std::string path = stories();
  if (path.empty()) GTEST_SKIP() << "models/stories260K.gguf not found";
  const CommandResult cut = run_deepcpu("gguf '" + path + "'");
  const CommandResult all = run_deepcpu("gguf '" + path + "' --all");
  ASSERT_EQ(all.exit_code, 0) << all.err;
  EXPECT_EQ(all.out.find("more)"), std::string::npos);
  EXPECT_GT(all.out.size(), cut.out.size() + 4000);
}

TEST(GgufCli, HelpAndUsage) {
  const CommandResult help = run_deepcpu("gguf --help");
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("--all"), std::string::npos) << help.out;
  const CommandResult none = run_deepcpu("gguf");
  EXPECT_EQ(none.exit_code, 2);
  EXPECT_FALSE(none.err.empty());
  EXPECT_EQ(run_deepcpu("gguf --bogus x").exit_code, 2);
}

TEST(GgufCli, NotAGgufFile) {
  const std::string dir = temp_dir();
  const std::string path = write_bytes(dir + "/text.gguf", "hello world, not a model\n");
  expect_rejected(path, parse_bytes(path, read_file(path)), {"not a GGUF file", "\"hell\""});
  expect_rejected(dir, Model::open(dir).status(), {"not a regular file"});
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace deepcpu::test
