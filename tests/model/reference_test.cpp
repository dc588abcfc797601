// The engine against llama.cpp: every model in tests/data/reference (one zoo-reference/1
// JSON per model) runs tokenization, greedy generation through the KV cache, and teacher-
// forced logits against the reference, plus the "same answer, any schedule" properties
// (threads, prompt chunks, two sequences in one batch, KV cache types, split GGUF).
// Bounds and their reasons: reference_util.cpp tolerance_for(); data: tests/data/reference/PROVENANCE.md.
#include <gtest/gtest.h>

#include "gguf/gguf.h"
#include "model/reference_util.h"
#include "test_util.h"

// tests/CMakeLists.txt builds only *_test.cpp (+ test_util.cpp); the helpers are used by
// this file alone, so they are compiled here.

#include <cstdio>
#include <set>

namespace deepcpu::test {
namespace {

constexpr int kNGen = 32;  // the reference's n_gen

// The architectures the engine supports (src/model/registry.cpp); each needs a bundled
// fixture so a fresh clone tests it.
const char* const kArchitectures[] = {"llama", "qwen2", "deepseek2"};

std::string param_name(const testing::TestParamInfo<std::string>& info) {
  std::string s = info.param;
  for (char& c : s)
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  return s;
}

class ReferenceTest : public testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    ref_ = &reference(GetParam());
    path_ = model_path(*ref_);
    if (path_.empty())
      GTEST_SKIP() << "models/" << ref_->model_file
                   << " not found in tests/data/ or ../shared/ (too big to bundle; tested where ../shared exists)";
    tol_ = tolerance_for(ref_->weights);
  }

  std::unique_ptr<Engine> open(EngineOptions o) {
    auto r = load_engine(o);
    EXPECT_TRUE(r.is_ok()) << ref_->name << ": Engine::load failed: " << r.status().message();
    if (!r.is_ok()) return nullptr;
    return std::move(r).value();
  }
  std::unique_ptr<Engine> open() { return open(reference_options(path_)); }

  // How many positions of a teacher-forced comparison may exceed the tolerance.
  size_t outlier_budget(const Engine& e, size_t n_positions) const {
    return is_moe_arch(e.summary().arch) ? static_cast<size_t>(kMoeOutlierShare * n_positions) : 0;
  }

  std::string where(const RefPrompt& p) const { return ref_->name + " [" + ref_->model_desc + "] prompt '" + p.id + "'"; }

  const Reference* ref_ = nullptr;
  std::string path_;
  Tolerance tol_{};
};

// (a) tokenize(text, add_special=true, parse_special) == prompt_ids.
TEST_P(ReferenceTest, Tokenize) {
  auto e = open();
  ASSERT_TRUE(e);
  for (const RefPrompt& p : ref_->prompts) {
    const std::vector<TokenId> ids = e->tokenizer().tokenize(p.text, true, p.parse_special);
    const size_t same = common_prefix(ids, p.prompt_ids);
    EXPECT_EQ(ids, p.prompt_ids) << where(p) << ": " << ids.size() << " tokens vs llama.cpp's "
                                 << p.prompt_ids.size() << "; first difference at " << same << ": ours "
                                 << format_ids(ids, same) << " llama.cpp " << format_ids(p.prompt_ids, same);
  }
}

