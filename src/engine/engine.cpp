#include "engine/engine.h"

#include "base/log.h"
#include "gguf/gguf.h"
#include "kernels/kernels.h"
#include "kv/kv_cache.h"
#include "model/model.h"
#include "runtime/arena.h"
#include "runtime/thread_pool.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <optional>
#include <thread>

namespace deepcpu {

// Reused between decode() calls so that a step allocates nothing once warm.
struct Engine::Scratch {
  Arena arena;
  std::vector<int32_t> out_rows;
  std::vector<int32_t> next_pos;  // per sequence, -1 when not in the batch
  std::vector<int32_t> old_len;
  std::vector<int32_t> touched;   // sequences in the batch
};

Engine::~Engine() = default;

namespace {

// Reads every page of the mapping outside `skip` once, so that the first forward does
// not stall on page faults (the packed weights in `skip` are read by the packer instead).
// The rest is cut into chunks of up to 64 MiB that the pool's threads take in order; each
// chunk is first announced with MADV_WILLNEED so the kernel reads it with large requests
// while the thread touches its pages. Progress (fraction of these bytes) is reported by
// the calling thread only. Returns the bytes it read.
size_t prefault(const gguf::Model& file, ThreadPool& pool, std::vector<WeightPacker::Range> skip,
                const std::function<void(float)>& progress) {
  constexpr size_t kChunk = size_t(64) << 20;
  constexpr size_t kPage = 4096;
  struct Chunk {
    const uint8_t* p;
    size_t n;
  };
  std::sort(skip.begin(), skip.end(), [](const auto& a, const auto& b) { return a.p < b.p; });
  std::vector<Chunk> chunks;
  size_t total = 0;
  auto add = [&](const uint8_t* a, const uint8_t* b) {
    for (; a < b; a += kChunk) chunks.push_back({a, std::min(kChunk, static_cast<size_t>(b - a))});
  };
  for (const auto& f : file.files()) {
    if (f->map == nullptr) continue;
    const uint8_t* cursor = f->map->data();
    const uint8_t* const end = cursor + f->map->size();
    for (const WeightPacker::Range& r : skip) {
      if (r.p + r.n <= cursor || r.p >= end) continue;
      add(cursor, r.p);
      cursor = std::max(cursor, r.p + r.n);
    }
    add(cursor, end);
  }
  for (const Chunk& c : chunks) total += c.n;
  std::atomic<size_t> done{0};
  pool.run(static_cast<int64_t>(chunks.size()), [&](int64_t i, int thread) {
    const Chunk& c = chunks[i];
    const auto base = reinterpret_cast<uintptr_t>(c.p) & ~(uintptr_t(kPage) - 1);
    madvise(reinterpret_cast<void*>(base), c.n + (reinterpret_cast<uintptr_t>(c.p) - base), MADV_WILLNEED);
    uint8_t sink = 0;
    for (size_t off = 0; off < c.n; off += kPage) sink ^= *static_cast<const volatile uint8_t*>(c.p + off);
    asm volatile("" : : "r"(sink));
    const size_t d = done.fetch_add(c.n) + c.n;
    if (progress && thread == 0) progress(static_cast<float>(d) / static_cast<float>(std::max<size_t>(1, total)));
  });
  return total;
}

}  // namespace

Result<std::unique_ptr<Engine>> Engine::load(const EngineOptions& options) {
  std::unique_ptr<Engine> e(new Engine());
  e->options_ = options;
  EngineOptions& o = e->options_;
  if (o.n_threads <= 0) o.n_threads = std::max(1u, std::thread::hardware_concurrency());
  if (o.n_ubatch <= 0 || o.n_batch <= 0) return error("batch sizes must be positive (-b {} -ub {})", o.n_batch, o.n_ubatch);
  o.n_ubatch = std::min(o.n_ubatch, o.n_batch);
  if (o.progress) o.progress(0.0f);

  auto file = gguf::Model::open(o.model_path);
  if (!file) return file.status();
  e->file_ = std::move(file.value());
  auto tok = Tokenizer::from_gguf(*e->file_);
  if (!tok) return tok.status();
  e->tokenizer_ = std::move(tok.value());
  auto plan = plan_threads(o.topology != nullptr ? *o.topology : system_topology(), o.placement,
                           o.n_threads);  // runtime/numa.h
  if (!plan) return plan.status();
  for (const std::string& w : plan->warnings) DEEPCPU_LOG_WARN("warning: {}", w);
  DEEPCPU_LOG_DEBUG("threads: {}; --poll {}", plan->describe(), o.placement.poll);
  // Thread 0 (the decode() caller) is pinned too: see ThreadPoolOptions in thread_pool.h.
  e->pool_ = std::make_unique<ThreadPool>(o.n_threads,
                                          ThreadPoolOptions{plan->cpus, true, o.placement.poll, plan->part_of_thread});
  e->packed_ = std::make_unique<PackedWeights>();
  e->packed_->set_placement(plan->split, plan->memory);  // before packing first touches it
  if (!plan->split.nodes.empty() && o.repack) {
    DEEPCPU_LOG_INFO("numa: each weight is split by rows over nodes {} ({} threads each), every part on its node",
                     fmt::join(plan->split.nodes, ","), fmt::join(plan->split.threads, "/"));
  }
  {
    // Loading waits on the disk about as long as it computes (packing, and first touches
    // of fresh memory): twice the threads keep both the disk and the cores busy, anywhere
    // on the planned CPUs (the caller is left alone: it may be a server's main thread).
    ThreadPool loader(2 * o.n_threads, ThreadPoolOptions{std::vector(size_t(2 * o.n_threads), plan->all_cpus())});
    std::optional<WeightPacker> packer;
    if (o.repack) packer.emplace(e->packed_.get(), &loader);
    auto model = load_model(*e->file_);
    if (!model) return model.status();
    std::vector<WeightPacker::Range> packed_sources;
    if (packer) packed_sources = packer->source_ranges();
    size_t packed_bytes = 0;
    for (const auto& r : packed_sources) packed_bytes += r.n;
    const size_t file_bytes = std::max<size_t>(1, e->file_->total_tensor_bytes());
    // Progress: 5% for parsing, then the bytes read (prefault, then packing) up to 100%.
    const float pack_share = std::min(1.0f, static_cast<float>(packed_bytes) / static_cast<float>(file_bytes));
    std::function<void(float)> on_prefault, on_pack;
    if (o.progress) {
      on_prefault = [&](float f) { o.progress(0.05f + 0.95f * (1.0f - pack_share) * f); };
      on_pack = [&](float f) { o.progress(0.05f + 0.95f * ((1.0f - pack_share) + pack_share * f)); };
    }
    prefault(*e->file_, loader, packed_sources, on_prefault);
    if (packer) {
      if (Status st = packer->run(e->file_.get(), on_pack); !st) return st;
    }
    e->model_ = std::move(model.value());
  }
  if (e->model_->n_vocab() != e->tokenizer_->n_vocab()) {
    return error("{}: the tokenizer has {} tokens but the output layer has {} rows", o.model_path,
                 e->tokenizer_->n_vocab(), e->model_->n_vocab());
  }
  // Flash attention reads a q8_0 K through the packed GEMM (kv_cache.h "Packed K").
  const bool packed_k = o.flash_attn && kernels::table().q8_0.gemm_packed != nullptr;
  auto kv = KvCache::create(e->model_->kv_shapes(), o.cache_type_k, o.cache_type_v, o.n_ctx, o.n_seq_max, packed_k);
  if (!kv) return kv.status();
  e->kv_ = std::move(kv.value());
  e->scratch_ = std::make_unique<Scratch>();
  if (o.warmup) {
    if (Status st = e->warm_up(); !st) return st;
  }

  ModelSummary& s = e->summary_;
  s.arch = e->model_->arch();
  auto name = e->file_->get_string("general.name");
  s.name = name && name->has_value() ? **name : "";
  s.n_params = e->model_->n_params;
  s.weight_bytes = e->model_->weight_bytes;
  s.n_vocab = e->model_->n_vocab();
  s.n_ctx_train = e->model_->n_ctx_train();
  s.n_layer = e->model_->n_layer();
  if (o.progress) o.progress(1.0f);
  if (e->packed_->n_tensors > 0) {
    DEEPCPU_LOG_DEBUG("repacked {} weight tensors ({:.1f} MiB) into anonymous memory, transparent huge pages: {}",
                      e->packed_->n_tensors, e->packed_->bytes / 1048576.0, thp_mode());
  }
  DEEPCPU_LOG_DEBUG("loaded {} ({}, {} layers, {:.1f} M params), KV cache {:.1f} MiB, {} threads, kernels {}",
                    o.model_path, s.arch, s.n_layer, s.n_params / 1e6, e->kv_->size_bytes() / 1048576.0,
                    o.n_threads, kernels::isa_name(kernels::table().isa));
  return e;
}

int Engine::numa_parts() const { return static_cast<int>(packed_->arenas.size()); }

Status Engine::warm_up() {
  // A short decode on sequence 0 (then forgotten) measures the scratch one token needs;
  // the arena then holds, pre-touched, enough for a full ubatch. Scratch grows about
  // linearly with the ubatch (activations, MoE pairs, attention rows: r1-slice held 26.9 MiB
  // for 16 tokens and 858 MiB for 512, 0.3% under the line); the 1/8 margin covers
  // what does not, and a low guess only means the arena grows later, as it did before.
  const int n = std::min({16, options_.n_ubatch, options_.n_ctx});
  Batch b;
  for (int i = 0; i < n; ++i) b.add(i % n_vocab(), i, 0, i == n - 1);
  std::vector<float> logits;
  if (Status st = decode(b, &logits); !st) return error("warm-up decode failed: {}", st.message());
  truncate_sequence(0, 0);
  const size_t held = scratch_->arena.peak_bytes();
  const size_t want = held / static_cast<size_t>(n) * static_cast<size_t>(options_.n_ubatch) * 9 / 8;
  scratch_->arena.reserve(want);
  DEEPCPU_LOG_DEBUG("warm-up: {} tokens held {:.1f} MiB of scratch; reserved {:.1f} MiB for {}-token ubatches", n,
                    held / 1048576.0, want / 1048576.0, options_.n_ubatch);
  return Status::ok();
}

void Engine::wait_warm() { scratch_->arena.wait_populated(); }

const Tokenizer& Engine::tokenizer() const { return *tokenizer_; }
const ModelSummary& Engine::summary() const { return summary_; }
int Engine::n_vocab() const { return model_->n_vocab(); }

void Engine::truncate_sequence(int32_t seq, int32_t from) {
  if (seq >= 0 && seq < kv_->n_seq_max()) kv_->truncate(seq, from);
}

int32_t Engine::sequence_length(int32_t seq) const {
  return seq >= 0 && seq < kv_->n_seq_max() ? kv_->length(seq) : 0;
}

Status Engine::decode(const Batch& batch, std::vector<float>* logits) {
  const size_t n = batch.size();
  if (batch.pos.size() != n || batch.seq.size() != n || batch.want_logits.size() != n) {
    return error("batch arrays have different lengths");
  }
  if (n == 0) return Status::ok();
  // Validate everything before touching the cache.
  Scratch& sc = *scratch_;
  sc.next_pos.assign(kv_->n_seq_max(), -1);
  sc.touched.clear();
  size_t n_out = 0;
  for (size_t i = 0; i < n; ++i) {
    if (batch.tokens[i] < 0 || batch.tokens[i] >= n_vocab()) {
      return error("token id {} at batch index {} is out of range (vocabulary has {} tokens)", batch.tokens[i], i,
                   n_vocab());
    }
    const int32_t s = batch.seq[i];
    if (s < 0 || s >= kv_->n_seq_max()) {
      return error("sequence id {} is out of range (0 to {})", s, kv_->n_seq_max() - 1);
    }
    if (sc.next_pos[s] < 0) {
      sc.next_pos[s] = kv_->length(s);
      sc.touched.push_back(s);
    }
    if (batch.pos[i] != sc.next_pos[s]) {
      return error("token {} of sequence {} has position {}, expected {} (positions must continue the sequence)", i,
                   s, batch.pos[i], sc.next_pos[s]);
    }
    ++sc.next_pos[s];
    n_out += batch.want_logits[i] ? 1 : 0;
  }
  sc.old_len.assign(kv_->n_seq_max(), 0);
  for (size_t k = 0; k < sc.touched.size(); ++k) {
    const int32_t s = sc.touched[k];
    sc.old_len[s] = kv_->length(s);
    if (Status st = kv_->reserve(s, sc.next_pos[s]); !st) {
      for (size_t j = 0; j <= k; ++j) kv_->truncate(sc.touched[j], sc.old_len[sc.touched[j]]);
      return st;
    }
  }

  const int V = n_vocab();
  logits->resize(n_out * static_cast<size_t>(V));
  float* out = logits->data();
  ForwardCtx ctx{*pool_, *kv_, scratch_->arena, kernels::table(), options_.flash_attn};
  for (size_t b0 = 0; b0 < n; b0 += options_.n_ubatch) {
    const size_t b1 = std::min(n, b0 + options_.n_ubatch);
    scratch_->out_rows.clear();
    for (size_t i = b0; i < b1; ++i) {
      if (batch.want_logits[i]) scratch_->out_rows.push_back(static_cast<int32_t>(i - b0));
    }
    UBatch ub;
    ub.n = static_cast<int>(b1 - b0);
    ub.tokens = batch.tokens.data() + b0;
    ub.pos = batch.pos.data() + b0;
    ub.seq = batch.seq.data() + b0;
    ub.out_rows = scratch_->out_rows.data();
    ub.n_out = static_cast<int>(scratch_->out_rows.size());
    scratch_->arena.reset();
    model_->forward(ctx, ub, out);
    out += static_cast<size_t>(ub.n_out) * V;
    for (size_t i = b0; i < b1; ++i) {
      kv_->set_length(batch.seq[i], std::max(kv_->length(batch.seq[i]), batch.pos[i] + 1));
    }
  }
  return Status::ok();
}

}  // namespace deepcpu
