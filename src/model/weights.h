// Weight: a view of one matrix (or one expert's / one head's slice of a 3-D tensor)
// in its stored dtype, used in place from the mapping. Row r starts at data + r*row_bytes.
// WeightBinder: binds GGUF tensors by name with shape checks, the single place where an
// architecture's tensor list meets the file (STYLE.md §2).
// Packing: while a WeightPacker is alive on the loading thread, every Q8_0 kMatmul weight
// the binder binds also gets a packed copy (kernels.h: row groups of kPackRows, built
// for the GEMM/GEMV tiles) in huge-page memory owned by a PackedWeights store; matmul()
// uses it. `data` keeps pointing at the file's bytes, so everything else still works.
#pragma once

#include "base/status.h"
#include "gguf/gguf.h"
#include "kernels/kernels.h"
#include "runtime/huge_alloc.h"
#include "tensor/dtype.h"

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace deepcpu {

struct Weight {
  const uint8_t* data = nullptr;
  DType type = DType::kF32;
  int64_t n_cols = 0;   // elements per row (ggml ne0)
  int64_t n_rows = 0;   // rows in this view
  size_t row_bytes = 0;
  int64_t n_slices = 1;       // ne2 for 3-D tensors (experts, heads)
  size_t slice_bytes = 0;     // bytes between slices
  // The packed copy of the same rows (kernels.h packed layout), in `n_parts` parts: part p
  // holds rows [part_row[p], part_row[p + 1]) (whole row groups) of every slice, slice
  // after slice from part_data[p]. One part normally; one per NUMA node under --numa
  // distribute (runtime/numa.h NodeSplit), each in that node's memory. Valid only while
  // data == packed_of: code that re-points `data` by hand (e.g. splitting a fused tensor)
  // thereby falls back to the plain rows instead of reading wrong ones.
  int n_parts = 0;  // 0: not packed
  const uint8_t* part_data[kMaxNumaParts] = {};
  int64_t part_row[kMaxNumaParts + 1] = {};
  const uint8_t* packed_of = nullptr;
  size_t packed_group_bytes = 0;  // one group of kernels::kPackRows rows

  bool present() const { return data != nullptr; }
  bool is_packed() const { return n_parts > 0 && packed_of == data; }
  const uint8_t* row(int64_t r) const { return data + static_cast<size_t>(r) * row_bytes; }
  // Bytes of part p in one slice.
  size_t part_slice_bytes(int p) const {
    const int64_t g = kernels::kPackRows;
    return static_cast<size_t>((part_row[p + 1] + g - 1) / g - part_row[p] / g) * packed_group_bytes;
  }
  // Slice e of a 3-D tensor as a 2-D view (expert e, head h).
  Weight slice(int64_t e) const {
    Weight w = *this;
    w.data = data + static_cast<size_t>(e) * slice_bytes;
    w.n_slices = 1;
    w.packed_of = is_packed() ? w.data : nullptr;
    for (int p = 0; p < n_parts; ++p) w.part_data[p] = part_data[p] + static_cast<size_t>(e) * part_slice_bytes(p);
    return w;
  }
  // Rows [r0, r0+n) as a view; still packed when r0 starts a row group and the weight is
  // in one part.
  Weight rows(int64_t r0, int64_t n) const {
    Weight w = *this;
    w.data = row(r0);
    w.n_rows = n;
    w.n_slices = 1;
    const bool aligned = r0 % kernels::kPackRows == 0;
    if (is_packed() && aligned && n_parts == 1) {
      w.part_data[0] = part_data[0] + static_cast<size_t>(r0 / kernels::kPackRows) * packed_group_bytes;
      w.part_row[1] = n;
      w.packed_of = w.data;
    } else {
      w.n_parts = 0;
      w.packed_of = nullptr;
    }
    return w;
  }
  const float* f32() const { return reinterpret_cast<const float*>(data); }
};

// Owns weights computed at load (e.g. the K half of a fused attn_kv_b, transposed).
struct OwnedWeights {
  std::vector<std::unique_ptr<uint8_t[]>> buffers;
  uint8_t* alloc(size_t bytes) {
    buffers.emplace_back(new uint8_t[bytes]);
    return buffers.back().get();
  }
};

// Owns the packed copies (huge-page memory); must outlive every Weight pointing into it
// (the Engine keeps it beside the Model).
struct PackedWeights {
  // One arena per NUMA part (split.n_parts()), part p's placed on split.nodes[p]; one
  // arena with the plan's policy (interleave, preferred, default) otherwise.
  NodeSplit split;
  std::vector<HugeArena> arenas = std::vector<HugeArena>(1);
  int64_t n_tensors = 0;
  size_t bytes = 0;

  // Sets the split and each part's memory placement; before anything is packed.
  void set_placement(const NodeSplit& s, const NumaMemPolicy& unsplit);
};

// Rows [r0, r1) of w, all inside part p, through a packed gemm (kernels.h GemmPackedFn):
// y[t * ldy + r] for r in [r0, r1).
inline void gemm_packed_part(const kernels::MatmulKernels& mk, const Weight& w, int p, const void* a,
                             size_t a_row_bytes, int64_t r0, int64_t r1, int64_t m, float* y, int64_t ldy) {
  const int64_t base = w.part_row[p];
  mk.gemm_packed(w.part_data[p], w.n_cols, a, a_row_bytes, r0 - base, r1 - base, m, y + base, ldy);
}

class ThreadPool;

// Packs weights at load. Construct before the architecture's loader runs (the binder
// picks up the packer alive on its thread), then run() packs every planned weight in
// parallel on `pool` (nullptr: on the calling thread). Until run() returns the packed
// copies hold garbage, so nothing may compute with the weights in between.
class WeightPacker {
 public:
  WeightPacker(PackedWeights* store, ThreadPool* pool, const kernels::Table& kt = kernels::table());
  ~WeightPacker();
  WeightPacker(const WeightPacker&) = delete;
  WeightPacker& operator=(const WeightPacker&) = delete;

  // The packer alive on this thread, or nullptr.
  static WeightPacker* current();
  // Whether `w` (as just bound) will be packed: Q8_0 with packed kernels in kt.
  bool wants(const Weight& w) const;
  // Allocates the packed copy of every slice of `w`, sets w->packed and records the work.
  Status plan(Weight* w, const std::string& name);
  // Packs everything planned so far. Sources inside one of `file`'s mapped parts are
  // read with a FileReader (from the page cache where they are cached, else with
  // O_DIRECT around it) rather than through the mapping, so a cold load does not leave
  // a second copy of the weights in the page cache. `progress` gets the fraction packed,
  // from the pool's thread 0. An error means a read failed (an I/O error, a file cut
  // short since it was opened); without `file` nothing can fail.
  Status run(const gguf::Model* file = nullptr, const std::function<void(float)>& progress = {});
  int64_t n_planned() const { return static_cast<int64_t>(jobs_.size()); }
  // The byte ranges of the mapping that run() will read (prefault skips them).
  struct Range {
    const uint8_t* p;
    size_t n;
  };
  std::vector<Range> source_ranges() const;

 private:
  struct Job {
    const uint8_t* src;
    size_t src_row_bytes;
    int64_t n_rows, k;
    uint8_t* dst;
  };
  PackedWeights* store_;
  ThreadPool* pool_;
  const kernels::MatmulKernels& q8_;
  std::vector<Job> jobs_;
  WeightPacker* prev_ = nullptr;
};

class WeightBinder {
 public:
  // Packs Q8_0 matmul weights when a WeightPacker is alive on this thread.
  explicit WeightBinder(const gguf::Model& file) : file_(file), packer_(WeightPacker::current()) {}
  WeightBinder(const gguf::Model& file, WeightPacker* packer) : file_(file), packer_(packer) {}

  // Binds `name` expecting ggml shape `ne` (ne0 first; trailing 1s may be omitted).
  // kRequired: missing is an error. kOptional: missing leaves `out` empty.
  // `matmul`: the dtype must have matmul kernels (norms and biases must be F32).
  enum Need { kRequired, kOptional };
  enum Use { kMatmul, kF32Vector, kEmbedding };
  Status bind(Weight* out, const std::string& name, std::vector<int64_t> ne, Need need, Use use);

  int64_t n_bound() const { return n_bound_; }
  // Tensors in the file that no bind() asked for (reported, not fatal).
  std::vector<std::string> unused() const;

 private:
  const gguf::Model& file_;
  WeightPacker* packer_ = nullptr;
  int64_t n_bound_ = 0;
  std::vector<std::string> bound_names_;
};

}  // namespace deepcpu
