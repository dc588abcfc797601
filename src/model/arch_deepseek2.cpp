// `deepseek2`: DeepSeek-V2/V3/R1 — Multi-head Latent Attention (MLA) + Mixture of Experts.
//
// MLA, as run here (absorbed form, for prefill and decode alike):
//   per token: q = q_b(rms_norm(q_a x)) split per head into [q_nope | q_pe]
//              kv_a_mqa x = [c | k_pe]: c (kv_lora_rank) is the latent, k_pe is shared by heads
//   The KV cache stores one row per token and layer: [rms_norm(c) | rope(k_pe)]
//   (576 values for R1, instead of 128 heads x (192 + 128) expanded).
//   Scores: q_nope . (W_uk c) = (W_uk^T q_nope) . c, so each head's query is "absorbed"
//   once: q_abs = [k_b q_nope | rope(q_pe)] and attends directly over the cached rows.
//   Values: sum_p a_p (W_uv c_p) = W_uv (sum_p a_p c_p): attention returns a latent per
//   head, then v_b maps it to v_head_dim. Finally attn_output.
//   This is llama.cpp's MLA path (GGUFs with key_length_mla); its scale is
//   mscale^2 / sqrt(nope + rope) with YaRN's mscale = 1 + 0.1 mscale_all_dim ln(factor).
//
// Two tensor layouts are accepted and canonicalised at load:
//   current: attn_k_b {nope, kv_lora, H} and attn_v_b {kv_lora, v, H}, used in place;
//   legacy (R1 GGUFs of early 2025): fused attn_kv_b {kv_lora, H (nope + v)}. Its V rows
//   are used in place as v_b; its K rows are transposed once into an f16 k_b (the
//   transpose breaks Q8_0 blocks, and f16 keeps the rounding far below Q8_0 noise).
//   Both then run the same latent-cache path (llama.cpp would expand the cache instead).
//
// MoE: see blocks/moe.cpp. Layers below leading_dense_block_count use a dense FFN.
#include "base/fp16.h"
#include "model/blocks/attention.h"
#include "model/blocks/ffn.h"
#include "model/blocks/grouped_matmul.h"
#include "model/blocks/ops.h"
#include "model/blocks/rope.h"
#include "model/model.h"

#include <cmath>
#include <cstring>
#include <new>

namespace deepcpu {

namespace {

struct Ds2HParams {
  int64_t n_layer = 0, n_embd = 0, n_ff = 0, n_head = 0, n_vocab = 0, n_ctx_train = 0;
  int64_t n_layer_dense = 0, q_lora_rank = 0, kv_lora_rank = 0;
  int64_t qk_nope = 0, qk_rope = 0, v_head = 0;
  int64_t n_ff_exp = 0, n_expert_shared = 0;
  float rms_eps = 1e-6f;
  float kq_scale = 0.0f;
  bool legacy_kv_b = false;
  RopeParams rope;
  MoeParams moe;
};

struct Ds2Layer {
  Weight attn_norm;
  Weight wq_a, q_a_norm, wq_b, wq;  // wq: no q LoRA ("lite" models)
  Weight wkv_a_mqa, kv_a_norm;
  Weight wk_b, wv_b;                // per-head slices
  Weight wo;
  Weight ffn_norm;
  FfnWeights ffn;                   // dense layers
  MoeWeights moe;                   // MoE layers
};

class DeepSeek2Model final : public Model {
 public:
  Ds2HParams hp;
  Weight token_embd, output_norm, output;
  std::vector<Ds2Layer> layers;
  OwnedWeights owned;

  std::string arch() const override { return "deepseek2"; }
  int n_embd() const override { return static_cast<int>(hp.n_embd); }
  int n_vocab() const override { return static_cast<int>(hp.n_vocab); }
  int n_layer() const override { return static_cast<int>(hp.n_layer); }
  int n_ctx_train() const override { return static_cast<int>(hp.n_ctx_train); }

