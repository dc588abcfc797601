// GgufWriter: every value type and nested arrays survive a write/read round trip in v2
// and v3; tensors land at the alignment; streaming callbacks are held to their size;
// failures leave no file behind; rewriting stories260K reproduces llama.cpp's bytes.
#include <gtest/gtest.h>

#include "gguf/gguf.h"
#include "gguf/gguf_writer.h"
#include "gguf_test_util.h"
#include "test_util.h"

#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>

namespace deepcpu::test {
namespace {

using namespace gguf;

class GgufWriterTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = temp_dir(); }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string path(const std::string& name) const { return dir_ + "/" + name; }
  std::string dir_;
};
// The GGUF version to write: 2 or 3.
class GgufWriterVersionTest : public GgufWriterTest, public ::testing::WithParamInterface<uint32_t> {};

// Every type at its edges, and arrays of every type including arrays of arrays.
GgufWriter all_types_writer() {
  GgufWriter w;
  w.set_u8("t.u8", 255);
  w.set_i8("t.i8", -128);
  w.set_u16("t.u16", 65535);
  w.set_i16("t.i16", -32768);
  w.set_u32("t.u32", 4294967295u);
  w.set_i32("t.i32", std::numeric_limits<int32_t>::min());
  w.set_u64("t.u64", std::numeric_limits<uint64_t>::max());
  w.set_i64("t.i64", std::numeric_limits<int64_t>::min());
  w.set_f32("t.f32", 1e-5f);
  w.set_f64("t.f64", -1.2345678901234567e300);
  w.set_bool("t.bool.true", true);
  w.set_bool("t.bool.false", false);
  w.set_string("t.string", "h\xc3\xa9llo\n\"world\"");
  w.set_string("t.string.empty", "");
  w.set_string("t.string.nul", std::string("a\0b", 3));
  w.set_string_array("t.arr.string", {"<unk>", "", "\xe2\x96\x81the"});
  w.set_i32_array("t.arr.i32", std::vector<int32_t>{1, -2, 3});
  w.set_f32_array("t.arr.f32", std::vector<float>{0.5f, -0.25f});
  w.set_array("t.arr.u8", ValueType::kU8, {value_u8(0), value_u8(255)});
  w.set_array("t.arr.i8", ValueType::kI8, {value_i8(-1)});
  w.set_array("t.arr.u16", ValueType::kU16, {value_u16(7)});
  w.set_array("t.arr.i16", ValueType::kI16, {value_i16(-7)});
  w.set_array("t.arr.u32", ValueType::kU32, {value_u32(7)});
  w.set_array("t.arr.u64", ValueType::kU64, {value_u64(1ull << 63)});
  w.set_array("t.arr.i64", ValueType::kI64, {value_i64(-(1ll << 62))});
  w.set_array("t.arr.f64", ValueType::kF64, {value_f64(3.5)});
  w.set_array("t.arr.bool", ValueType::kBool, {value_bool(true), value_bool(false)});
  w.set_array("t.arr.empty", ValueType::kF32, {});
  w.set_array("t.arr.nested", ValueType::kArray,
              {value_array(ValueType::kI32, {value_i32(1), value_i32(2)}), value_array(ValueType::kString, {}),
               value_array(ValueType::kArray, {value_array(ValueType::kString, {value_string("deep")})})});
  return w;
}

TEST_P(GgufWriterVersionTest, RoundTripsEveryValueType) {
  const GgufWriter w = all_types_writer();
  const std::string p = path("types.gguf");
  ASSERT_TRUE(w.write(p, GetParam()).is_ok());
  auto f = parse_file(p);
  ASSERT_TRUE(f.is_ok()) << f.status().message();
  EXPECT_EQ((*f)->version, GetParam());
  EXPECT_EQ((*f)->kv_order, w.keys());
  for (const std::string& key : w.keys()) {
    ASSERT_TRUE((*f)->kv.count(key)) << key;
    EXPECT_TRUE((*f)->kv.at(key) == *w.find(key)) << key << ": " << (*f)->kv.at(key).to_string();
  }
  const Value& nested = (*f)->kv.at("t.arr.nested");
  ASSERT_EQ(nested.array.size(), 3u);
  EXPECT_EQ(nested.array[2].array[0].array[0].s, "deep");
  EXPECT_EQ((*f)->kv.at("t.string.nul").s.size(), 3u);
  EXPECT_EQ((*f)->kv.at("t.u64").u, std::numeric_limits<uint64_t>::max());
  EXPECT_EQ((*f)->kv.at("t.f32").f, static_cast<double>(1e-5f));
  EXPECT_TRUE((*f)->tensors.empty());
}

