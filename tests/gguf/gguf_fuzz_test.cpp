// Deterministic fuzzing of the reader: random truncations and byte changes of a small
// written file and of stories260K's header. Every parse must return (ok or an error with a
// message); ASan/UBSan builds catch any read outside the buffer, which is why truncated
// inputs are copied into buffers of exactly their size.
#include <gtest/gtest.h>

#include "gguf/gguf.h"
#include "gguf/gguf_writer.h"
#include "gguf_test_util.h"
#include "test_util.h"

#include <filesystem>
#include <random>

namespace deepcpu::test {
namespace {

using namespace gguf;

constexpr uint32_t kSeed = 20250207;

// Parses `bytes[0, n)` from a heap buffer of exactly n bytes; checks the outcome is sane.
void parse_exact(const uint8_t* bytes, size_t n) {
  std::vector<uint8_t> copy(bytes, bytes + n);
  auto f = parse_memory(copy.data(), copy.size(), "fuzz.gguf");
  if (!f.is_ok()) {
    ASSERT_FALSE(f.status().message().empty());
    ASSERT_EQ(f.status().message().rfind("fuzz.gguf: ", 0), 0u) << f.status().message();
    return;
  }
  for (const TensorInfo& t : (*f)->tensors) {
    ASSERT_GE(t.data, copy.data());
    ASSERT_LE(t.data + t.size_bytes, copy.data() + copy.size()) << t.name;
  }
}

// Parses `buf` in place (the caller mutates and restores it).
void parse_in_place(const std::vector<uint8_t>& buf) {
  auto f = parse_memory(buf.data(), buf.size(), "fuzz.gguf");
  if (!f.is_ok()) {
    ASSERT_FALSE(f.status().message().empty());
    return;
  }
  for (const TensorInfo& t : (*f)->tensors) {
    ASSERT_LE(t.data + t.size_bytes, buf.data() + buf.size()) << t.name;
    (void)(*f)->kv.size();
  }
  for (const auto& [key, v] : (*f)->kv) (void)v.to_string();  // display must cope with anything
}

// A small file with every value type, nested arrays and three tensors.
std::vector<uint8_t> small_file() {
  GgufWriter w;
  w.set_string("general.architecture", "llama");
  w.set_u32("llama.block_count", 2);
  w.set_f32("llama.rope.freq_base", 10000.0f);
  w.set_bool("flag", true);
  w.set_i64("big", -5);
  w.set_string_array("tokenizer.ggml.tokens", {"<unk>", "<s>", "a", "bc"});
  w.set_array("nested", ValueType::kArray,
              {value_array(ValueType::kU16, {value_u16(1), value_u16(2)}), value_array(ValueType::kF64, {})});
  static const float a[16] = {1, 2, 3};
  static const uint8_t q[34 * 2] = {};
  const int64_t ne_a[] = {4, 4}, ne_q[] = {32, 2}, ne_b[] = {2, 2, 2, 2};
  EXPECT_TRUE(w.add_tensor("a", DType::kF32, ne_a, a).is_ok());
  EXPECT_TRUE(w.add_tensor("q", DType::kQ8_0, ne_q, q).is_ok());
  EXPECT_TRUE(w.add_tensor("b", DType::kF32, ne_b, a).is_ok());
  const std::string dir = temp_dir();
  EXPECT_TRUE(w.write(dir + "/small.gguf").is_ok());
  const std::string bytes = read_file(dir + "/small.gguf");
  std::filesystem::remove_all(dir);
  return std::vector<uint8_t>(bytes.begin(), bytes.end());
}

// Values that make counts and lengths interesting: zero, one, huge, sign bits.
uint8_t random_byte(std::mt19937& rng) {
  static const uint8_t special[] = {0x00, 0x01, 0x02, 0x04, 0x08, 0x09, 0x0c, 0x0d, 0x20, 0x7f, 0x80, 0xfe, 0xff};
  std::uniform_int_distribution<int> pick(0, 3);
  if (pick(rng) == 0) return special[std::uniform_int_distribution<size_t>(0, sizeof(special) - 1)(rng)];
  return static_cast<uint8_t>(std::uniform_int_distribution<int>(0, 255)(rng));
}

void fuzz_flips(std::vector<uint8_t> buf, size_t region, int iterations, std::mt19937& rng) {
  std::uniform_int_distribution<size_t> where(0, region - 1);
  std::uniform_int_distribution<int> how_many(1, 4);
  for (int it = 0; it < iterations; ++it) {
    const int n = how_many(rng);
    std::vector<std::pair<size_t, uint8_t>> saved;
    for (int k = 0; k < n; ++k) {
      const size_t pos = where(rng);
      saved.emplace_back(pos, buf[pos]);
      buf[pos] = random_byte(rng);
    }
    ASSERT_NO_FATAL_FAILURE(parse_in_place(buf)) << "iteration " << it;
    for (auto r = saved.rbegin(); r != saved.rend(); ++r) buf[r->first] = r->second;
  }
}

TEST(GgufFuzz, EveryTruncationOfASmallFile) {
  const std::vector<uint8_t> file = small_file();
  ASSERT_GT(file.size(), 200u);
  for (size_t n = 0; n < file.size(); ++n) {
    ASSERT_NO_FATAL_FAILURE(parse_exact(file.data(), n)) << "length " << n;
  }
  parse_exact(file.data(), file.size());
  auto f = parse_memory(file.data(), file.size(), "x");
  EXPECT_TRUE(f.is_ok()) << f.status().message();
}

TEST(GgufFuzz, ByteChangesOfASmallFile) {
  std::mt19937 rng(kSeed);
  const std::vector<uint8_t> file = small_file();
  fuzz_flips(file, file.size(), 4000, rng);
}

TEST(GgufFuzz, ByteChangesThenTruncationOfASmallFile) {
  std::mt19937 rng(kSeed + 1);
  std::vector<uint8_t> file = small_file();
  std::uniform_int_distribution<size_t> where(0, file.size() - 1);
  for (int it = 0; it < 1500; ++it) {
    std::vector<uint8_t> b = file;
    b[where(rng)] = random_byte(rng);
    b[where(rng)] = random_byte(rng);
    ASSERT_NO_FATAL_FAILURE(parse_exact(b.data(), where(rng))) << "iteration " << it;
  }
}

TEST(GgufFuzz, StoriesHeader) {
  const std::string path = fixture("models/stories260K.gguf");
  if (path.empty()) GTEST_SKIP() << "models/stories260K.gguf not found";
  const std::string bytes = read_file(path);
  std::vector<uint8_t> file(bytes.begin(), bytes.end());
  const size_t header = 14176;  // start of the tensor data (see GgufReader.OpensStories)
  std::mt19937 rng(kSeed + 2);
  fuzz_flips(file, header, 1500, rng);
  // Random cuts anywhere in the header and a little past it.
  std::uniform_int_distribution<size_t> cut(0, header + 4096);
  for (int it = 0; it < 300; ++it) {
    ASSERT_NO_FATAL_FAILURE(parse_exact(file.data(), cut(rng))) << "iteration " << it;
  }
  std::vector<uint8_t> tail(file);
  std::mt19937 rng2(kSeed + 3);
  std::uniform_int_distribution<size_t> in_table(11000, header - 1);
  for (int it = 0; it < 1000; ++it) {
    const size_t pos = in_table(rng2);
    const uint8_t old = tail[pos];
    tail[pos] = random_byte(rng2);
    ASSERT_NO_FATAL_FAILURE(parse_in_place(tail)) << "iteration " << it;
    tail[pos] = old;
  }
}

}  // namespace
}  // namespace deepcpu::test
