// FileReader: every range (aligned or not, first and last bytes, one byte, the whole
// file) reads back the file's bytes, on each path: from the page cache (a mapping says
// the pages are cached), around it (O_DIRECT, no mapping), and buffered-then-dropped
// where the filesystem refuses O_DIRECT (tmpfs); a range past the end is an error
// naming the file; one buffer serves reads of growing size.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "runtime/file_reader.h"
#include "runtime/mapped_file.h"

namespace deepcpu {
namespace {

std::vector<uint8_t> write_random_file(const std::string& path, size_t n) {
  std::vector<uint8_t> bytes(n);
  std::mt19937 rng(42);
  for (auto& b : bytes) b = static_cast<uint8_t>(rng());
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), n);
  return bytes;
}

void expect_ranges_read_back(const FileReader& reader, const std::vector<uint8_t>& bytes, ReadStats* stats) {
  const size_t n = bytes.size();
  const std::vector<std::pair<size_t, size_t>> ranges = {
      {0, n}, {0, 1}, {n - 1, 1}, {0, 4096}, {4096, 4096}, {31, 100000}, {4095, 2}, {n - 5000, 5000}, {12345, 0},
      {777, 1 << 20}, {(1 << 20) + 3, (1 << 20) + 4093}};
  ReadBuffer buf;
  for (const auto& [off, len] : ranges) {
    auto got = reader.read(off, len, &buf, stats);
    ASSERT_TRUE(got) << got.status().message();
    ASSERT_EQ(std::memcmp(got.value(), bytes.data() + off, len), 0) << "offset " << off << " length " << len;
  }
}

class FileReaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("deepcpu_file_reader_" + std::to_string(getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path dir_;
  static constexpr size_t kSize = (3 << 20) + 123;  // not a whole number of pages
};

TEST_F(FileReaderTest, CachedRangesComeFromTheCache) {
  const std::string path = (dir_ / "cached.bin").string();
  const auto bytes = write_random_file(path, kSize);  // just written: every page cached
  auto map = MappedFile::open(path);
  ASSERT_TRUE(map);
  auto reader = FileReader::open(path, map.value()->data());
  ASSERT_TRUE(reader) << reader.status().message();
  ReadStats stats;
  expect_ranges_read_back(*reader.value(), bytes, &stats);
  EXPECT_GT(stats.cached_bytes, 0u);
}

TEST_F(FileReaderTest, WithoutAMappingRangesAreReadAroundTheCache) {
  const std::string path = (dir_ / "direct.bin").string();
  const auto bytes = write_random_file(path, kSize);
  auto reader = FileReader::open(path);
  ASSERT_TRUE(reader) << reader.status().message();
  ReadStats stats;
  expect_ranges_read_back(*reader.value(), bytes, &stats);
  EXPECT_EQ(stats.cached_bytes, 0u);
  EXPECT_GT(stats.direct_bytes, 0u);
}

TEST_F(FileReaderTest, WorksWhereTheFilesystemRefusesODirect) {
  if (!std::filesystem::is_directory("/dev/shm")) GTEST_SKIP() << "no /dev/shm (tmpfs) on this machine";
  const std::string path = "/dev/shm/deepcpu_file_reader_" + std::to_string(getpid()) + ".bin";
  const auto bytes = write_random_file(path, kSize);
  auto reader = FileReader::open(path);
  ASSERT_TRUE(reader) << reader.status().message();
  expect_ranges_read_back(*reader.value(), bytes, nullptr);
  std::remove(path.c_str());
}

TEST_F(FileReaderTest, RangePastTheEndIsAnErrorNamingTheFile) {
  const std::string path = (dir_ / "short.bin").string();
  write_random_file(path, 1000);
  auto reader = FileReader::open(path);
  ASSERT_TRUE(reader);
  ReadBuffer buf;
  for (const auto& [off, len] : std::vector<std::pair<size_t, size_t>>{{0, 1001}, {1000, 1}, {5000, 10}, {1, SIZE_MAX}}) {
    auto got = reader.value()->read(off, len, &buf);
    ASSERT_FALSE(got) << off << "+" << len;
    EXPECT_NE(got.status().message().find("short.bin"), std::string::npos) << got.status().message();
  }
  EXPECT_TRUE(reader.value()->read(0, 1000, &buf));
}

TEST_F(FileReaderTest, MissingFileIsAnError) {
  auto reader = FileReader::open((dir_ / "nope.bin").string());
  ASSERT_FALSE(reader);
  EXPECT_NE(reader.status().message().find("nope.bin"), std::string::npos);
}

}  // namespace
}  // namespace deepcpu
