// One test per kind of malformed GGUF: the reader must return a one-line Status naming the
// file, the key or tensor, and expected vs found, and `deepcpu gguf` must exit 1 with that
// line on stderr. Files are built byte by byte (RawGguf) or written and then damaged.
#include <gtest/gtest.h>

#include "gguf/gguf.h"
#include "gguf/gguf_writer.h"
#include "gguf_test_util.h"
#include "test_util.h"

#include <filesystem>

namespace deepcpu::test {
namespace {

using gguf::Model;

class GgufBadInput : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = temp_dir(); }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string path(const std::string& name) const { return dir_ + "/" + name; }
  std::string dir_;
};

TEST_F(GgufBadInput, SmallValidFileIsAccepted) {
  // The base the other cases damage must itself be fine.
  const std::string p = path("ok.gguf");
  ASSERT_TRUE(parse_bytes(p, small_valid_file().bytes).is_ok());
  EXPECT_EQ(run_deepcpu("gguf '" + p + "'").exit_code, 0);
}

TEST_F(GgufBadInput, MissingFile) {
  const std::string p = path("nope.gguf");
  auto m = Model::open(p);
  expect_rejected(p, m.status(), {"cannot open"});
}

TEST_F(GgufBadInput, EmptyFile) {
  expect_bytes_rejected(path("empty.gguf"), "", {"not a GGUF file", "0 bytes"});
}

TEST_F(GgufBadInput, BadMagic) {
  std::string b = small_valid_file().bytes;
  b[0] = 'X';
  expect_bytes_rejected(path("magic.gguf"), b, {"not a GGUF file", "\"XGUF\"", "expected \"GGUF\""});
}

TEST_F(GgufBadInput, BadVersion) {
  for (uint32_t v : {0u, 1u, 4u, 0x03000000u}) {
    RawGguf g;
    g.header(0, 0, v);
    expect_bytes_rejected(path("version.gguf"), g.bytes,
                          {"GGUF version " + std::to_string(v), "expected 2 or 3"});
  }
}

TEST_F(GgufBadInput, TruncatedHeader) {
  const std::string full = small_valid_file().bytes;
  // Inside the version, the key count, a string length, a value and a tensor info (cuts
  // elsewhere may trip the cheaper "count is impossible" checks first).
  for (size_t cut : {6u, 20u, 60u, 100u, 180u}) {
    expect_bytes_rejected(path("cut.gguf"), full.substr(0, cut), {"truncated file", "needs", "remain"});
  }
}

TEST_F(GgufBadInput, TensorPastEndOfFile) {
  const std::string full = small_valid_file().bytes;
  // Cut inside b.weight's data: the header is whole, the data is not.
  const std::string cut = full.substr(0, full.size() - 40);
  expect_bytes_rejected(path("short.gguf"), cut, {"tensor 'b.weight'", "runs past the end", "34 bytes"});
}

TEST_F(GgufBadInput, TensorOffsetPastEnd) {
  RawGguf g;
  g.header(1, 0).tensor("w", {8}, 0, 1024).pad().data(32);
  expect_bytes_rejected(path("offset.gguf"), g.bytes, {"tensor 'w'", "data offset 1024", "holds 32 bytes"});
}

TEST_F(GgufBadInput, AbsurdKeyCount) {
  RawGguf g;
  g.header(0, uint64_t(1) << 60);
  expect_bytes_rejected(path("nkv.gguf"), g.bytes, {"metadata key count 1152921504606846976", "impossible"});
}

TEST_F(GgufBadInput, AbsurdTensorCount) {
  RawGguf g;
  g.header(~uint64_t(0), 0);
  expect_bytes_rejected(path("nt.gguf"), g.bytes, {"tensor count 18446744073709551615", "impossible"});
}

TEST_F(GgufBadInput, AbsurdArrayLength) {
  RawGguf g;
  g.header(0, 1).str("tokenizer.ggml.tokens").u32(9).u32(8).u64(uint64_t(1) << 62);
  expect_bytes_rejected(path("arr.gguf"), g.bytes,
                        {"key 'tokenizer.ggml.tokens'", "array length 4611686018427387904", "impossible"});
}

