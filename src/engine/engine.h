// The engine: a loaded model + tokenizer + KV cache + thread pool, and one call,
// decode(), that evaluates a batch of tokens from any number of sequences in one
// forward pass and returns logits rows for the tokens that asked for them.
// Policy (which tokens to run when) belongs to the caller: the CLI or the scheduler.
#pragma once

#include "base/status.h"
#include "runtime/numa.h"
#include "tensor/dtype.h"
#include "tokenizer/tokenizer.h"

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace deepcpu {

struct EngineOptions {
  std::string model_path;
  int n_threads = 0;           // 0: all cores
  // Which CPUs the threads run on and where packed weights live (--numa, -C, -Cr,
  // --cpu-strict, --poll); the default leaves both to the OS, as llama.cpp does.
  PlacementRequest placement;
  // The machine the placement is planned for; nullptr: this one (system_topology()).
  // Tests pass fake NUMA machines to run the split-by-node paths on one node.
  const CpuTopology* topology = nullptr;
  int n_ctx = 4096;            // KV cache capacity in tokens, shared by all sequences
  int n_seq_max = 1;           // sequences that may be alive at once
  int n_batch = 2048;          // most tokens one decode() call accepts
  int n_ubatch = 512;          // most tokens one forward pass computes
  DType cache_type_k = DType::kF16;
  DType cache_type_v = DType::kF16;
  bool flash_attn = false;     // -fa: online-softmax attention over the cache
  // Repack Q8_0 matmul weights at load into row-interleaved panels in huge-page memory
  // (faster GEMV/GEMM, a second copy of those weights in RAM). false: compute straight
  // from the mmap'd file (models larger than RAM).
  bool repack = true;
  // After loading, decode a few tokens once (as llama.cpp's warm-up does) and size and
  // touch the scratch memory for a full ubatch, so the first big request does not pay
  // for fresh memory. false: --no-warmup.
  bool warmup = true;
  // Called while loading with a fraction in [0, 1].
  std::function<void(float)> progress;
};

// Everything one decode() call evaluates. Tokens of a sequence must come in position
// order, continuing where that sequence's cache ends.
struct Batch {
  std::vector<TokenId> tokens;
  std::vector<int32_t> pos;
  std::vector<int32_t> seq;
  std::vector<uint8_t> want_logits;

  void add(TokenId token, int32_t position, int32_t sequence, bool logits) {
    tokens.push_back(token);
    pos.push_back(position);
    seq.push_back(sequence);
    want_logits.push_back(logits ? 1 : 0);
  }
  size_t size() const { return tokens.size(); }
  void clear() { tokens.clear(); pos.clear(); seq.clear(); want_logits.clear(); }
};

struct ModelSummary {
  std::string arch;        // "llama", "qwen2", "deepseek2"
  std::string name;        // general.name
  int64_t n_params = 0;
  size_t weight_bytes = 0;
  int n_vocab = 0;
  int n_ctx_train = 0;
  int n_layer = 0;
};

namespace gguf {
class Model;
}
class Model;
class KvCache;
class ThreadPool;
struct PackedWeights;

class Engine {
 public:
  static Result<std::unique_ptr<Engine>> load(const EngineOptions& options);
  ~Engine();

  const Tokenizer& tokenizer() const;
  // The model file's metadata (chat template, names) for callers that need more.
  const gguf::Model& gguf_file() const { return *file_; }
  const ModelSummary& summary() const;
  const EngineOptions& options() const { return options_; }
  int n_vocab() const;
  // How many NUMA parts each repacked weight is split into (--numa distribute on two or
  // more nodes; runtime/numa.h NodeSplit), 1 otherwise.
  int numa_parts() const;

  // Evaluates the batch (split into ubatches internally). On success `logits` holds one
  // row of n_vocab floats per token with want_logits, in batch order.
  // Errors (bad token id, position not continuing the sequence, cache full) leave the
  // cache as it was before the call.
  Status decode(const Batch& batch, std::vector<float>* logits);

  // Waits until the warm-up's scratch memory is fully faulted in (it is populated in the
  // background after load returns); benchmarks call it so that no row pays for it.
  void wait_warm();

  // Forget a sequence's cached tokens from position `from` on (0: all of it).
  void truncate_sequence(int32_t seq, int32_t from = 0);
  int32_t sequence_length(int32_t seq) const;

 private:
  Engine() = default;
  Status warm_up();
  EngineOptions options_;
  std::unique_ptr<gguf::Model> file_;
  ModelSummary summary_;
  std::unique_ptr<Model> model_;
  std::unique_ptr<Tokenizer> tokenizer_;
  std::unique_ptr<KvCache> kv_;
  std::unique_ptr<ThreadPool> pool_;
  std::unique_ptr<PackedWeights> packed_;  // repacked weights the model points into
  struct Scratch;
  std::unique_ptr<Scratch> scratch_;
};

}  // namespace deepcpu
