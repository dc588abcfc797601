#include "model/weights.h"

#include "runtime/file_reader.h"
#include "runtime/thread_pool.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <set>

namespace deepcpu {

namespace {
thread_local WeightPacker* tls_packer = nullptr;
}  // namespace

WeightPacker::WeightPacker(PackedWeights* store, ThreadPool* pool, const kernels::Table& kt)
    : store_(store), pool_(pool), q8_(kt.q8_0), prev_(tls_packer) {
  tls_packer = this;
}

WeightPacker::~WeightPacker() { tls_packer = prev_; }

WeightPacker* WeightPacker::current() { return tls_packer; }

bool WeightPacker::wants(const Weight& w) const {
  return w.type == DType::kQ8_0 && q8_.gemm_packed != nullptr && q8_.pack_rows != nullptr &&
         q8_.packed_bytes != nullptr && w.n_rows > 0 && w.n_cols > 0;
}

Status WeightPacker::plan(Weight* w, const std::string& name) {
  constexpr int64_t G = kernels::kPackRows;
  const int64_t n_groups = (w->n_rows + G - 1) / G;
  const int n_parts = static_cast<int>(store_->arenas.size());
  w->n_parts = n_parts;
  w->packed_group_bytes = q8_.packed_bytes(G, w->n_cols);
  for (int p = 0; p <= n_parts; ++p) w->part_row[p] = std::min(w->n_rows, store_->split.share_begin(n_groups, p) * G);
  size_t total = 0;
  for (int p = 0; p < n_parts; ++p) {
    const size_t part = w->part_slice_bytes(p) * static_cast<size_t>(w->n_slices);
    uint8_t* dst = store_->arenas[static_cast<size_t>(p)].alloc(std::max<size_t>(part, 1));
    if (dst == nullptr) {
      return error("{}: out of memory for its packed copy ({:.1f} MiB); load with repack off (plain mmap)", name,
                   part / 1048576.0);
    }
    w->part_data[p] = dst;
    const int64_t rows = w->part_row[p + 1] - w->part_row[p];
    for (int64_t e = 0; e < w->n_slices && rows > 0; ++e) {
      jobs_.push_back({w->data + static_cast<size_t>(e) * w->slice_bytes + static_cast<size_t>(w->part_row[p]) * w->row_bytes,
                       w->row_bytes, rows, w->n_cols, dst + static_cast<size_t>(e) * w->part_slice_bytes(p)});
    }
    total += part;
  }
  w->packed_of = w->data;
  store_->n_tensors += 1;
  store_->bytes += total;
  return Status::ok();
}

void PackedWeights::set_placement(const NodeSplit& s, const NumaMemPolicy& unsplit) {
  split = s;
  arenas = std::vector<HugeArena>(static_cast<size_t>(s.n_parts()));
  if (s.nodes.empty()) {
    arenas[0].set_mem_policy(unsplit);
    return;
  }
  for (size_t p = 0; p < arenas.size(); ++p) arenas[p].set_mem_policy({NumaMemPolicy::Mode::kPreferred, {s.nodes[p]}});
}

std::vector<WeightPacker::Range> WeightPacker::source_ranges() const {
  std::vector<Range> r;
  r.reserve(jobs_.size());
  for (const Job& j : jobs_) r.push_back({j.src, static_cast<size_t>(j.n_rows) * j.src_row_bytes});
  return r;
}

namespace {

// The mapped parts of a model that packing sources can be read from directly.
struct SourceFile {
  const uint8_t* base;
  size_t size;
  std::unique_ptr<FileReader> reader;
};

std::vector<SourceFile> open_sources(const gguf::Model* file) {
  std::vector<SourceFile> v;
  if (file == nullptr) return v;
  for (const auto& f : file->files()) {
    if (f->map == nullptr) continue;
    auto reader = FileReader::open(f->map->path(), f->map->data());
    // A file that cannot be opened again (removed since it was mapped) is read through
    // the mapping, which still holds it.
    v.push_back({f->map->data(), f->map->size(), reader ? std::move(reader.value()) : nullptr});
  }
  return v;
}

}  // namespace

Status WeightPacker::run(const gguf::Model* file, const std::function<void(float)>& progress) {
  // Work units of whole row groups, about 4 MiB of source each: big enough for efficient
  // reads, small enough to spread every tensor over the threads.
  constexpr size_t kUnitBytes = size_t(4) << 20;
  struct Unit {
    const Job* job;
    int64_t r0, n;
  };
  std::vector<Unit> units;
  size_t total = 0;
  for (const Job& j : jobs_) {
    const int64_t groups = std::max<int64_t>(1, static_cast<int64_t>(kUnitBytes / (j.src_row_bytes * kernels::kPackRows)));
    const int64_t rows = groups * kernels::kPackRows;
    for (int64_t r = 0; r < j.n_rows; r += rows) units.push_back({&j, r, std::min(rows, j.n_rows - r)});
    total += static_cast<size_t>(j.n_rows) * j.src_row_bytes;
  }
  const std::vector<SourceFile> sources = open_sources(file);
  const int n_threads = pool_ != nullptr ? pool_->n_threads() : 1;
  std::vector<ReadBuffer> buffers(static_cast<size_t>(n_threads));
  std::atomic<size_t> done{0};
  std::atomic<bool> failed{false};
  std::mutex error_mu;
  Status first_error = Status::ok();

  auto pack = [&](int64_t i, int thread) {
    if (failed.load(std::memory_order_relaxed)) return;
    const Unit& u = units[static_cast<size_t>(i)];
    const Job& j = *u.job;
    const uint8_t* src = j.src + static_cast<size_t>(u.r0) * j.src_row_bytes;
    const size_t bytes = static_cast<size_t>(u.n) * j.src_row_bytes;
    for (const SourceFile& f : sources) {
      if (f.reader == nullptr || src < f.base || src + bytes > f.base + f.size) continue;
      auto got = f.reader->read(static_cast<uint64_t>(src - f.base), bytes, &buffers[static_cast<size_t>(thread)]);
      if (!got) {
        std::lock_guard<std::mutex> lock(error_mu);
        if (!failed.exchange(true)) first_error = got.status();
        return;
      }
      src = got.value();
      break;
    }
    q8_.pack_rows(src, j.src_row_bytes, u.n, j.k, j.dst + q8_.packed_bytes(u.r0, j.k));
    const size_t d = done.fetch_add(bytes) + bytes;
    if (progress && thread == 0) progress(static_cast<float>(d) / static_cast<float>(std::max<size_t>(1, total)));
  };
  if (pool_ != nullptr) {
    pool_->run(static_cast<int64_t>(units.size()), pack);
  } else {
    for (size_t i = 0; i < units.size(); ++i) pack(static_cast<int64_t>(i), 0);
  }
  jobs_.clear();
  return first_error;
}

Status WeightBinder::bind(Weight* out, const std::string& name, std::vector<int64_t> ne, Need need, Use use) {
  *out = Weight();
  const gguf::TensorInfo* t = file_.find_tensor(name);
  if (t == nullptr) {
    if (need == kOptional) return Status::ok();
    return error("{}: tensor '{}' is missing (this architecture needs it)", file_.path(), name);
  }
  ne.resize(gguf::kMaxDims, 1);
  for (int d = 0; d < gguf::kMaxDims; ++d) {
    if (t->ne[d] != ne[d]) {
      return error("{}: tensor '{}' has shape {}, expected {{{}}}", file_.path(), name, t->shape_string(),
                   fmt::join(std::vector<int64_t>(ne.begin(), ne.begin() + std::max(1, t->n_dims)), ", "));
    }
  }
  if (use == kF32Vector && t->type != DType::kF32) {
    return error("{}: tensor '{}' has type {}, expected f32 (norms, biases and routers are kept in f32)",
                 file_.path(), name, dtype_name(t->type));
  }
  if ((use == kMatmul || use == kEmbedding) && !dtype_info(t->type).has_kernels) {
    return error("{}: tensor '{}' has type {}; this build has kernels for f32, f16, bf16 and q8_0 only. "
                 "Re-quantize the model to Q8_0.",
                 file_.path(), name, dtype_name(t->type));
  }
  out->data = t->data;
  out->type = t->type;
  out->n_cols = t->ne[0];
  out->row_bytes = row_bytes(t->type, t->ne[0]);
  out->n_rows = t->ne[1];
  out->n_slices = t->ne[2] * t->ne[3];
  out->slice_bytes = out->row_bytes * static_cast<size_t>(t->ne[1]);
  if (out->n_slices == 1) out->n_rows = t->ne[1];
  if (use == kMatmul && packer_ != nullptr && packer_->wants(*out)) {
    if (Status st = packer_->plan(out, name); !st) return st;
  }
  ++n_bound_;
  bound_names_.push_back(name);
  return Status::ok();
}

std::vector<std::string> WeightBinder::unused() const {
  std::set<std::string> bound(bound_names_.begin(), bound_names_.end());
  std::vector<std::string> r;
  for (const gguf::TensorInfo* t : file_.tensors()) {
    if (!bound.count(t->name)) r.push_back(t->name);
  }
  return r;
}

}  // namespace deepcpu
