// `llama`: Llama 2/3 and DeepSeek-R1-Distill-Llama (also stories260K).
//
// Hyperparameters (GGUF `llama.*`), the tensor list, then the forward:
//   x = token_embd[tokens]
//   per layer: x += attn_output(attention(rope(q), rope(k), v)) of rms_norm(x)
//              x += ffn_down(silu(ffn_gate h) * ffn_up h), h = rms_norm(x)
//   logits = output(rms_norm(x))  (output falls back to token_embd when absent: tied)
#include "model/arch_llama.h"

#include "model/blocks/attention.h"
#include "model/blocks/ops.h"

#include <cmath>
#include <cstring>

namespace deepcpu {

namespace {

struct LlamaHParams {
  int64_t n_layer = 0, n_embd = 0, n_ff = 0, n_head = 0, n_head_kv = 0;
  int64_t head_dim_k = 0, head_dim_v = 0, n_rot = 0, n_vocab = 0, n_ctx_train = 0;
  float rms_eps = 1e-5f;
  RopeParams rope;
};

struct LlamaLayer {
  Weight attn_norm, wq, wk, wv, wo, bq, bk, bv;
  Weight ffn_norm;
  FfnWeights ffn;
};

class LlamaModel final : public Model {
 public:
  LlamaHParams hp;
  LlamaFamilyConfig cfg{};
  Weight token_embd, output_norm, output, rope_freqs;
  std::vector<LlamaLayer> layers;

  std::string arch() const override { return cfg.arch; }
  int n_embd() const override { return static_cast<int>(hp.n_embd); }
  int n_vocab() const override { return static_cast<int>(hp.n_vocab); }
  int n_layer() const override { return static_cast<int>(hp.n_layer); }
  int n_ctx_train() const override { return static_cast<int>(hp.n_ctx_train); }

  std::vector<KvLayerShape> kv_shapes() const override {
    KvLayerShape s;
    s.n_head_kv = static_cast<int>(hp.n_head_kv);
    s.k_dim = static_cast<int>(hp.head_dim_k);
    s.v_dim = static_cast<int>(hp.head_dim_v);
    return std::vector<KvLayerShape>(hp.n_layer, s);
  }