// (b) 32 greedy tokens, prompt in one batch then one token per decode(), as llama.cpp ran it.
// F32/F16/BF16: all 32 must match. Q8_0: Q8_0 noise (~1 logit) can flip a near-tie, so the
// tokens must match up to the first step where llama.cpp's own top1-top2 gap is < 1.0.
TEST_P(ReferenceTest, Greedy) {
  auto e = open();
  ASSERT_TRUE(e);
  const int n_vocab = e->n_vocab();
  ASSERT_EQ(n_vocab, ref_->n_vocab);
  for (const RefPrompt& p : ref_->prompts) {
    e->truncate_sequence(0, 0);
    auto run = greedy(*e, p.prompt_ids, kNGen);
    ASSERT_TRUE(run.is_ok()) << where(p) << ": " << run.status().message();
    const size_t match = common_prefix(run->ids, p.greedy_ids);
    size_t required = p.greedy_ids.size();
    if (ref_->weights == WeightClass::kQ8_0) {
      required = 0;
      while (required < p.greedy_step_gap.size() && p.greedy_step_gap[required] >= 1.0f) ++required;
    }
    const RefVariant* f32 = p.variant("f32_dequant");
    const size_t match_f32 = f32 ? common_prefix(run->ids, f32->greedy_ids) : 0;
    std::printf("[reference] %-26s %-4s greedy: %2zu/%zu match llama.cpp (required %zu)%s\n", ref_->name.c_str(),
                p.id.c_str(), match, p.greedy_ids.size(), required,
                f32 ? fmt::format(", {}/{} match its f32_dequant", match_f32, f32->greedy_ids.size()).c_str() : "");
    if (match < required) {
      const RowCompare c = compare_row(run->step_logits.data() + match * n_vocab, n_vocab,
                                       p.top10[p.prompt_ids.size() - 1 + match]);
      ADD_FAILURE() << where(p) << ": greedy token " << match << " differs (need " << required
                    << " matching): ours " << format_ids(run->ids, match) << " llama.cpp "
                    << format_ids(p.greedy_ids, match) << "; llama.cpp's gap there "
                    << p.greedy_step_gap[match] << ", our top5 "
                    << format_top(top_k(run->step_logits.data() + match * n_vocab, n_vocab, 5))
                    << " vs llama.cpp " << format_top(p.top10[p.prompt_ids.size() - 1 + match])
                    << " (max |Δ| over its top-10: " << c.max_abs << ")";
    }
  }
}

// (c) Teacher forcing: prompt + llama.cpp's greedy tokens in one batch, logits everywhere,
// each row against the reference top-10: max |Δlogit| within tolerance, and the same top-1
// wherever the reference's top1-top2 gap leaves room (> 2·tol).
TEST_P(ReferenceTest, TeacherForced) {
  auto e = open();
  ASSERT_TRUE(e);
  const int n_vocab = e->n_vocab();
  for (const RefPrompt& p : ref_->prompts) {
    e->truncate_sequence(0, 0);
    const std::vector<TokenId> ids = p.prompt_and_greedy();
    auto rows = decode_tokens(*e, ids, 0, 0, true);
    ASSERT_TRUE(rows.is_ok()) << where(p) << ": " << rows.status().message();
    ASSERT_EQ(rows->size(), ids.size() * n_vocab) << where(p);
    const SeqCompare s = compare_rows(*rows, n_vocab, p.top10, tol_.logit, ids.size());

    // Diagnostics only: which llama.cpp numerics we are closer to. f32_dequant's own
    // teacher-forced run follows its own greedy tokens, so only the shared prefix counts.
    std::string f32_note;
    if (const RefVariant* f32 = p.variant("f32_dequant"); f32 && !f32->top10.empty()) {
      const size_t n_same = p.prompt_ids.size() + f32->first_divergence.value_or(kNGen);
      const SeqCompare s32 = compare_rows(*rows, n_vocab, f32->top10, tol_.logit, n_same);
      f32_note = fmt::format(", vs f32_dequant {:.4f} ({} positions)", s32.max_abs, n_same);
    }
    std::printf("[reference] %-26s %-4s teacher-forced: max|Δ| %.4f at pos %d (tol %.3g), %zu/%zu positions over%s\n",
                ref_->name.c_str(), p.id.c_str(), s.max_abs, s.worst_pos, tol_.logit, s.bad_positions.size(),
                ids.size(), f32_note.c_str());

    const size_t budget = outlier_budget(*e, ids.size());
    if (s.bad_positions.size() > budget) {
      std::string detail;
      for (int pos : s.bad_positions) {
        const RowCompare& c = s.rows[pos];
        detail += fmt::format("\n  pos {}: max|Δ| {:.4f} at id {}; top1 ours {} llama.cpp {} (gap {:.3f}); ours {} vs {}",
                              pos, c.max_abs, c.worst_id, c.our_top1, p.top10[pos][0].first, c.ref_gap,
                              format_top(top_k(rows->data() + pos * static_cast<size_t>(n_vocab), n_vocab, 5)),
                              format_top(p.top10[pos]));
      }
      ADD_FAILURE() << where(p) << ": " << s.bad_positions.size() << " of " << ids.size()
                    << " positions off (allowed " << budget << "); tolerance " << tol_.logit << " because "
                    << tol_.reason << detail;
    }
  }
}