TEST_P(GgufWriterVersionTest, RoundTripsTensorsAtTheAlignment) {
  for (uint32_t alignment : {0u, 1u, 64u, 4096u}) {  // 0: key absent, default 32
    GgufWriter w;
    w.set_string("general.architecture", "llama");
    if (alignment) w.set_u32("general.alignment", alignment);
    std::vector<float> a(3 * 5);
    for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<float>(i) * 0.5f;
    std::vector<uint8_t> q(2 * 34 * 2);
    for (size_t i = 0; i < q.size(); ++i) q[i] = static_cast<uint8_t>(i * 7);
    std::vector<uint16_t> h(7);
    const int64_t ne_a[] = {3, 5}, ne_q[] = {64, 2}, ne_h[] = {7, 1, 1, 1};
    ASSERT_TRUE(w.add_tensor("a", DType::kF32, ne_a, a.data()).is_ok());
    ASSERT_TRUE(w.add_tensor("q", DType::kQ8_0, ne_q, q.data()).is_ok());
    ASSERT_TRUE(w.add_tensor("h", DType::kF16, ne_h, h.data()).is_ok());
    const std::string p = path("tensors.gguf");
    ASSERT_TRUE(w.write(p, GetParam()).is_ok());
    auto f = parse_file(p);
    ASSERT_TRUE(f.is_ok()) << f.status().message();
    const uint64_t expect_alignment = alignment ? alignment : 32;
    EXPECT_EQ((*f)->alignment, expect_alignment);
    EXPECT_EQ((*f)->data_offset % expect_alignment, 0u);
    ASSERT_EQ((*f)->tensors.size(), 3u);
    const TensorInfo& ta = (*f)->tensors[0];
    const TensorInfo& tq = (*f)->tensors[1];
    const TensorInfo& th = (*f)->tensors[2];
    EXPECT_EQ(ta.name, "a");
    EXPECT_EQ(ta.shape_string(), "{3, 5}");
    EXPECT_EQ(tq.type, DType::kQ8_0);
    EXPECT_EQ(tq.size_bytes, q.size());
    EXPECT_EQ(th.n_dims, 4);
    for (const TensorInfo* t : {&ta, &tq, &th}) EXPECT_EQ(t->offset % expect_alignment, 0u) << t->name;
    EXPECT_EQ(std::memcmp(ta.data, a.data(), a.size() * 4), 0);
    EXPECT_EQ(std::memcmp(tq.data, q.data(), q.size()), 0);
    EXPECT_EQ(std::memcmp(th.data, h.data(), h.size() * 2), 0);
  }
}

INSTANTIATE_TEST_SUITE_P(Gguf, GgufWriterVersionTest, ::testing::Values(2u, 3u),
                         [](const auto& info) { return "v" + std::to_string(info.param); });

TEST_F(GgufWriterTest, SettingAKeyAgainKeepsItsPlace) {
  GgufWriter w;
  w.set_u32("a", 1);
  w.set_u32("b", 2);
  w.set_string("a", "now a string");
  EXPECT_EQ(w.keys(), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(w.find("a")->s, "now a string");
  w.remove("a");
  EXPECT_EQ(w.keys(), (std::vector<std::string>{"b"}));
  EXPECT_EQ(w.find("a"), nullptr);
}

TEST_F(GgufWriterTest, StreamsTensorDataFromACallback) {
  GgufWriter w;
  const int64_t ne[] = {256, 4};  // 4 rows written one at a time
  ASSERT_TRUE(w.add_tensor("s", DType::kF32, ne, [](TensorSink& sink) -> Status {
                 std::vector<float> row(256);
                 for (int r = 0; r < 4; ++r) {
                   for (int i = 0; i < 256; ++i) row[i] = static_cast<float>(r * 1000 + i);
                   DEEPCPU_RETURN_IF_ERROR(sink.write(row.data(), row.size() * sizeof(float)));
                 }
                 return Status::ok();
               }).is_ok());
  const std::string p = path("stream.gguf");
  ASSERT_TRUE(w.write(p).is_ok());
  auto f = parse_file(p);
  ASSERT_TRUE(f.is_ok()) << f.status().message();
  const float* d = reinterpret_cast<const float*>((*f)->tensors[0].data);
  EXPECT_EQ(d[0], 0.0f);
  EXPECT_EQ(d[3 * 256 + 5], 3005.0f);
}

TEST_F(GgufWriterTest, ShortOrLongCallbackFailsAndLeavesNoFile) {
  const int64_t ne[] = {8};
  for (size_t n_bytes : {16u, 40u}) {
    GgufWriter w;
    ASSERT_TRUE(w.add_tensor("s", DType::kF32, ne, [n_bytes](TensorSink& sink) {
                   std::vector<char> b(n_bytes);
                   return sink.write(b.data(), b.size());
                 }).is_ok());
    const std::string p = path("bad.gguf");
    const Status st = w.write(p);
    ASSERT_FALSE(st.is_ok());
    EXPECT_NE(st.message().find("tensor 's'"), std::string::npos) << st.message();
    EXPECT_NE(st.message().find("32"), std::string::npos) << st.message();
    EXPECT_TRUE(std::filesystem::is_empty(dir_)) << "a temp or partial file was left behind";
  }
}

TEST_F(GgufWriterTest, CallbackErrorIsPassedOn) {
  GgufWriter w;
  const int64_t ne[] = {8};
  ASSERT_TRUE(w.add_tensor("s", DType::kF32, ne, [](TensorSink&) { return error("quantizer ran out of tea"); })
                  .is_ok());
  const Status st = w.write(path("x.gguf"));
  EXPECT_NE(st.message().find("ran out of tea"), std::string::npos) << st.message();
  EXPECT_TRUE(std::filesystem::is_empty(dir_));
}

TEST_F(GgufWriterTest, ReplacesAnExistingFileAtomically) {
  const std::string p = path("m.gguf");
  write_bytes(p, "old contents");
  GgufWriter w;
  w.set_u32("x", 1);
  ASSERT_TRUE(w.write(p).is_ok());
  EXPECT_TRUE(parse_file(p).is_ok());
  // A failing write leaves the previous file untouched.
  w.set_u32("general.alignment", 3);
  EXPECT_FALSE(w.write(p).is_ok());
  EXPECT_TRUE(parse_file(p).is_ok());
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir_), {}), 1);
}

