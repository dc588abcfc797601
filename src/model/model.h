// Model: one architecture's hyperparameters, bound weights and forward pass.
// Architectures register in registry.cpp; the engine only sees this interface.
#pragma once

#include "base/status.h"
#include "gguf/gguf.h"
#include "kv/kv_cache.h"
#include "model/forward.h"
#include "model/weights.h"

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace deepcpu {

class Model {
 public:
  virtual ~Model() = default;

  virtual std::string arch() const = 0;
  virtual int n_embd() const = 0;
  virtual int n_vocab() const = 0;
  virtual int n_layer() const = 0;
  virtual int n_ctx_train() const = 0;
  // One entry per layer: what the KV cache must hold for it.
  virtual std::vector<KvLayerShape> kv_shapes() const = 0;
  // Runs the ubatch (its K/V rows go into the cache) and writes n_vocab logits for each
  // row in ub.out_rows, in that order.
  virtual void forward(ForwardCtx& ctx, const UBatch& ub, float* logits) const = 0;

  // Set by the loader for reporting.
  int64_t n_params = 0;
  size_t weight_bytes = 0;
};

// Reads `<arch>.<key>` metadata with type checks and a clear error when a required
// key is missing or out of range.
class HParamReader {
 public:
  HParamReader(const gguf::Model& f, std::string arch) : f_(f), arch_(std::move(arch)) {}
  Status get_int(const std::string& key, int64_t* out, bool required, int64_t min_value = 0,
                 int64_t max_value = (int64_t(1) << 40)) const;
  Status get_float(const std::string& key, float* out, bool required) const;
  Status get_bool(const std::string& key, bool* out, bool required) const;
  Status get_string(const std::string& key, std::string* out, bool required) const;
  bool has(const std::string& key) const { return f_.find(arch_ + "." + key) != nullptr; }
  const std::string& path() const { return f_.path(); }

 private:
  const gguf::Model& f_;
  std::string arch_;
};

using ModelLoader = std::function<Result<std::unique_ptr<Model>>(const gguf::Model&)>;

struct ArchEntry {
  const char* name;
  ModelLoader load;
};
// The registry: one row per architecture (registry.cpp).
const std::vector<ArchEntry>& architectures();
Result<std::unique_ptr<Model>> load_model(const gguf::Model& file);

// Loaders, one per arch_*.cpp.
Result<std::unique_ptr<Model>> load_llama(const gguf::Model& file);
Result<std::unique_ptr<Model>> load_qwen2(const gguf::Model& file);
Result<std::unique_ptr<Model>> load_deepseek2(const gguf::Model& file);

// Shared tail of every decoder: final norm of the wanted rows, then the output head.
void output_head(ForwardCtx& ctx, const UBatch& ub, const float* x, int64_t n_embd, const Weight& norm, float eps,
                 const Weight& output, float* logits);

}  // namespace deepcpu
