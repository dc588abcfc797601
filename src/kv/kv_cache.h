// Paged KV cache: one pool of fixed-size blocks shared by all sequences, a block table
// per sequence. Any sequence may grow to n_ctx tokens while the pool has free blocks;
// the pool answers one question: "give this sequence room for N more tokens, or say no".
//
// Per layer and block, K rows are laid out [token in block][kv head][k_dim] in the K
// dtype (f16, bf16 or q8_0), V rows likewise. For MLA (DeepSeek) the cache holds one
// latent row per token (kv_lora_rank + rope dims) and V is the first v_dim values of
// that row (`v_in_k`): no separate V storage at all.
//
// Packed K (q8_0 K with `packed_k`): beside the rows, every block keeps its K rows in the
// packed Q8_0 layout (kernels.h: one panel of kPackRows = kBlockTokens positions per KV
// head), written row by row as tokens are stored, so flash attention takes its q.K scores
// from the packed GEMM (AMX/VNNI tiles) without repacking the prefix at every step. Panels
// are stored [kv head][block], so the blocks a sequence got one after another (the free
// list hands them out in order) are adjacent panels and one GEMM call can span several.
#pragma once

#include "base/status.h"
#include "tensor/dtype.h"

#include <cstdint>
#include <memory>
#include <vector>

namespace deepcpu {

struct KvLayerShape {
  int n_head_kv = 1;
  int k_dim = 0;
  int v_dim = 0;
  bool v_in_k = false;  // MLA: V is a prefix of the K row
};

class KvCache {
 public:
  static constexpr int kBlockTokens = 16;

  // packed_k: also keep packed K panels (only for a q8_0 K; ignored otherwise).
  static Result<std::unique_ptr<KvCache>> create(const std::vector<KvLayerShape>& layers, DType type_k, DType type_v,
                                                 int n_ctx, int n_seq_max, bool packed_k = false);

  DType type_k() const { return type_k_; }
  DType type_v() const { return type_v_; }
  int n_ctx() const { return n_ctx_; }
  int n_seq_max() const { return static_cast<int>(seqs_.size()); }
  size_t size_bytes() const;

  int32_t length(int32_t seq) const { return seqs_[seq].length; }
  // Makes room for positions [length, new_length); fails (changing nothing) when the
  // pool is out of blocks or new_length exceeds n_ctx.
  Status reserve(int32_t seq, int32_t new_length);
  void set_length(int32_t seq, int32_t length);  // after the rows are written
  void truncate(int32_t seq, int32_t from);       // frees whole blocks past `from`
  int free_blocks() const { return static_cast<int>(free_.size()); }

  // Row pointers for (layer, seq, pos, kv head); pos must be reserved.
  uint8_t* k_row(int il, int32_t seq, int32_t pos, int head) const;
  uint8_t* v_row(int il, int32_t seq, int32_t pos, int head) const;
  size_t k_row_bytes(int il) const { return layers_[il].k_row_bytes; }
  size_t v_row_bytes(int il) const { return layers_[il].v_row_bytes; }
  const KvLayerShape& shape(int il) const { return layers_[il].shape; }

  // Packed K panels (see above); all of these need has_packed_k().
  bool has_packed_k() const { return packed_k_; }
  size_t k_panel_bytes(int il) const { return layers_[il].k_panel_bytes; }
  // The panel of positions [16 * (pos / 16), +16) of KV head `head`.
  uint8_t* k_panel(int il, int32_t seq, int32_t pos, int head) const;
  // Writes the q8_0 row now at k_row(il, seq, pos, head) into its panel.
  void pack_k_row(int il, int32_t seq, int32_t pos, int head);
  // How many blocks from the one holding pos (at most max_blocks, within the sequence's
  // reserved blocks) have adjacent panels, i.e. can be read as one run of panels.
  int adjacent_blocks(int32_t seq, int32_t pos, int max_blocks) const;

 private:
  struct Layer {
    KvLayerShape shape;
    size_t k_row_bytes = 0, v_row_bytes = 0;
    size_t k_block_bytes = 0, v_block_bytes = 0;
    size_t k_panel_bytes = 0;  // packed K: one KV head's panel of one block
    std::unique_ptr<uint8_t[]> k, v, k_packed;
  };
  struct Seq {
    int32_t length = 0;
    std::vector<int32_t> blocks;
  };
  DType type_k_ = DType::kF16, type_v_ = DType::kF16;
  int n_ctx_ = 0;
  int n_blocks_ = 0;
  bool packed_k_ = false;
  std::vector<Layer> layers_;
  std::vector<Seq> seqs_;
  std::vector<int32_t> free_;
};

}  // namespace deepcpu
