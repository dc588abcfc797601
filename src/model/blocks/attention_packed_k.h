// The K cache rows a ubatch's flash attention reads, repacked once per layer into the
// packed Q8_0 layout (kernels.h pack_rows / gemm_packed) so that the q.K products run on
// the packed GEMM (AMX-INT8 or VNNI tiles) instead of the unpacked gemm.
//
// Why a copy per layer: the cache is paged (a sequence's 16-position blocks lie anywhere
// in the pool) and stores plain q8_0 rows, while gemm_packed wants each run of
// kPackRows = kBlockTokens rows as one panel and several panels back to back. Packing a
// block costs about as much as one tile's q.K product over it, and every block is read by
// every tile after it and every chunk of query heads, so it is done once here, in
// parallel, not per task. The copy is the size of the K rows read (positions [0, n_kv)
// of each sequence), from the layer's arena scratch.
//
// Results: gemm_packed gives the same bits for a row whatever m, the row range or the
// ISA (scalar/packed_q8_0.cpp), so decode (one token) and prefill (tiles of many) still
// agree bit for bit; they differ from the unpacked gemm's scores by fp32 summation order.
#pragma once

#include "model/forward.h"

#include <cstddef>
#include <cstdint>

namespace deepcpu {

struct PackedKPrefixes {
  const uint8_t* data = nullptr;
  size_t group_bytes = 0;            // one panel: kPackRows positions of one KV head
  const int64_t* first_panel = nullptr;  // per sequence entry: the panel of (head 0, positions 0..15)
  const int32_t* n_panels = nullptr;     // per entry: panels per KV head

  // Positions [0, n_kv) of KV head hk of entry e: panel g (positions 16g..16g+15) at + g * group_bytes.
  const uint8_t* panels(int e, int hk) const {
    return data + static_cast<size_t>(first_panel[e] + static_cast<int64_t>(hk) * n_panels[e]) * group_bytes;
  }
};

// Packs positions [0, n_kv[e]) of sequence seqs[e] for every KV head of layer il, for
// e < n_entries (each sequence once). mk: the K type's kernels, with packed entries.
// Memory comes from ctx.arena; the work is spread over ctx.pool.
PackedKPrefixes pack_k_prefixes(ForwardCtx& ctx, int il, const kernels::MatmulKernels& mk, const int32_t* seqs,
                                const int32_t* n_kv, int n_entries);

}  // namespace deepcpu
