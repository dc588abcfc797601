// Reads byte ranges of a file for data that is copied once at load (weights being
// repacked). What is already in the page cache is copied from it; what is not is read
// with O_DIRECT, around the cache. Reading a cold 6 GB model through the mapping put
// 6 GB in the page cache beside the 6 GB packed copy, and on a VM every fresh page of
// either costs a fault in the host: the copy is the only one we keep, so it is the only
// one we should pay for.
#pragma once

#include "base/status.h"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace deepcpu {

// A growable buffer aligned for O_DIRECT; one per reading thread, reused.
class ReadBuffer {
 public:
  ReadBuffer() = default;
  ~ReadBuffer();
  ReadBuffer(const ReadBuffer&) = delete;
  ReadBuffer& operator=(const ReadBuffer&) = delete;
  ReadBuffer(ReadBuffer&& o) noexcept;
  ReadBuffer& operator=(ReadBuffer&& o) noexcept;
  // At least `bytes`, aligned to 4096; nullptr when out of memory.
  uint8_t* reserve(size_t bytes);

 private:
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

struct ReadStats {
  size_t cached_bytes = 0;  // copied from the page cache
  size_t direct_bytes = 0;  // read around it (O_DIRECT, or buffered then dropped)
};

class FileReader {
 public:
  // `map`: the same file mapped whole (MappedFile), which tells through mincore() which
  // pages are cached; without it every read goes around the cache. mincore() reports the
  // cache only for files the user owns or may write (others read around it: correct, slower).
  static Result<std::unique_ptr<FileReader>> open(const std::string& path, const uint8_t* map = nullptr);
  ~FileReader();
  FileReader(const FileReader&) = delete;
  FileReader& operator=(const FileReader&) = delete;

  // Reads [offset, offset + n) and returns where those bytes start inside `buf`.
  // Thread-safe (pread only). `stats`, when given, is added to (not thread-safe itself).
  Result<const uint8_t*> read(uint64_t offset, size_t n, ReadBuffer* buf, ReadStats* stats = nullptr) const;
  bool direct() const { return direct_fd_ >= 0; }
  const std::string& path() const { return path_; }

 private:
  FileReader() = default;
  bool resident(uint64_t a0, uint64_t a1) const;  // every page of [a0, a1) is cached
  std::string path_;
  const uint8_t* map_ = nullptr;
  uint64_t size_ = 0;
  int fd_ = -1;         // buffered
  int direct_fd_ = -1;  // O_DIRECT, or -1 where the filesystem refuses it (tmpfs)
};

}  // namespace deepcpu