  std::vector<KvLayerShape> kv_shapes() const override {
    KvLayerShape s;
    s.n_head_kv = 1;
    s.k_dim = static_cast<int>(hp.kv_lora_rank + hp.qk_rope);
    s.v_dim = static_cast<int>(hp.kv_lora_rank);
    s.v_in_k = true;
    return std::vector<KvLayerShape>(hp.n_layer, s);
  }

  void forward(ForwardCtx& ctx, const UBatch& ub, float* logits) const override {
    const int64_t n = ub.n, E = hp.n_embd, H = hp.n_head;
    const int64_t q_head = hp.qk_nope + hp.qk_rope;            // per-head q width
    const int64_t lat = hp.kv_lora_rank, lat_k = lat + hp.qk_rope;  // cached row width
    float* x = ctx.arena.alloc(n * E);
    embed(ctx, token_embd, ub.tokens, n, x);
    float* cs = ctx.arena.alloc(n * hp.qk_rope);
    for (int64_t t = 0; t < n; ++t) rope_cos_sin(hp.rope, ub.pos[t], cs + t * hp.qk_rope);
    float* h = ctx.arena.alloc(n * E);
    float* q_abs = ctx.arena.alloc(n * H * lat_k);  // [n][H][kv_lora + rope]
    float* o_lat = ctx.arena.alloc(n * H * lat);    // [n][H][kv_lora]
    float* o_v = ctx.arena.alloc(n * H * hp.v_head);
    auto* head_w = static_cast<Weight*>(ctx.arena.alloc_bytes(sizeof(Weight) * H));  // per-head slices
    auto* jobs = static_cast<MatmulJob*>(ctx.arena.alloc_bytes(sizeof(MatmulJob) * H));

    for (int il = 0; il < hp.n_layer; ++il) {
      const Arena::Mark layer_scratch = ctx.arena.mark();  // freed at the end of the layer
      const Ds2Layer& L = layers[il];
      std::memcpy(h, x, n * E * sizeof(float));
      rms_norm(h, n, E, E, L.attn_norm, hp.rms_eps);

      float* q;  // [n][H][nope + rope]
      if (L.wq_a.present()) {
        float* qa = matmul(ctx, L.wq_a, h, n);
        rms_norm(qa, n, hp.q_lora_rank, hp.q_lora_rank, L.q_a_norm, hp.rms_eps);
        q = matmul(ctx, L.wq_b, qa, n);
      } else {
        q = matmul(ctx, L.wq, h, n);
      }
      float* kv = matmul(ctx, L.wkv_a_mqa, h, n);  // [n][kv_lora + rope] = the cache row
      rms_norm(kv, n, lat, lat_k, L.kv_a_norm, hp.rms_eps);
      for (int64_t t = 0; t < n; ++t) {
        rope_apply(hp.rope, cs + t * hp.qk_rope, kv + t * lat_k + lat);
        for (int64_t hh = 0; hh < H; ++hh) {
          float* qh = q + (t * H + hh) * q_head;
          rope_apply(hp.rope, cs + t * hp.qk_rope, qh + hp.qk_nope);
          std::memcpy(q_abs + (t * H + hh) * lat_k + lat, qh + hp.qk_nope, hp.qk_rope * sizeof(float));
        }
      }
      // q_abs[:, h, :kv_lora] = k_b[h] q_nope[:, h], all heads in one parallel region.
      for (int64_t hh = 0; hh < H; ++hh) {
        new (&head_w[hh]) Weight(L.wk_b.slice(hh));
        jobs[hh] = MatmulJob{&head_w[hh], q + hh * q_head, n, H * q_head, q_abs + hh * lat_k, H * lat_k};
      }
      matmul_grouped(ctx, jobs, static_cast<int>(H));
      kv_store(ctx, ub, il, kv, nullptr);
      AttentionShape as;
      as.il = il;
      as.n_head = static_cast<int>(H);
      as.n_head_kv = 1;
      as.k_dim = static_cast<int>(lat_k);
      as.v_dim = static_cast<int>(lat);
      as.scale = hp.kq_scale;
      attention(ctx, ub, as, q_abs, o_lat);
      for (int64_t hh = 0; hh < H; ++hh) {
        new (&head_w[hh]) Weight(L.wv_b.slice(hh));
        jobs[hh] = MatmulJob{&head_w[hh], o_lat + hh * lat, n, H * lat, o_v + hh * hp.v_head, H * hp.v_head};
      }
      matmul_grouped(ctx, jobs, static_cast<int>(H));
      add(x, matmul(ctx, L.wo, o_v, n), n * E);

      std::memcpy(h, x, n * E * sizeof(float));
      rms_norm(h, n, E, E, L.ffn_norm, hp.rms_eps);
      const float* f = il < hp.n_layer_dense ? ffn_swiglu(ctx, L.ffn, h, n) : moe(ctx, L.moe, hp.moe, h, n, E);
      add(x, f, n * E);
      ctx.arena.rollback(layer_scratch);
    }
    output_head(ctx, ub, x, E, output_norm, hp.rms_eps, output, logits);
  }
};

Status read_hparams(const gguf::Model& file, Ds2HParams* hp) {
  HParamReader r(file, "deepseek2");
  Status st;
  if (!(st = r.get_int("block_count", &hp->n_layer, true, 1, 4096))) return st;
  if (!(st = r.get_int("embedding_length", &hp->n_embd, true, 1, 1 << 20))) return st;
  if (!(st = r.get_int("feed_forward_length", &hp->n_ff, true, 1, 1 << 22))) return st;
  if (!(st = r.get_int("attention.head_count", &hp->n_head, true, 1, 4096))) return st;
  if (!(st = r.get_int("leading_dense_block_count", &hp->n_layer_dense, false, 0, hp->n_layer))) return st;
  if (!(st = r.get_int("attention.q_lora_rank", &hp->q_lora_rank, false, 0, 1 << 16))) return st;
  if (!(st = r.get_int("attention.kv_lora_rank", &hp->kv_lora_rank, true, 1, 1 << 16))) return st;
  if (!(st = r.get_int("rope.dimension_count", &hp->qk_rope, true, 2, 1 << 12))) return st;
  if (!(st = r.get_float("attention.layer_norm_rms_epsilon", &hp->rms_eps, true))) return st;
  hp->n_ctx_train = 4096;
  if (!(st = r.get_int("context_length", &hp->n_ctx_train, false, 1))) return st;

  // Head sizes: the *_mla keys mark the current layout; without them key/value_length
  // are the per-head sizes of the legacy (fused attn_kv_b) layout.
  int64_t k_len = 0, v_len = 0;
  hp->legacy_kv_b = !r.has("attention.key_length_mla");
  const char* k_key = hp->legacy_kv_b ? "attention.key_length" : "attention.key_length_mla";
  const char* v_key = hp->legacy_kv_b ? "attention.value_length" : "attention.value_length_mla";
  if (!(st = r.get_int(k_key, &k_len, true, hp->qk_rope + 1, 1 << 16))) return st;
  if (!(st = r.get_int(v_key, &v_len, true, 1, 1 << 16))) return st;
  hp->qk_nope = k_len - hp->qk_rope;
  hp->v_head = v_len;

  // MoE.
  int64_t n_expert = 0, n_used = 0, n_group = 1, n_group_used = 1, gating = 1;
  if (!(st = r.get_int("expert_count", &n_expert, hp->n_layer_dense < hp->n_layer, 0, 4096))) return st;
  if (!(st = r.get_int("expert_used_count", &n_used, hp->n_layer_dense < hp->n_layer, 0, n_expert))) return st;
  if (!(st = r.get_int("expert_shared_count", &hp->n_expert_shared, false, 0, 64))) return st;
  if (!(st = r.get_int("expert_feed_forward_length", &hp->n_ff_exp, hp->n_layer_dense < hp->n_layer, 0, 1 << 20)))
    return st;
  if (!(st = r.get_int("expert_group_count", &n_group, false, 1, 64))) return st;
  if (!(st = r.get_int("expert_group_used_count", &n_group_used, false, 1, n_group))) return st;
  // llama.cpp assumes softmax (DeepSeek-V2) when the key is missing.
  if (!(st = r.get_int("expert_gating_func", &gating, false, 0, 3))) return st;
  if (gating != 0 && gating != 1 && gating != 2) {
    return error("{}: deepseek2.expert_gating_func = {} is not supported (1 softmax, 2 sigmoid)", file.path(),
                 gating);
  }
  if (n_expert > 0 && n_expert % n_group != 0) {
    return error("{}: expert_count {} is not a multiple of expert_group_count {}", file.path(), n_expert, n_group);
  }
  if (n_group > 1 && n_expert / n_group < 2 && n_group_used < n_group) {
    return error("{}: expert groups of {} expert(s) cannot be scored by their top two", file.path(),
                 n_expert / n_group);
  }
  hp->moe.n_expert = static_cast<int>(n_expert);
  hp->moe.n_expert_used = static_cast<int>(n_used);
  hp->moe.n_group = static_cast<int>(n_group);
  hp->moe.n_group_used = static_cast<int>(n_group_used);
  hp->moe.gating = gating == 2 ? MoeGating::kSigmoid : MoeGating::kSoftmax;
  if (!(st = r.get_bool("expert_weights_norm", &hp->moe.norm_weights, false))) return st;
  if (!(st = r.get_float("expert_weights_scale", &hp->moe.weights_scale, false))) return st;
  if (hp->moe.weights_scale == 0.0f) hp->moe.weights_scale = 1.0f;

  // RoPE with YaRN. The rotated magnitudes stay 1 (llama.cpp divides its attn_factor
  // by YaRN's own magnitude factor); the attention scale carries mscale^2 instead.
  RopeParams& rp = hp->rope;
  rp.n_dims = static_cast<int>(hp->qk_rope);
  rp.neox = false;
  rp.freq_base = 10000.0f;
  if (!(st = r.get_float("rope.freq_base", &rp.freq_base, false))) return st;
  std::string scaling = "none";
  if (!(st = r.get_string("rope.scaling.type", &scaling, false))) return st;
  float factor = 1.0f, log_mul = 0.0f;
  if (!(st = r.get_float("rope.scaling.factor", &factor, false))) return st;
  if (!(st = r.get_float("rope.scaling.yarn_log_multiplier", &log_mul, false))) return st;
  int64_t n_ctx_orig = hp->n_ctx_train;
  if (!(st = r.get_int("rope.scaling.original_context_length", &n_ctx_orig, false, 1))) return st;
  float mscale = 1.0f;
  if (scaling == "yarn" && factor > 0.0f) {
    rp.freq_scale = 1.0f / factor;
    rp.ext_factor = 1.0f;
    rp.attn_factor = 1.0f / (1.0f + 0.1f * std::log(1.0f / rp.freq_scale));
    rp.n_ctx_orig = static_cast<int>(n_ctx_orig);
    // The GGUF stores 0.1 * mscale_all_dim; mscale = 1 + 0.1 * mscale_all_dim * ln(factor).
    mscale = 1.0f + 0.1f * (log_mul / 0.1f) * std::log(1.0f / rp.freq_scale);
  } else if (scaling == "linear" && factor > 0.0f) {
    rp.freq_scale = 1.0f / factor;
  } else if (scaling != "none") {
    return error("{}: rope scaling '{}' is not supported for deepseek2", file.path(), scaling);
  }
  hp->kq_scale = mscale * mscale / std::sqrt(static_cast<float>(hp->qk_nope + hp->qk_rope));

  auto tokens = file.find("tokenizer.ggml.tokens");
  hp->n_vocab = tokens && tokens->type == gguf::ValueType::kArray ? static_cast<int64_t>(tokens->array.size()) : 0;
  return Status::ok();
}

// Legacy layout: build k_b[h] (kv_lora rows of nope, f16) from the K rows of attn_kv_b.
Status split_kv_b(const gguf::Model& file, const Ds2HParams& hp, const Weight& kv_b, Ds2Layer* L,
                  OwnedWeights* owned) {
  const int64_t H = hp.n_head, nope = hp.qk_nope, v = hp.v_head, lat = hp.kv_lora_rank;
  const kernels::Table& kt = kernels::table();
  std::vector<float> row(lat);
  auto* kb = reinterpret_cast<uint16_t*>(owned->alloc(H * lat * nope * sizeof(uint16_t)));
  for (int64_t hh = 0; hh < H; ++hh) {
    for (int64_t i = 0; i < nope; ++i) {
      const uint8_t* src = kv_b.row(hh * (nope + v) + i);
      if (kv_b.type == DType::kF32) {
        std::memcpy(row.data(), src, lat * sizeof(float));
      } else {
        kt.to_float(kv_b.type)(src, row.data(), lat);
      }
      for (int64_t j = 0; j < lat; ++j) kb[(hh * lat + j) * nope + i] = f32_to_fp16(row[j]);
    }
  }
  L->wk_b.data = reinterpret_cast<const uint8_t*>(kb);
  L->wk_b.type = DType::kF16;
  L->wk_b.n_cols = nope;
  L->wk_b.n_rows = lat;
  L->wk_b.row_bytes = nope * sizeof(uint16_t);
  L->wk_b.n_slices = H;
  L->wk_b.slice_bytes = lat * nope * sizeof(uint16_t);
  // V rows of head h: rows h (nope + v) + nope .. + v, used in place.
  L->wv_b = kv_b;
  L->wv_b.data = kv_b.row(nope);
  L->wv_b.n_rows = v;
  L->wv_b.n_slices = H;
  L->wv_b.slice_bytes = kv_b.row_bytes * (nope + v);
  return Status::ok();
}

}  // namespace

Result<std::unique_ptr<Model>> load_deepseek2(const gguf::Model& file) {
  auto m = std::make_unique<DeepSeek2Model>();
  Ds2HParams& hp = m->hp;
  if (Status st = read_hparams(file, &hp); !st) return st;
  const gguf::TensorInfo* emb = file.find_tensor("token_embd.weight");
  if (emb == nullptr) return error("{}: tensor 'token_embd.weight' is missing", file.path());
  if (hp.n_vocab == 0) hp.n_vocab = emb->ne[1];

  WeightBinder b(file);
  using W = WeightBinder;
  const int64_t E = hp.n_embd, V = hp.n_vocab, H = hp.n_head, lat = hp.kv_lora_rank;
  const int64_t q_w = H * (hp.qk_nope + hp.qk_rope);
  Status st;
  if (!(st = b.bind(&m->token_embd, "token_embd.weight", {E, V}, W::kRequired, W::kEmbedding))) return st;
  if (!(st = b.bind(&m->output_norm, "output_norm.weight", {E}, W::kRequired, W::kF32Vector))) return st;
  if (!(st = b.bind(&m->output, "output.weight", {E, V}, W::kOptional, W::kMatmul))) return st;
  if (!m->output.present()) m->output = m->token_embd;

  m->layers.resize(hp.n_layer);
  for (int64_t il = 0; il < hp.n_layer; ++il) {
    Ds2Layer& L = m->layers[il];
    auto name = [&](const char* t) { return fmt::format("blk.{}.{}", il, t); };
    if (!(st = b.bind(&L.attn_norm, name("attn_norm.weight"), {E}, W::kRequired, W::kF32Vector))) return st;
    const bool has_q_lora = file.find_tensor(name("attn_q_a.weight")) != nullptr;
    if (has_q_lora) {
      const int64_t r = hp.q_lora_rank;
      if (r <= 0) return error("{}: attn_q_a is present but attention.q_lora_rank is missing", file.path());
      if (!(st = b.bind(&L.wq_a, name("attn_q_a.weight"), {E, r}, W::kRequired, W::kMatmul))) return st;
      if (!(st = b.bind(&L.q_a_norm, name("attn_q_a_norm.weight"), {r}, W::kRequired, W::kF32Vector))) return st;
      if (!(st = b.bind(&L.wq_b, name("attn_q_b.weight"), {r, q_w}, W::kRequired, W::kMatmul))) return st;
    } else {
      if (!(st = b.bind(&L.wq, name("attn_q.weight"), {E, q_w}, W::kRequired, W::kMatmul))) return st;
    }
    if (!(st = b.bind(&L.wkv_a_mqa, name("attn_kv_a_mqa.weight"), {E, lat + hp.qk_rope}, W::kRequired, W::kMatmul)))
      return st;
    if (!(st = b.bind(&L.kv_a_norm, name("attn_kv_a_norm.weight"), {lat}, W::kRequired, W::kF32Vector))) return st;
    if (hp.legacy_kv_b) {
      Weight kv_b;
      if (!(st = b.bind(&kv_b, name("attn_kv_b.weight"), {lat, H * (hp.qk_nope + hp.v_head)}, W::kRequired,
                        W::kMatmul)))
        return st;
      if (!(st = split_kv_b(file, hp, kv_b, &L, &m->owned))) return st;
    } else {
      if (!(st = b.bind(&L.wk_b, name("attn_k_b.weight"), {hp.qk_nope, lat, H}, W::kRequired, W::kMatmul))) return st;
      if (!(st = b.bind(&L.wv_b, name("attn_v_b.weight"), {lat, hp.v_head, H}, W::kRequired, W::kMatmul))) return st;
    }
    if (!(st = b.bind(&L.wo, name("attn_output.weight"), {H * hp.v_head, E}, W::kRequired, W::kMatmul))) return st;
    if (!(st = b.bind(&L.ffn_norm, name("ffn_norm.weight"), {E}, W::kRequired, W::kF32Vector))) return st;
    if (il < hp.n_layer_dense) {
      if (!(st = b.bind(&L.ffn.gate, name("ffn_gate.weight"), {E, hp.n_ff}, W::kRequired, W::kMatmul))) return st;
      if (!(st = b.bind(&L.ffn.up, name("ffn_up.weight"), {E, hp.n_ff}, W::kRequired, W::kMatmul))) return st;
      if (!(st = b.bind(&L.ffn.down, name("ffn_down.weight"), {hp.n_ff, E}, W::kRequired, W::kMatmul))) return st;
      continue;
    }
    const int64_t X = hp.moe.n_expert, F = hp.n_ff_exp;
    MoeWeights& mw = L.moe;
    if (!(st = b.bind(&mw.router, name("ffn_gate_inp.weight"), {E, X}, W::kRequired, W::kMatmul))) return st;
    if (!(st = b.bind(&mw.score_bias, name("exp_probs_b.bias"), {X}, W::kOptional, W::kF32Vector))) return st;
    if (!(st = b.bind(&mw.gate, name("ffn_gate_exps.weight"), {E, F, X}, W::kRequired, W::kMatmul))) return st;
    if (!(st = b.bind(&mw.up, name("ffn_up_exps.weight"), {E, F, X}, W::kRequired, W::kMatmul))) return st;
    if (!(st = b.bind(&mw.down, name("ffn_down_exps.weight"), {F, E, X}, W::kRequired, W::kMatmul))) return st;
    if (hp.n_expert_shared > 0) {
      const int64_t S = F * hp.n_expert_shared;
      if (!(st = b.bind(&mw.shared.gate, name("ffn_gate_shexp.weight"), {E, S}, W::kRequired, W::kMatmul))) return st;
      if (!(st = b.bind(&mw.shared.up, name("ffn_up_shexp.weight"), {E, S}, W::kRequired, W::kMatmul))) return st;
      if (!(st = b.bind(&mw.shared.down, name("ffn_down_shexp.weight"), {S, E}, W::kRequired, W::kMatmul))) return st;
    }
  }
  return std::unique_ptr<Model>(std::move(m));
}

}  // namespace deepcpu