TEST_F(GgufBadInput, ArrayOverTheElementBudget) {
  // 9M one-byte elements do fit in the file, but would cost ~1 GB as parsed Values.
  const uint64_t n = 9u << 20;
  RawGguf g;
  g.header(0, 1).str("big").u32(9).u32(0).u64(n).data(n, 0);
  expect_bytes_rejected(path("budget.gguf"), g.bytes, {"key 'big'", "over the limit"});
}

TEST_F(GgufBadInput, AbsurdStringLength) {
  RawGguf g;
  g.header(0, 1).str("general.name").u32(8).u64(~uint64_t(0) - 3).data(16);
  expect_bytes_rejected(path("str.gguf"), g.bytes,
                        {"key 'general.name'", "string length 18446744073709551612", "past the end"});
}

TEST_F(GgufBadInput, AbsurdKeyNameLength) {
  RawGguf g;
  g.header(0, 1).u64(uint64_t(1) << 40).data(64);
  expect_bytes_rejected(path("key.gguf"), g.bytes, {"metadata key #0", "string length 1099511627776"});
}

TEST_F(GgufBadInput, UnknownDtypeId) {
  RawGguf g;
  g.header(1, 0).tensor("w", {8}, 4, 0).pad().data(32);  // id 4 (q4_2) was removed from ggml
  expect_bytes_rejected(path("dtype.gguf"), g.bytes, {"tensor 'w'", "unknown tensor type id 4"});
}

TEST_F(GgufBadInput, UnknownValueType) {
  RawGguf g;
  g.header(0, 1).str("general.name").u32(13).u32(0);
  expect_bytes_rejected(path("vtype.gguf"), g.bytes, {"key 'general.name'", "unknown value type 13", "0-12"});
}

TEST_F(GgufBadInput, UnknownArrayElementType) {
  RawGguf g;
  g.header(0, 1).str("x").u32(9).u32(77).u64(1).u32(0);
  expect_bytes_rejected(path("etype.gguf"), g.bytes, {"key 'x'", "unknown array element type 77"});
}

TEST_F(GgufBadInput, ArraysNestedTooDeep) {
  RawGguf g;
  g.header(0, 1).str("deep").u32(9);
  for (int d = 0; d < 20; ++d) g.u32(9).u64(1);
  g.u32(0).u64(0);
  expect_bytes_rejected(path("deep.gguf"), g.bytes, {"key 'deep'", "nested deeper than 8"});
}

TEST_F(GgufBadInput, BoolOutOfRange) {
  RawGguf g;
  g.header(0, 1).str("flag").u32(7).u8(2);
  expect_bytes_rejected(path("bool.gguf"), g.bytes, {"key 'flag'", "bool value is 2", "expected 0 or 1"});
}

TEST_F(GgufBadInput, BadAlignment) {
  for (uint32_t a : {0u, 3u, 48u}) {
    RawGguf g;
    g.header(0, 1).kv_u32("general.alignment", a);
    expect_bytes_rejected(path("align.gguf"), g.bytes,
                          {"general.alignment", "is " + std::to_string(a), "power of two"});
  }
  RawGguf g;
  g.header(0, 1).kv_string("general.alignment", "32");
  expect_bytes_rejected(path("align.gguf"), g.bytes, {"general.alignment", "string", "power of two"});
}

TEST_F(GgufBadInput, MisalignedTensorOffset) {
  RawGguf g;
  g.header(1, 0).tensor("w", {8}, 0, 8).pad().data(64);
  expect_bytes_rejected(path("misaligned.gguf"), g.bytes, {"tensor 'w'", "data offset 8", "alignment 32"});
}

TEST_F(GgufBadInput, DuplicateKey) {
  RawGguf g;
  g.header(0, 2).kv_u32("llama.block_count", 1).kv_u32("llama.block_count", 2);
  expect_bytes_rejected(path("dupkey.gguf"), g.bytes, {"key 'llama.block_count'", "appears twice"});
}

