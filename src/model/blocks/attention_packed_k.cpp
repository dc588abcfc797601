#include "model/blocks/attention_packed_k.h"

#include "base/check.h"

#include <algorithm>

namespace deepcpu {

// One cache block is exactly one packed panel, so a block packs on its own.
static_assert(KvCache::kBlockTokens == kernels::kPackRows, "a KV block must be one packed row group");

PackedKPrefixes pack_k_prefixes(ForwardCtx& ctx, int il, const kernels::MatmulKernels& mk, const int32_t* seqs,
                                const int32_t* n_kv, int n_entries) {
  DEEPCPU_CHECK(mk.pack_rows != nullptr && mk.packed_bytes != nullptr, "K type has no packed kernels");
  constexpr int G = kernels::kPackRows;
  const KvLayerShape& ks = ctx.kv.shape(il);
  const size_t k_stride = ctx.kv.k_row_bytes(il) * ks.n_head_kv;  // between positions of a block

  PackedKPrefixes p;
  p.group_bytes = mk.packed_bytes(G, ks.k_dim);
  auto* first = static_cast<int64_t*>(ctx.arena.alloc_bytes((n_entries + 1) * sizeof(int64_t)));
  auto* n_panels = static_cast<int32_t*>(ctx.arena.alloc_bytes(n_entries * sizeof(int32_t)));
  first[0] = 0;
  for (int e = 0; e < n_entries; ++e) {
    n_panels[e] = (n_kv[e] + G - 1) / G;
    first[e + 1] = first[e] + static_cast<int64_t>(n_panels[e]) * ks.n_head_kv;
  }
  auto* data = static_cast<uint8_t*>(ctx.arena.alloc_bytes(first[n_entries] * p.group_bytes));
  p.data = data;
  p.first_panel = first;
  p.n_panels = n_panels;

  // One task per panel; panels are numbered [entry][head][group], as they are stored.
  ctx.pool.run(first[n_entries], [&](int64_t task, int) {
    const int e = static_cast<int>(std::upper_bound(first, first + n_entries + 1, task) - first) - 1;
    const int64_t in_entry = task - first[e];
    const int hk = static_cast<int>(in_entry / n_panels[e]);
    const int32_t p0 = static_cast<int32_t>(in_entry % n_panels[e]) * G;
    const int32_t rows = std::min<int32_t>(G, n_kv[e] - p0);  // a short last panel is zero-padded
    mk.pack_rows(ctx.kv.k_row(il, seqs[e], p0, hk), k_stride, rows, ks.k_dim, data + task * p.group_bytes);
  });
  return p;
}

}  // namespace deepcpu