  void forward(ForwardCtx& ctx, const UBatch& ub, float* logits) const override {
    const int64_t n = ub.n, E = hp.n_embd;
    const int64_t q_w = hp.n_head * hp.head_dim_k, k_w = hp.n_head_kv * hp.head_dim_k;
    float* x = ctx.arena.alloc(n * E);
    embed(ctx, token_embd, ub.tokens, n, x);
    // cos/sin per token, shared by all layers.
    float* cs = ctx.arena.alloc(n * hp.n_rot);
    for (int64_t t = 0; t < n; ++t) rope_cos_sin(hp.rope, ub.pos[t], cs + t * hp.n_rot);
    float* h = ctx.arena.alloc(n * E);
    float* attn_out = ctx.arena.alloc(n * hp.n_head * hp.head_dim_v);

    for (int il = 0; il < hp.n_layer; ++il) {
      const Arena::Mark layer_scratch = ctx.arena.mark();  // freed at the end of the layer
      const LlamaLayer& L = layers[il];
      std::memcpy(h, x, n * E * sizeof(float));
      rms_norm(h, n, E, E, L.attn_norm, hp.rms_eps);
      float* q = matmul(ctx, L.wq, h, n);  // [n][n_head][head_dim_k]
      float* k = matmul(ctx, L.wk, h, n);  // [n][n_head_kv][head_dim_k]
      float* v = matmul(ctx, L.wv, h, n);  // [n][n_head_kv][head_dim_v]
      add_bias(q, n, q_w, L.bq);
      add_bias(k, n, k_w, L.bk);
      add_bias(v, n, hp.n_head_kv * hp.head_dim_v, L.bv);
      for (int64_t t = 0; t < n; ++t) {
        for (int64_t hh = 0; hh < hp.n_head; ++hh) rope_apply(hp.rope, cs + t * hp.n_rot, q + t * q_w + hh * hp.head_dim_k);
        for (int64_t hh = 0; hh < hp.n_head_kv; ++hh) rope_apply(hp.rope, cs + t * hp.n_rot, k + t * k_w + hh * hp.head_dim_k);
      }
      kv_store(ctx, ub, il, k, v);
      AttentionShape as;
      as.il = il;
      as.n_head = static_cast<int>(hp.n_head);
      as.n_head_kv = static_cast<int>(hp.n_head_kv);
      as.k_dim = static_cast<int>(hp.head_dim_k);
      as.v_dim = static_cast<int>(hp.head_dim_v);
      as.scale = 1.0f / std::sqrt(static_cast<float>(hp.head_dim_k));
      attention(ctx, ub, as, q, attn_out);
      add(x, matmul(ctx, L.wo, attn_out, n), n * E);

      std::memcpy(h, x, n * E * sizeof(float));
      rms_norm(h, n, E, E, L.ffn_norm, hp.rms_eps);
      add(x, ffn_swiglu(ctx, L.ffn, h, n), n * E);
      ctx.arena.rollback(layer_scratch);
    }
    output_head(ctx, ub, x, E, output_norm, hp.rms_eps, output, logits);
  }
};

Status read_hparams(const gguf::Model& file, const LlamaFamilyConfig& cfg, LlamaHParams* hp) {
  HParamReader r(file, cfg.arch);
  Status st;
  if (!(st = r.get_int("block_count", &hp->n_layer, true, 1, 4096))) return st;
  if (!(st = r.get_int("embedding_length", &hp->n_embd, true, 1, 1 << 20))) return st;
  if (!(st = r.get_int("feed_forward_length", &hp->n_ff, true, 1, 1 << 22))) return st;
  if (!(st = r.get_int("attention.head_count", &hp->n_head, true, 1, 4096))) return st;
  hp->n_head_kv = hp->n_head;
  if (!(st = r.get_int("attention.head_count_kv", &hp->n_head_kv, false, 1, hp->n_head))) return st;
  if (hp->n_head % hp->n_head_kv != 0) {
    return error("{}: head_count {} is not a multiple of head_count_kv {}", file.path(), hp->n_head, hp->n_head_kv);
  }
  if (hp->n_embd % hp->n_head != 0 && !cfg.custom_head_dim) {
    return error("{}: embedding_length {} is not a multiple of head_count {}", file.path(), hp->n_embd, hp->n_head);
  }
  hp->head_dim_k = hp->head_dim_v = hp->n_embd / hp->n_head;
  if (cfg.custom_head_dim) {
    if (!(st = r.get_int("attention.key_length", &hp->head_dim_k, false, 1, 1 << 16))) return st;
    if (!(st = r.get_int("attention.value_length", &hp->head_dim_v, false, 1, 1 << 16))) return st;
  }
  hp->n_rot = hp->head_dim_k;
  if (!(st = r.get_int("rope.dimension_count", &hp->n_rot, false, 2, hp->head_dim_k))) return st;
  if (hp->n_rot % 2 != 0) return error("{}: rope.dimension_count {} must be even", file.path(), hp->n_rot);
  if (!(st = r.get_float("attention.layer_norm_rms_epsilon", &hp->rms_eps, true))) return st;
  hp->n_ctx_train = 2048;
  if (!(st = r.get_int("context_length", &hp->n_ctx_train, false, 1))) return st;
  hp->rope.n_dims = static_cast<int>(hp->n_rot);
  hp->rope.neox = cfg.neox_rope;
  hp->rope.freq_base = 10000.0f;
  if (!(st = r.get_float("rope.freq_base", &hp->rope.freq_base, false))) return st;
  std::string scaling = "none";
  if (!(st = r.get_string("rope.scaling.type", &scaling, false))) return st;
  float factor = 1.0f;
  if (!(st = r.get_float("rope.scaling.factor", &factor, false))) return st;
  if (scaling == "linear" && factor > 0) hp->rope.freq_scale = 1.0f / factor;
  else if (scaling != "none" && scaling != "linear") {
    return error("{}: rope scaling '{}' is not supported for {}", file.path(), scaling, cfg.arch);
  }
  auto tokens = file.find("tokenizer.ggml.tokens");
  hp->n_vocab = tokens && tokens->type == gguf::ValueType::kArray ? static_cast<int64_t>(tokens->array.size()) : 0;
  return Status::ok();
}

}  // namespace

Result<std::unique_ptr<Model>> load_llama_family(const gguf::Model& file, const LlamaFamilyConfig& cfg) {
  auto m = std::make_unique<LlamaModel>();
  m->cfg = cfg;
  LlamaHParams& hp = m->hp;
  if (Status st = read_hparams(file, cfg, &hp); !st) return st;
  WeightBinder b(file);
  using W = WeightBinder;
  const gguf::TensorInfo* emb = file.find_tensor("token_embd.weight");
  if (emb == nullptr) return error("{}: tensor 'token_embd.weight' is missing", file.path());
  if (hp.n_vocab == 0) hp.n_vocab = emb->ne[1];
  const int64_t E = hp.n_embd, V = hp.n_vocab;
  Status st;
  if (!(st = b.bind(&m->token_embd, "token_embd.weight", {E, V}, W::kRequired, W::kEmbedding))) return st;
  if (!(st = b.bind(&m->output_norm, "output_norm.weight", {E}, W::kRequired, W::kF32Vector))) return st;
  if (!(st = b.bind(&m->output, "output.weight", {E, V}, W::kOptional, W::kMatmul))) return st;
  if (!m->output.present()) m->output = m->token_embd;  // tied embeddings
  if (!(st = b.bind(&m->rope_freqs, "rope_freqs.weight", {hp.n_rot / 2}, W::kOptional, W::kF32Vector))) return st;
  if (m->rope_freqs.present()) hp.rope.freq_factors = m->rope_freqs.f32();
  const int64_t qw = hp.n_head * hp.head_dim_k, kw = hp.n_head_kv * hp.head_dim_k, vw = hp.n_head_kv * hp.head_dim_v;
  const auto bias_need = cfg.qkv_bias ? W::kRequired : W::kOptional;
  m->layers.resize(hp.n_layer);
  for (int64_t il = 0; il < hp.n_layer; ++il) {
    LlamaLayer& L = m->layers[il];
    auto name = [&](const char* t) { return fmt::format("blk.{}.{}", il, t); };
    if (!(st = b.bind(&L.attn_norm, name("attn_norm.weight"), {E}, W::kRequired, W::kF32Vector))) return st;
    if (!(st = b.bind(&L.wq, name("attn_q.weight"), {E, qw}, W::kRequired, W::kMatmul))) return st;
    if (!(st = b.bind(&L.wk, name("attn_k.weight"), {E, kw}, W::kRequired, W::kMatmul))) return st;
    if (!(st = b.bind(&L.wv, name("attn_v.weight"), {E, vw}, W::kRequired, W::kMatmul))) return st;
    if (!(st = b.bind(&L.wo, name("attn_output.weight"), {hp.n_head * hp.head_dim_v, E}, W::kRequired, W::kMatmul)))
      return st;
    if (!(st = b.bind(&L.bq, name("attn_q.bias"), {qw}, bias_need, W::kF32Vector))) return st;
    if (!(st = b.bind(&L.bk, name("attn_k.bias"), {kw}, bias_need, W::kF32Vector))) return st;
    if (!(st = b.bind(&L.bv, name("attn_v.bias"), {vw}, bias_need, W::kF32Vector))) return st;
    if (!(st = b.bind(&L.ffn_norm, name("ffn_norm.weight"), {E}, W::kRequired, W::kF32Vector))) return st;
    if (!(st = b.bind(&L.ffn.gate, name("ffn_gate.weight"), {E, hp.n_ff}, W::kRequired, W::kMatmul))) return st;
    if (!(st = b.bind(&L.ffn.up, name("ffn_up.weight"), {E, hp.n_ff}, W::kRequired, W::kMatmul))) return st;
    if (!(st = b.bind(&L.ffn.down, name("ffn_down.weight"), {hp.n_ff, E}, W::kRequired, W::kMatmul))) return st;
  }
  return std::unique_ptr<Model>(std::move(m));
}

Result<std::unique_ptr<Model>> load_llama(const gguf::Model& file) {
  return load_llama_family(file, {"llama", /*qkv_bias=*/false, /*neox_rope=*/false, /*custom_head_dim=*/true});
}

}  // namespace deepcpu