// Same greedy tokens and logits with 1 and 2 threads (llama.cpp: bit-identical).
TEST_P(ReferenceTest, ThreadCountInvariant) {
  const RefPrompt& p = ref_->prompts.front();
  EngineOptions o = reference_options(path_);
  o.n_threads = 1;
  auto e1 = open(o);
  o.n_threads = 2;
  auto e2 = open(o);
  ASSERT_TRUE(e1 && e2);
  auto r1 = greedy(*e1, p.prompt_ids, 8);
  auto r2 = greedy(*e2, p.prompt_ids, 8);
  ASSERT_TRUE(r1.is_ok() && r2.is_ok()) << r1.status().message() << r2.status().message();
  EXPECT_EQ(r1->ids, r2->ids) << where(p) << ": 1 thread " << format_ids(r1->ids) << " vs 2 threads "
                              << format_ids(r2->ids);
  size_t at = 0;
  const double d = max_abs_diff(r1->step_logits, r2->step_logits, &at);
  std::printf("[reference] %-26s threads 1 vs 2: max|Δ| %.3g\n", ref_->name.c_str(), d);
  EXPECT_LE(d, 1e-4) << where(p) << ": logits differ between 1 and 2 threads at step " << at / e1->n_vocab()
                     << " id " << at % e1->n_vocab();
}

// The prompt whole vs in decode() calls of 1, 3 and 7 tokens, and with n_ubatch 3 inside one
// call: the same greedy tokens and the same logits at every position within 1e-4 (bit-identical
// for F32 weights, where nothing is rounded to the weights' format).
TEST_P(ReferenceTest, PromptChunks) {
  const RefPrompt& p = ref_->prompts.front();
  auto e = open();
  ASSERT_TRUE(e);
  const int n_vocab = e->n_vocab();
  const double bound = ref_->weights == WeightClass::kF32 ? 0.0 : 1e-4;
  auto whole = decode_tokens(*e, p.prompt_ids, 0, 0, true);
  ASSERT_TRUE(whole.is_ok()) << whole.status().message();
  e->truncate_sequence(0, 0);
  auto whole_gen = greedy(*e, p.prompt_ids, 8);
  ASSERT_TRUE(whole_gen.is_ok()) << whole_gen.status().message();

  auto check = [&](Engine& eng, int chunk, const std::string& how) {
    eng.truncate_sequence(0, 0);
    auto rows = decode_tokens(eng, p.prompt_ids, 0, 0, true, chunk);
    ASSERT_TRUE(rows.is_ok()) << how << ": " << rows.status().message();
    size_t at = 0;
    const double d = max_abs_diff(*whole, *rows, &at);
    std::printf("[reference] %-26s prompt %s: max|Δ| %.3g\n", ref_->name.c_str(), how.c_str(), d);
    EXPECT_LE(d, bound) << where(p) << ": " << how << " vs whole prompt: logits differ at position " << at / n_vocab
                        << " id " << at % n_vocab << ": " << (*rows)[at] << " vs " << (*whole)[at];
    eng.truncate_sequence(0, 0);
    auto gen = greedy(eng, p.prompt_ids, 8, 0, chunk);
    ASSERT_TRUE(gen.is_ok()) << how << ": " << gen.status().message();
    EXPECT_EQ(gen->ids, whole_gen->ids) << where(p) << ": " << how << " greedy " << format_ids(gen->ids)
                                        << " vs whole " << format_ids(whole_gen->ids);
  };
  for (int chunk : {1, 3, 7}) check(*e, chunk, "in chunks of " + std::to_string(chunk));

  EngineOptions o = reference_options(path_);
  o.n_ubatch = 3;
  auto eu = open(o);
  ASSERT_TRUE(eu);
  check(*eu, 0, "with n_ubatch 3");
}

