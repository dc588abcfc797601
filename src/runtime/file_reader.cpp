#include "runtime/file_reader.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <utility>
#include <vector>

namespace deepcpu {

namespace {
constexpr uint64_t kAlign = 4096;  // O_DIRECT wants offsets, lengths and addresses on this
uint64_t align_down(uint64_t x) { return x & ~(kAlign - 1); }
uint64_t align_up(uint64_t x) { return (x + kAlign - 1) & ~(kAlign - 1); }
}  // namespace

ReadBuffer::~ReadBuffer() { std::free(data_); }

ReadBuffer::ReadBuffer(ReadBuffer&& o) noexcept
    : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)) {}

ReadBuffer& ReadBuffer::operator=(ReadBuffer&& o) noexcept {
  if (this != &o) {
    std::free(data_);
    data_ = std::exchange(o.data_, nullptr);
    size_ = std::exchange(o.size_, 0);
  }
  return *this;
}

uint8_t* ReadBuffer::reserve(size_t bytes) {
  if (bytes <= size_) return data_;
  const size_t want = align_up(std::max(bytes, size_ + size_ / 2));
  void* p = std::aligned_alloc(kAlign, want);
  if (p == nullptr) return nullptr;
  std::free(data_);
  data_ = static_cast<uint8_t*>(p);
  size_ = want;
  return data_;
}

Result<std::unique_ptr<FileReader>> FileReader::open(const std::string& path, const uint8_t* map) {
  std::unique_ptr<FileReader> r(new FileReader());
  r->path_ = path;
  r->map_ = map;
  r->fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (r->fd_ < 0) return error("{}: cannot open: {}", path, std::strerror(errno));
  struct stat st {};
  if (fstat(r->fd_, &st) != 0 || !S_ISREG(st.st_mode)) return error("{}: not a regular file", path);
  r->size_ = static_cast<uint64_t>(st.st_size);
  r->direct_fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_DIRECT);  // -1 is fine: buffered instead
  return r;
}

bool FileReader::resident(uint64_t a0, uint64_t a1) const {
  if (map_ == nullptr) return false;
  const size_t pages = static_cast<size_t>((std::min(a1, align_up(size_)) - a0) / kAlign);
  std::vector<unsigned char> v(pages);
  if (mincore(const_cast<uint8_t*>(map_) + a0, pages * kAlign, v.data()) != 0) return false;
  for (unsigned char c : v) {
    if ((c & 1) == 0) return false;
  }
  return true;
}

FileReader::~FileReader() {
  if (fd_ >= 0) ::close(fd_);
  if (direct_fd_ >= 0) ::close(direct_fd_);
}

Result<const uint8_t*> FileReader::read(uint64_t offset, size_t n, ReadBuffer* buf, ReadStats* stats) const {
  if (offset > size_ || n > size_ - offset) {
    return error("{}: cannot read {} bytes at offset {}: the file has {} bytes", path_, n, offset, size_);
  }
  const uint64_t a0 = align_down(offset), end = offset + n, a1 = align_up(end);
  uint8_t* dst = buf->reserve(a1 - a0);
  if (dst == nullptr) return error("out of memory for a {:.1f} MiB read buffer", (a1 - a0) / 1048576.0);
  // Cached (every page resident): copy from the cache. Otherwise read the whole range
  // around it. (preadv2's RWF_NOWAIT would tell too, but it starts readahead on a miss,
  // which fills the cache with exactly the bytes this class exists to keep out of it.)
  const bool cached = resident(a0, a1);
  uint64_t pos = a0;
  while (pos < end) {
    const uint64_t p = align_down(pos);
    const size_t len = static_cast<size_t>(a1 - p);
    ssize_t got = -1;
    bool direct = false;
    if (!cached && direct_fd_ >= 0) {
      got = pread(direct_fd_, dst + (p - a0), len, static_cast<off_t>(p));
      direct = got >= 0 || errno != EINVAL;
    }
    if (!direct) {
      // Cached, or no O_DIRECT here: read through the cache, and drop what a cold read
      // brought in.
      got = pread(fd_, dst + (p - a0), len, static_cast<off_t>(p));
      if (got > 0 && !cached) posix_fadvise(fd_, static_cast<off_t>(p), got, POSIX_FADV_DONTNEED);
    }
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return error("{}: read of {} bytes at offset {} failed: {}", path_, len, p, std::strerror(errno));
    if (got == 0) return error("{}: unexpected end of file at byte {}", path_, p);
    if (stats) (cached ? stats->cached_bytes : stats->direct_bytes) += static_cast<size_t>(got);
    pos = p + static_cast<uint64_t>(got);
  }
  return dst + (offset - a0);
}

}  // namespace deepcpu
