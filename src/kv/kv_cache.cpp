#include "kv/kv_cache.h"

#include "base/check.h"
#include "kernels/kernels.h"
#include "kernels/packed_layout.h"

#include <cstring>

namespace deepcpu {

Result<std::unique_ptr<KvCache>> KvCache::create(const std::vector<KvLayerShape>& layers, DType type_k, DType type_v,
                                                 int n_ctx, int n_seq_max, bool packed_k) {
  for (DType t : {type_k, type_v}) {
    if (t != DType::kF16 && t != DType::kBF16 && t != DType::kQ8_0 && t != DType::kF32) {
      return error("KV cache type {} is not supported (use f16, bf16 or q8_0)", dtype_name(t));
    }
  }
  if (n_ctx < 1) return error("context size {} must be at least 1", n_ctx);
  if (n_seq_max < 1) return error("number of sequences {} must be at least 1", n_seq_max);
  std::unique_ptr<KvCache> kv(new KvCache());
  kv->type_k_ = type_k;
  kv->type_v_ = type_v;
  kv->n_ctx_ = n_ctx;
  // Every sequence can waste up to one partly filled block, so add one per sequence:
  // then a single sequence can always reach n_ctx.
  const int n_blocks = (n_ctx + kBlockTokens - 1) / kBlockTokens + n_seq_max;
  kv->n_blocks_ = n_blocks;
  kv->packed_k_ = packed_k && type_k == DType::kQ8_0;
  for (const KvLayerShape& s : layers) {
    const int64_t bk = dtype_info(type_k).block_size;
    const int64_t bv = dtype_info(type_v).block_size;
    if (s.k_dim % bk != 0 || (!s.v_in_k && s.v_dim % bv != 0) || (s.v_in_k && s.v_dim % bk != 0)) {
      return error("KV cache type {}/{} needs head sizes that are multiples of {}; this model has K {} and V {}. "
                   "Use -ctk f16 -ctv f16.",
                   dtype_name(type_k), dtype_name(type_v), std::max(bk, bv), s.k_dim, s.v_dim);
    }
    Layer l;
    l.shape = s;
    l.k_row_bytes = row_bytes(type_k, s.k_dim);
    l.v_row_bytes = s.v_in_k ? l.k_row_bytes : row_bytes(type_v, s.v_dim);
    l.k_block_bytes = l.k_row_bytes * s.n_head_kv * kBlockTokens;
    l.v_block_bytes = s.v_in_k ? 0 : l.v_row_bytes * s.n_head_kv * kBlockTokens;
    if (kv->packed_k_) l.k_panel_bytes = kernels::packed::group_bytes(s.k_dim / dtype_info(type_k).block_size);
    const size_t k_total = l.k_block_bytes * n_blocks, v_total = l.v_block_bytes * n_blocks;
    const size_t p_total = l.k_panel_bytes * s.n_head_kv * n_blocks;
    l.k.reset(new (std::nothrow) uint8_t[k_total]);
    if (v_total) l.v.reset(new (std::nothrow) uint8_t[v_total]);
    if (p_total) l.k_packed.reset(new (std::nothrow) uint8_t[p_total]);
    if (!l.k || (v_total && !l.v) || (p_total && !l.k_packed)) {
      return error("cannot allocate the KV cache ({} MiB for -c {}); try a smaller -c or -ctk q8_0",
                   (k_total + v_total + p_total) * layers.size() >> 20, n_ctx);
    }
    std::memset(l.k.get(), 0, k_total);
    if (v_total) std::memset(l.v.get(), 0, v_total);
    // Zero panels: a row slot never written (and the zero partner of an odd last block)
    // must read as zeros, as pack_rows pads.
    if (p_total) std::memset(l.k_packed.get(), 0, p_total);
    kv->layers_.push_back(std::move(l));
  }
  kv->seqs_.resize(n_seq_max);
  for (int b = n_blocks - 1; b >= 0; --b) kv->free_.push_back(b);
  return kv;
}

size_t KvCache::size_bytes() const {
  size_t n = 0;
  const size_t n_blocks = free_.size() + [&] {
    size_t used = 0;
    for (const Seq& s : seqs_) used += s.blocks.size();
    return used;
  }();
  for (const Layer& l : layers_) n += (l.k_block_bytes + l.v_block_bytes + l.k_panel_bytes * l.shape.n_head_kv) * n_blocks;
  return n;
}

Status KvCache::reserve(int32_t seq, int32_t new_length) {
  DEEPCPU_CHECK(seq >= 0 && seq < n_seq_max(), "sequence {} out of range", seq);
  if (new_length > n_ctx_) {
    return error("sequence {} would reach {} tokens, more than the context size -c {}", seq, new_length, n_ctx_);
  }
  Seq& s = seqs_[seq];
  const size_t need = (static_cast<size_t>(new_length) + kBlockTokens - 1) / kBlockTokens;
  if (need > s.blocks.size() && need - s.blocks.size() > free_.size()) {
    return error("the KV cache is full: sequence {} needs {} more blocks of {} tokens but {} are free", seq,
                 need - s.blocks.size(), kBlockTokens, free_.size());
  }
  while (s.blocks.size() < need) {
    s.blocks.push_back(free_.back());
    free_.pop_back();
  }
  return Status::ok();
}

void KvCache::set_length(int32_t seq, int32_t length) {
  DEEPCPU_CHECK(static_cast<size_t>(length) <= seqs_[seq].blocks.size() * kBlockTokens, "length {} not reserved",
                length);
  seqs_[seq].length = length;
}

void KvCache::truncate(int32_t seq, int32_t from) {
  Seq& s = seqs_[seq];
  if (from < 0) from = 0;
  if (from < s.length) s.length = from;
  const size_t keep = (static_cast<size_t>(s.length) + kBlockTokens - 1) / kBlockTokens;
  while (s.blocks.size() > keep) {
    free_.push_back(s.blocks.back());
    s.blocks.pop_back();
  }
}

uint8_t* KvCache::k_row(int il, int32_t seq, int32_t pos, int head) const {
  const Layer& l = layers_[il];
  const int32_t block = seqs_[seq].blocks[pos / kBlockTokens];
  const int32_t in_block = pos % kBlockTokens;
  return l.k.get() + block * l.k_block_bytes + (static_cast<size_t>(in_block) * l.shape.n_head_kv + head) * l.k_row_bytes;
}

uint8_t* KvCache::k_panel(int il, int32_t seq, int32_t pos, int head) const {
  const Layer& l = layers_[il];
  const int32_t block = seqs_[seq].blocks[pos / kBlockTokens];
  return l.k_packed.get() + (static_cast<size_t>(head) * n_blocks_ + block) * l.k_panel_bytes;
}

void KvCache::pack_k_row(int il, int32_t seq, int32_t pos, int head) {
  kernels::pack_q8_0_row_into_group(k_row(il, seq, pos, head), pos % kBlockTokens, layers_[il].shape.k_dim,
                                    k_panel(il, seq, pos, head));
}

int KvCache::adjacent_blocks(int32_t seq, int32_t pos, int max_blocks) const {
  const std::vector<int32_t>& b = seqs_[seq].blocks;
  const size_t first = static_cast<size_t>(pos / kBlockTokens);
  int n = 1;
  while (n < max_blocks && first + n < b.size() && b[first + n] == b[first] + n) ++n;
  return n;
}

uint8_t* KvCache::v_row(int il, int32_t seq, int32_t pos, int head) const {
  const Layer& l = layers_[il];
  if (l.shape.v_in_k) return k_row(il, seq, pos, head);
  const int32_t block = seqs_[seq].blocks[pos / kBlockTokens];
  const int32_t in_block = pos % kBlockTokens;
  return l.v.get() + block * l.v_block_bytes + (static_cast<size_t>(in_block) * l.shape.n_head_kv + head) * l.v_row_bytes;
}

}  // namespace deepcpu