// Two sequences in one batch (n_seq_max 2, tokens interleaved) give what each gives alone,
// for the prompt and for 8 greedy steps where both sequences advance in one decode().
TEST_P(ReferenceTest, TwoSequencesInOneBatch) {
  ASSERT_GE(ref_->prompts.size(), 2u);
  const RefPrompt& pa = ref_->prompts[0];
  const RefPrompt& pb = ref_->prompts[1];
  constexpr int kSteps = 8;
  auto solo = open();
  ASSERT_TRUE(solo);
  const int n_vocab = solo->n_vocab();
  auto alone_a = greedy(*solo, pa.prompt_ids, kSteps);
  solo->truncate_sequence(0, 0);
  auto alone_b = greedy(*solo, pb.prompt_ids, kSteps);
  ASSERT_TRUE(alone_a.is_ok() && alone_b.is_ok()) << alone_a.status().message() << alone_b.status().message();

  EngineOptions o = reference_options(path_);
  o.n_seq_max = 2;
  auto e = open(o);
  ASSERT_TRUE(e);
  // Prompts interleaved token by token; logits only at each prompt's last token.
  Batch batch;
  const size_t n = std::max(pa.prompt_ids.size(), pb.prompt_ids.size());
  for (size_t i = 0; i < n; ++i) {
    if (i < pa.prompt_ids.size()) batch.add(pa.prompt_ids[i], i, 0, i + 1 == pa.prompt_ids.size());
    if (i < pb.prompt_ids.size()) batch.add(pb.prompt_ids[i], i, 1, i + 1 == pb.prompt_ids.size());
  }
  std::vector<float> rows;
  Status st = e->decode(batch, &rows);
  ASSERT_TRUE(st.is_ok()) << st.message();
  ASSERT_EQ(rows.size(), 2u * n_vocab);
  // Rows come in batch order: whichever prompt ends first comes first.
  const bool a_first = pa.prompt_ids.size() <= pb.prompt_ids.size();
  std::vector<float> row_a(rows.begin() + (a_first ? 0 : n_vocab), rows.begin() + (a_first ? n_vocab : 2 * n_vocab));
  std::vector<float> row_b(rows.begin() + (a_first ? n_vocab : 0), rows.begin() + (a_first ? 2 * n_vocab : n_vocab));
  std::vector<TokenId> ids_a, ids_b;
  std::vector<float> logits_a, logits_b;
  for (int step = 0; step < kSteps; ++step) {
    logits_a.insert(logits_a.end(), row_a.begin(), row_a.end());
    logits_b.insert(logits_b.end(), row_b.begin(), row_b.end());
    ids_a.push_back(argmax(row_a.data(), n_vocab));
    ids_b.push_back(argmax(row_b.data(), n_vocab));
    if (step + 1 == kSteps) break;
    batch.clear();
    batch.add(ids_a.back(), pa.prompt_ids.size() + step, 0, true);
    batch.add(ids_b.back(), pb.prompt_ids.size() + step, 1, true);
    st = e->decode(batch, &rows);
    ASSERT_TRUE(st.is_ok()) << "step " << step << ": " << st.message();
    ASSERT_EQ(rows.size(), 2u * n_vocab);
    row_a.assign(rows.begin(), rows.begin() + n_vocab);
    row_b.assign(rows.begin() + n_vocab, rows.end());
  }
  const double bound = ref_->weights == WeightClass::kF32 ? 0.0 : 1e-4;
  const double da = max_abs_diff(logits_a, alone_a->step_logits);
  const double db = max_abs_diff(logits_b, alone_b->step_logits);
  std::printf("[reference] %-26s two sequences vs alone: max|Δ| %.3g / %.3g\n", ref_->name.c_str(), da, db);
  EXPECT_EQ(ids_a, alone_a->ids) << where(pa) << " beside '" << pb.id << "': " << format_ids(ids_a) << " vs alone "
                                 << format_ids(alone_a->ids);
  EXPECT_EQ(ids_b, alone_b->ids) << where(pb) << " beside '" << pa.id << "': " << format_ids(ids_b) << " vs alone "
                                 << format_ids(alone_b->ids);
  EXPECT_LE(da, bound) << where(pa) << ": logits beside another sequence differ from alone";
  EXPECT_LE(db, bound) << where(pb) << ": logits beside another sequence differ from alone";
}

// KV cache q8_0 and bf16: the prompt, then llama.cpp's greedy tokens fed one at a time
// through the cache; every step's logits against the same run with an f16 cache. Bound 1.0:
// llama.cpp's own q8_0-KV run (fa_on_kv_q8_0) differs from its f16-KV baseline by up to
// 0.69 (max over the vocab at the last prompt position, all Q8_0 files); bf16 keeps fewer
// mantissa bits than f16 too, so it gets the same bound. Where llama.cpp refuses q8_0
// (qwen2-tiny: head_dim 16 is not a multiple of the 32-element block) we must refuse too.
void check_kv_type(ReferenceTest& t, const Reference& ref, const std::string& path, DType type);

TEST_P(ReferenceTest, KvCacheQ8_0) { check_kv_type(*this, *ref_, path_, DType::kQ8_0); }
TEST_P(ReferenceTest, KvCacheBf16) { check_kv_type(*this, *ref_, path_, DType::kBF16); }