TEST_F(GgufWriterTest, UnwritableDirectoryNamesThePath) {
  GgufWriter w;
  const std::string p = path("no/such/dir/m.gguf");
  const Status st = w.write(p);
  ASSERT_FALSE(st.is_ok());
  EXPECT_NE(st.message().find(p), std::string::npos) << st.message();
}

TEST_F(GgufWriterTest, RejectsBadTensors) {
  GgufWriter w;
  const float data[64] = {};
  const int64_t ok[] = {8}, five[] = {1, 1, 1, 1, 1}, zero[] = {8, 0}, q_bad[] = {48};
  ASSERT_TRUE(w.add_tensor("a", DType::kF32, ok, data).is_ok());
  auto msg = [&](const Status& st) { return st.is_ok() ? std::string("accepted") : st.message(); };
  EXPECT_NE(msg(w.add_tensor("a", DType::kF32, ok, data)).find("added twice"), std::string::npos);
  EXPECT_NE(msg(w.add_tensor("b", DType::kF32, std::span<const int64_t>(), data)).find("0 dimensions"),
            std::string::npos);
  EXPECT_NE(msg(w.add_tensor("b", DType::kF32, five, data)).find("5 dimensions"), std::string::npos);
  EXPECT_NE(msg(w.add_tensor("b", DType::kF32, zero, data)).find("dimension 1 is 0"), std::string::npos);
  EXPECT_NE(msg(w.add_tensor("b", DType::kQ8_0, q_bad, data)).find("not a multiple of the q8_0 block size 32"),
            std::string::npos);
  EXPECT_NE(msg(w.add_tensor("", DType::kF32, ok, data)).find("needs a name"), std::string::npos);
  EXPECT_NE(msg(w.add_tensor("b", DType::kF32, ok, static_cast<const void*>(nullptr))).find("null"),
            std::string::npos);
  EXPECT_EQ(w.n_tensors(), 1u);
}

TEST_F(GgufWriterTest, RejectsBadMetadata) {
  {
    GgufWriter w;
    w.set_array("mixed", ValueType::kI32, {value_i32(1), value_string("two")});
    const Status st = w.write(path("m.gguf"));
    ASSERT_FALSE(st.is_ok());
    EXPECT_NE(st.message().find("key 'mixed': array element 1 is string, expected i32"), std::string::npos)
        << st.message();
  }
  {
    GgufWriter w;
    w.set_u32("general.alignment", 48);
    const Status st = w.write(path("m.gguf"));
    ASSERT_FALSE(st.is_ok());
    EXPECT_NE(st.message().find("general.alignment is 48"), std::string::npos) << st.message();
  }
  {
    GgufWriter w;
    w.set_u32("", 1);
    EXPECT_FALSE(w.write(path("m.gguf")).is_ok());
  }
  EXPECT_FALSE(GgufWriter().write(path("m.gguf"), 1).is_ok());
  EXPECT_TRUE(std::filesystem::is_empty(dir_));
}


TEST_F(GgufWriterTest, RewritingStoriesReproducesTheFileByteForByte) {
  const std::string src = fixture("models/stories260K.gguf");
  if (src.empty()) GTEST_SKIP() << "models/stories260K.gguf not found";
  auto m = Model::open(src);
  ASSERT_TRUE(m.is_ok()) << m.status().message();
  const std::string p = path("copy.gguf");
  ASSERT_TRUE(copy_of(**m).write(p).is_ok());
  // llama.cpp's converter wrote the original; same layout rules give the same bytes.
  EXPECT_TRUE(read_file(p) == read_file(src)) << "rewritten stories260K differs from the original";
}

}  // namespace
}  // namespace deepcpu::test