TEST_F(GgufBadInput, DuplicateTensor) {
  RawGguf g;
  g.header(2, 0).tensor("w", {8}, 0, 0).tensor("w", {8}, 0, 32).pad().data(64);
  expect_bytes_rejected(path("duptensor.gguf"), g.bytes, {"tensor 'w'", "appears twice"});
}

TEST_F(GgufBadInput, OverlappingTensors) {
  RawGguf g;
  g.header(2, 0).tensor("a", {16}, 0, 0).tensor("b", {8}, 0, 32).pad().data(64);
  expect_bytes_rejected(path("overlap.gguf"), g.bytes, {"'a'", "'b'", "overlap"});
}

TEST_F(GgufBadInput, ZeroDimensionCount) {
  RawGguf g;
  g.header(1, 0).str("w").u32(0).u32(0).u64(0).pad().data(32);
  expect_bytes_rejected(path("ndims0.gguf"), g.bytes, {"tensor 'w'", "0 dimensions", "expected 1 to 4"});
}

TEST_F(GgufBadInput, TooManyDimensions) {
  RawGguf g;
  g.header(1, 0).tensor("w", {1, 1, 1, 1, 2}, 0, 0).pad().data(32);
  expect_bytes_rejected(path("ndims5.gguf"), g.bytes, {"tensor 'w'", "5 dimensions", "expected 1 to 4"});
}

TEST_F(GgufBadInput, ZeroDimension) {
  RawGguf g;
  g.header(1, 0).tensor("w", {8, 0}, 0, 0).pad().data(32);
  expect_bytes_rejected(path("dim0.gguf"), g.bytes, {"tensor 'w'", "dimension 1 is 0", "at least 1"});
}

TEST_F(GgufBadInput, AbsurdDimensions) {
  RawGguf g;
  g.header(1, 0).tensor("w", {uint64_t(1) << 40, uint64_t(1) << 40, 2, 2}, 0, 0).pad().data(32);
  expect_bytes_rejected(path("huge.gguf"), g.bytes, {"tensor 'w'", "over 2^50 elements"});
}

TEST_F(GgufBadInput, RowNotMultipleOfBlockSize) {
  RawGguf g;
  g.header(1, 0).tensor("w", {48, 2}, 8, 0).pad().data(128);
  expect_bytes_rejected(path("block.gguf"), g.bytes,
                        {"tensor 'w'", "row length 48", "not a multiple", "q8_0 block size 32"});
}

TEST_F(GgufBadInput, HostileNameStaysOneLine) {
  RawGguf g;
  g.header(0, 1).str(std::string("evil\nkey") + std::string(500, 'x')).u32(99);
  const std::string p = path("evil.gguf");
  expect_bytes_rejected(p, g.bytes, {"evil\\nkey", "...", "unknown value type 99"});
  EXPECT_LT(parse_bytes(p, g.bytes).message().size(), 400u);
}

// --- split models ----------------------------------------------------------------------

class GgufBadSplit : public GgufBadInput {
 protected:
  // A 3-part split of the small file's two tensors plus one more, written by GgufWriter.
  std::string write_split() {
    gguf::GgufWriter w;
    w.set_string("general.architecture", "llama");
    static const float data[8] = {};
    const int64_t ne[] = {8};
    for (const char* name : {"t0", "t1", "t2"}) EXPECT_TRUE(w.add_tensor(name, DType::kF32, ne, data).is_ok());
    auto parts = w.write_split(path("m"), {.max_tensors_per_part = 1});
    EXPECT_TRUE(parts.is_ok()) << parts.status().message();
    EXPECT_EQ(parts->size(), 3u);
    return (*parts)[0];
  }
  // A replacement part k (1-based) of 3 with the given split keys and one tensor.
  void replace_part(int k, uint16_t no, uint16_t count, int32_t n_tensors, const std::string& tensor) {
    RawGguf g;
    g.header(1, 3).kv_u16("split.no", no).kv_i32("split.tensors.count", n_tensors).kv_u16("split.count", count);
    g.tensor(tensor, {8}, 0, 0).pad().data(32);
    write_bytes(gguf::split_path(path("m"), k, 3), g.bytes);
  }
};