void check_kv_type(ReferenceTest&, const Reference& ref, const std::string& path, DType type) {
  constexpr double kBound = 1.0;
  const std::string name(dtype_name(type));
  const RefPrompt& p = ref.prompts.front();
  EngineOptions o = reference_options(path);
  o.cache_type_k = o.cache_type_v = type;
  const RefVariant* v = p.variant("fa_on_kv_q8_0");
  if (type == DType::kQ8_0 && v && !v->error.empty()) {
    auto r = load_engine(o);
    bool refused = !r.is_ok();
    std::string msg = r.is_ok() ? "" : r.status().message();
    if (r.is_ok()) {
      auto rows = decode_tokens(**r, p.prompt_ids, 0, 0, false);
      refused = !rows.is_ok();
      msg = rows.is_ok() ? "" : rows.status().message();
    }
    std::printf("[reference] %-26s kv %s: refused (%s); llama.cpp: %s\n", ref.name.c_str(), name.c_str(),
                msg.c_str(), v->error.c_str());
    EXPECT_TRUE(refused) << ref.name << ": llama.cpp refuses a q8_0 KV cache here (" << v->error
                         << ") but the engine accepted it";
    return;
  }
  auto rf = load_engine(reference_options(path));
  auto rq = load_engine(o);
  if (!rq.is_ok() && type == DType::kQ8_0 && !v)
    GTEST_SKIP() << ref.name << ": llama.cpp recorded no q8_0-KV run for this file and the engine refuses it: "
                 << rq.status().message();
  ASSERT_TRUE(rf.is_ok()) << rf.status().message();
  ASSERT_TRUE(rq.is_ok()) << ref.name << ": KV cache " << name << ": " << rq.status().message();
  auto base = greedy(**rf, p.prompt_ids, kNGen, 0, 0, &p.greedy_ids);
  auto quant = greedy(**rq, p.prompt_ids, kNGen, 0, 0, &p.greedy_ids);
  ASSERT_TRUE(base.is_ok()) << base.status().message();
  ASSERT_TRUE(quant.is_ok()) << ref.name << ": KV cache " << name << ": " << quant.status().message();
  const int n_vocab = (*rf)->n_vocab();
  std::vector<int> bad;
  double worst = 0;
  int worst_step = 0;
  for (int i = 0; i < kNGen; ++i) {
    const float* a = base->step_logits.data() + static_cast<size_t>(i) * n_vocab;
    const float* b = quant->step_logits.data() + static_cast<size_t>(i) * n_vocab;
    double d = 0;
    for (int j = 0; j < n_vocab; ++j) d = std::max(d, std::fabs(static_cast<double>(a[j]) - b[j]));
    const TopList top = top_k(a, n_vocab, 2);
    const bool top1_wrong = top[0].second - top[1].second > 2 * kBound && argmax(b, n_vocab) != top[0].first;
    if (d > kBound || top1_wrong || std::isnan(d)) bad.push_back(i);
    if (d > worst || std::isnan(d)) {
      worst = std::isnan(d) ? INFINITY : d;
      worst_step = i;
    }
  }
  const size_t budget =
      is_moe_arch((*rf)->summary().arch) ? static_cast<size_t>(kMoeOutlierShare * kNGen) : 0;
  std::printf("[reference] %-26s kv %s vs f16: max|Δ| %.4f at step %d, %zu/%d steps over %.1f\n", ref.name.c_str(),
              name.c_str(), worst, worst_step, bad.size(), kNGen, kBound);
  EXPECT_LE(bad.size(), budget) << ref.name << " prompt '" << p.id << "': KV cache " << name << " moves the logits by "
                                << worst << " at step " << worst_step << " (bound " << kBound << ", " << bad.size()
                                << " steps over, allowed " << budget << ")";
}

INSTANTIATE_TEST_SUITE_P(Zoo, ReferenceTest, testing::ValuesIn(reference_names()), param_name);

// The registry is the reference folder; make sure it is not empty and that every
// architecture has a model bundled in tests/data, so a fresh clone tests all of them.
TEST(ReferenceSet, EveryArchitectureHasABundledFixture) {
  const std::vector<std::string> names = reference_names();
  ASSERT_GE(names.size(), 7u) << "tests/data/reference holds " << names.size() << " references";
  std::set<std::string> covered;
  for (const std::string& name : names) {
    const Reference& ref = reference(name);
    const std::string rel = "models/" + ref.model_file;
    if (!file_exists(data_path(rel)) && !file_exists(data_path(rel + ".xz"))) continue;
    auto m = gguf::Model::open(fixture(rel));
    ASSERT_TRUE(m.is_ok()) << rel << ": " << m.status().message();
    covered.insert(std::string((*m)->architecture()));
  }
  for (const char* arch : kArchitectures)
    EXPECT_TRUE(covered.count(arch)) << "architecture '" << arch
                                     << "' has no bundled model with a reference in tests/data";
}

