// What one forward pass over a ubatch sees: the tokens with their positions and
// sequences, the thread pool, the KV cache, scratch memory and the kernel table.
#pragma once

#include "kernels/kernels.h"
#include "kv/kv_cache.h"
#include "runtime/arena.h"
#include "runtime/thread_pool.h"
#include "tokenizer/tokenizer.h"

#include <cstdint>

namespace deepcpu {

struct UBatch {
  int n = 0;                       // tokens
  const TokenId* tokens = nullptr;
  const int32_t* pos = nullptr;
  const int32_t* seq = nullptr;
  const int32_t* out_rows = nullptr;  // indices of the tokens whose logits are wanted
  int n_out = 0;
};

struct ForwardCtx {
  ThreadPool& pool;
  KvCache& kv;
  Arena& arena;
  const kernels::Table& kt;
  bool flash_attn = false;  // -fa: online-softmax attention (blocks/attention.h)
};

}  // namespace deepcpu
