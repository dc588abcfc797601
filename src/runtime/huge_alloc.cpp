#include "runtime/huge_alloc.h"

#include "base/log.h"

#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <utility>

namespace deepcpu {

std::string thp_mode() {
  std::ifstream f("/sys/kernel/mm/transparent_hugepage/enabled");
  std::string line;
  if (!f || !std::getline(f, line)) return "unknown";
  const size_t a = line.find('['), b = line.find(']');
  if (a == std::string::npos || b == std::string::npos || b < a) return "unknown";
  return line.substr(a + 1, b - a - 1);
}

bool thp_available() {
  const std::string m = thp_mode();
  return m == "always" || m == "madvise";
}

HugeBuffer::HugeBuffer(size_t bytes, const NumaMemPolicy& policy) {
  if (bytes == 0) return;
  size_ = (bytes + kHugePageBytes - 1) / kHugePageBytes * kHugePageBytes;
  // Over-map by one huge page and align inside, so the whole buffer can be THP-backed.
  map_size_ = size_ + kHugePageBytes;
  void* p = mmap(nullptr, map_size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) {
    size_ = map_size_ = 0;
    return;
  }
  map_ = p;
  const auto base = reinterpret_cast<uintptr_t>(p);
  const uintptr_t aligned = (base + kHugePageBytes - 1) / kHugePageBytes * kHugePageBytes;
  data_ = reinterpret_cast<uint8_t*>(aligned);
#ifdef MADV_HUGEPAGE
  advised_ = madvise(data_, size_, MADV_HUGEPAGE) == 0;
#endif
  // Nothing has touched the pages yet, so the policy decides where every one of them goes.
  if (Status st = apply_mem_policy(data_, size_, policy); !st.is_ok()) {
    static std::atomic<bool> warned{false};
    if (!warned.exchange(true)) DEEPCPU_LOG_WARN("warning: {}; weights keep first-touch placement", st.message());
  }
}

HugeBuffer::~HugeBuffer() { release(); }

void HugeBuffer::release() {
  if (map_ != nullptr) munmap(map_, map_size_);
  map_ = nullptr;
  data_ = nullptr;
  size_ = map_size_ = 0;
  advised_ = false;
}

HugeBuffer::HugeBuffer(HugeBuffer&& o) noexcept { *this = std::move(o); }

HugeBuffer& HugeBuffer::operator=(HugeBuffer&& o) noexcept {
  if (this != &o) {
    release();
    data_ = std::exchange(o.data_, nullptr);
    size_ = std::exchange(o.size_, 0);
    map_ = std::exchange(o.map_, nullptr);
    map_size_ = std::exchange(o.map_size_, 0);
    advised_ = std::exchange(o.advised_, false);
  }
  return *this;
}

uint8_t* HugeArena::alloc(size_t bytes) {
  bytes = (bytes + 63) / 64 * 64;
  if (chunks_.empty() || offset_ + bytes > chunks_.back().size()) {
    HugeBuffer b(std::max(bytes, chunk_bytes_), policy_);
    if (b.data() == nullptr) return nullptr;
    chunks_.push_back(std::move(b));
    offset_ = 0;
  }
  uint8_t* p = chunks_.back().data() + offset_;
  offset_ += bytes;
  used_ += bytes;
  return p;
}

size_t HugeArena::bytes_mapped() const {
  size_t n = 0;
  for (const HugeBuffer& b : chunks_) n += b.size();
  return n;
}

}  // namespace deepcpu