// Logits for every position of every prompt, via one batch.
std::vector<std::vector<float>> all_prompt_logits(Engine& e, const Reference& ref) {
  std::vector<std::vector<float>> out;
  for (const RefPrompt& p : ref.prompts) {
    e.truncate_sequence(0, 0);
    auto rows = decode_tokens(e, p.prompt_and_greedy(), 0, 0, true);
    EXPECT_TRUE(rows.is_ok()) << ref.name << " '" << p.id << "': " << rows.status().message();
    out.push_back(rows.is_ok() ? std::move(*rows) : std::vector<float>{});
  }
  return out;
}

// A GGUF split in 3 shards computes exactly what the single file computes.
TEST(Consistency, SplitGgufIsBitIdentical) {
  const std::string whole = fixture("models/stories260K.gguf");
  const std::string split = fixture("models/stories260K-00001-of-00003.gguf");
  if (whole.empty() || split.empty())
    GTEST_SKIP() << "needs models/stories260K.gguf and models/stories260K-00001-of-00003.gguf";
  const Reference& ref = reference("stories260K");
  auto a = load_engine(reference_options(whole));
  auto b = load_engine(reference_options(split));
  ASSERT_TRUE(a.is_ok()) << a.status().message();
  ASSERT_TRUE(b.is_ok()) << "split: " << b.status().message();
  const auto la = all_prompt_logits(**a, ref);
  const auto lb = all_prompt_logits(**b, ref);
  for (size_t i = 0; i < la.size(); ++i) {
    size_t at = 0;
    const double d = max_abs_diff(la[i], lb[i], &at);
    EXPECT_EQ(d, 0.0) << "prompt '" << ref.prompts[i].id << "': split vs single file differ by " << d
                      << " at position " << at / (*a)->n_vocab() << " id " << at % (*a)->n_vocab();
  }
}

// ds3-tiny in the current MLA layout (attn_k_b/attn_v_b) and the legacy fused attn_kv_b
// layout hold the same weights; each must match its own reference (ReferenceTest does
// that), and at the last prompt position they agree within Q8_0 noise: llama.cpp's two
// files differ by 0.51-0.70 over the full vocab there. Earlier positions are not compared:
// llama.cpp's own two files differ by up to 6.9 at a few of them (MoE routing flips).
TEST(Consistency, Ds3MlaVsLegacyLayout) {
  const std::string mla = fixture("models/ds3-tiny-Q8_0.gguf");
  const std::string legacy = fixture("models/ds3-tiny-legacy-kvb-Q8_0.gguf");
  if (mla.empty() || legacy.empty())
    GTEST_SKIP() << "needs models/ds3-tiny-Q8_0.gguf and models/ds3-tiny-legacy-kvb-Q8_0.gguf (../shared)";
  constexpr double kBound = 1.0;
  auto a = load_engine(reference_options(mla));
  auto b = load_engine(reference_options(legacy));
  ASSERT_TRUE(a.is_ok()) << a.status().message();
  ASSERT_TRUE(b.is_ok()) << "legacy: " << b.status().message();
  for (const RefPrompt& p : reference("ds3-tiny-Q8_0").prompts) {
    auto ra = decode_tokens(**a, p.prompt_ids, 0, 0, false);
    auto rb = decode_tokens(**b, p.prompt_ids, 0, 0, false);
    (*a)->truncate_sequence(0, 0);
    (*b)->truncate_sequence(0, 0);
    ASSERT_TRUE(ra.is_ok() && rb.is_ok()) << ra.status().message() << rb.status().message();
    size_t at = 0;
    const double d = max_abs_diff(*ra, *rb, &at);
    std::printf("[reference] ds3 MLA vs legacy '%s': max|Δ| %.4f at the last prompt position\n", p.id.c_str(), d);
    EXPECT_LE(d, kBound) << "prompt '" << p.id << "': MLA vs legacy layout differ by " << d << " at id " << at;
  }
}

}  // namespace
}  // namespace deepcpu::test