TEST_F(GgufBadSplit, ValidSplitOpens) {
  auto m = Model::open(write_split());
  ASSERT_TRUE(m.is_ok()) << m.status().message();
  EXPECT_EQ((*m)->tensors().size(), 3u);
}

TEST_F(GgufBadSplit, PartMissing) {
  const std::string first = write_split();
  std::filesystem::remove(gguf::split_path(path("m"), 3, 3));
  auto m = Model::open(first);
  expect_rejected(first, m.status(), {"split part 3 of 3 is missing", "m-00003-of-00003.gguf", "cannot open"});
}

TEST_F(GgufBadSplit, PartIsCorrupt) {
  const std::string first = write_split();
  write_bytes(gguf::split_path(path("m"), 2, 3), "GGUF");
  auto m = Model::open(first);
  expect_rejected(first, m.status(), {"split part 2 of 3", "m-00002-of-00003.gguf", "truncated file"});
}

TEST_F(GgufBadSplit, SplitNoMismatch) {
  const std::string first = write_split();
  replace_part(2, 2, 3, 3, "t1");
  auto m = Model::open(first);
  expect_rejected(first, m.status(), {"m-00002-of-00003.gguf", "split mismatch", "expected split.no=1",
                                      "found split.no=2"});
}

TEST_F(GgufBadSplit, SplitCountMismatch) {
  const std::string first = write_split();
  replace_part(3, 2, 4, 3, "t2");
  auto m = Model::open(first);
  expect_rejected(first, m.status(), {"m-00003-of-00003.gguf", "split mismatch", "split.count=3", "split.count=4"});
}

TEST_F(GgufBadSplit, TensorsCountWrong) {
  const std::string first = write_split();
  RawGguf g;  // part 1 claiming 5 tensors in all, the other parts unchanged (saying 3)
  g.header(1, 3).kv_u16("split.no", 0).kv_i32("split.tensors.count", 5).kv_u16("split.count", 3);
  g.tensor("t0", {8}, 0, 0).pad().data(32);
  write_bytes(first, g.bytes);
  auto m = Model::open(first);
  expect_rejected(first, m.status(), {"m-00002-of-00003.gguf", "split.tensors.count is 3", "but 5 in part 1"});

  // Every part agreeing on a wrong total.
  replace_part(2, 1, 3, 5, "t1");
  replace_part(3, 2, 3, 5, "t2");
  m = Model::open(first);
  expect_rejected(first, m.status(), {"split.tensors.count says 5 tensors", "3 part(s) hold 3"});
}

TEST_F(GgufBadSplit, TensorInTwoParts) {
  const std::string first = write_split();
  replace_part(3, 2, 3, 3, "t1");
  auto m = Model::open(first);
  expect_rejected(first, m.status(), {"tensor 't1' appears twice", "part 2", "part 3"});
}

TEST_F(GgufBadSplit, OpeningALaterPart) {
  write_split();
  const std::string second = gguf::split_path(path("m"), 2, 3);
  auto m = Model::open(second);
  expect_rejected(second, m.status(), {"part 2 of a 3-part split", "open part 1"});
}

TEST_F(GgufBadSplit, RenamedFirstPart) {
  const std::string first = write_split();
  const std::string renamed = path("renamed.gguf");
  std::filesystem::rename(first, renamed);
  auto m = Model::open(renamed);
  expect_rejected(renamed, m.status(), {"split.count says 3 parts", "-00001-of-00003.gguf"});
}

TEST_F(GgufBadSplit, SplitNoOutOfRange) {
  RawGguf g;
  g.header(0, 2).kv_u16("split.no", 7).kv_u16("split.count", 3);
  expect_bytes_rejected(path("x-00001-of-00003.gguf"), g.bytes, {"split.no is 7", "expected 0 to 2"});
}

}  // namespace
}  // namespace deepcpu::test
