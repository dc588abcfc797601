// See reference_util.h. Reads the trimmed references (tests/data/reference/PROVENANCE.md)
// and drives the Engine exactly as llama.cpp's zoo-dump did.
#include "model/reference_util.h"

#include "test_util.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <mutex>
#include <numeric>
#include <stdexcept>

namespace deepcpu::test {

namespace {

using nlohmann::json;

TopList parse_top(const json& j) {
  TopList out;
  out.reserve(j.size());
  for (const json& pair : j) out.emplace_back(pair.at(0).get<TokenId>(), pair.at(1).get<float>());
  return out;
}

std::vector<TopList> parse_tops(const json& j) {
  std::vector<TopList> out;
  out.reserve(j.size());
  for (const json& row : j) out.push_back(parse_top(row));
  return out;
}

WeightClass weight_class_from_desc(const std::string& desc, const std::string& file) {
  // llama.cpp's model_desc ends in its file type: "deepseek2 ?B Q8_0", "llama ?B all F32".
  if (desc.find("Q8_0") != std::string::npos) return WeightClass::kQ8_0;
  if (desc.find("BF16") != std::string::npos) return WeightClass::kBF16;
  if (desc.find("F16") != std::string::npos) return WeightClass::kF16;
  if (desc.find("F32") != std::string::npos) return WeightClass::kF32;
  throw std::runtime_error(file + ": model_desc '" + desc + "' names no file type this test knows");
}

Reference parse_reference(const std::string& name, const std::string& path) {
  const json j = json::parse(read_file(path));
  if (j.value("format", "") != "zoo-reference/1") throw std::runtime_error(path + ": format is not zoo-reference/1");
  Reference r;
  r.name = name;
  r.model_file = j.at("model_file").get<std::string>();
  r.also_valid_for = j.value("also_valid_for", std::vector<std::string>{});
  r.model_desc = j.at("model_desc").get<std::string>();
  r.n_vocab = j.at("n_vocab").get<int>();
  r.weights = weight_class_from_desc(r.model_desc, path);
  for (const json& p : j.at("prompts")) {
    RefPrompt q;
    q.id = p.at("id").get<std::string>();
    q.text = p.at("text").get<std::string>();
    q.parse_special = p.at("parse_special").get<bool>();
    q.prompt_ids = p.at("prompt_ids").get<std::vector<TokenId>>();
    q.greedy_ids = p.at("greedy_ids").get<std::vector<TokenId>>();
    q.greedy_step_gap = p.at("greedy_step_gap").get<std::vector<float>>();
    q.top10 = parse_tops(p.at("top10"));
    if (p.contains("last_prompt_top200")) q.last_prompt_top200 = parse_top(p["last_prompt_top200"]);
    if (q.top10.size() != q.prompt_ids.size() + q.greedy_ids.size())
      throw std::runtime_error(path + ": prompt '" + q.id + "' top10 has " + std::to_string(q.top10.size()) +
                               " positions, expected prompt+greedy = " +
                               std::to_string(q.prompt_ids.size() + q.greedy_ids.size()));
    if (p.contains("variants")) {
      for (const auto& [vname, v] : p["variants"].items()) {
        RefVariant rv;
        rv.error = v.contains("error") ? v["error"].dump() : "";
        if (v.contains("greedy_ids")) rv.greedy_ids = v["greedy_ids"].get<std::vector<TokenId>>();
        if (v.contains("first_divergence_from_baseline") && !v["first_divergence_from_baseline"].is_null())
          rv.first_divergence = v["first_divergence_from_baseline"].get<int>();
        if (v.contains("last_prompt_top10")) rv.last_prompt_top10 = parse_top(v["last_prompt_top10"]);
        rv.last_prompt_max_abs_diff = v.value("last_prompt_logits_max_abs_diff", 0.0);
        if (v.contains("top10")) rv.top10 = parse_tops(v["top10"]);
        q.variants.emplace(vname, std::move(rv));
      }
    }
    r.prompts.push_back(std::move(q));
  }
  return r;
}

}  // namespace

const RefVariant* RefPrompt::variant(const std::string& name) const {
  auto it = variants.find(name);
  return it == variants.end() ? nullptr : &it->second;
}

std::vector<TokenId> RefPrompt::prompt_and_greedy() const {
  std::vector<TokenId> ids = prompt_ids;
  ids.insert(ids.end(), greedy_ids.begin(), greedy_ids.end());
  return ids;
}

const char* weight_class_name(WeightClass w) {
  switch (w) {
    case WeightClass::kF32: return "F32";
    case WeightClass::kF16: return "F16";
    case WeightClass::kBF16: return "BF16";
    case WeightClass::kQ8_0: return "Q8_0";
  }
  return "?";
}

std::vector<std::string> reference_names() {
  std::vector<std::string> names;
  const std::filesystem::path dir = data_path("reference");
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    if (e.path().extension() == ".json") names.push_back(e.path().stem().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

const Reference& reference(const std::string& name) {
  // Parsed once per process: several tests of one model share it.
  static std::mutex mu;
  static std::map<std::string, std::unique_ptr<Reference>> cache;
  std::lock_guard<std::mutex> lock(mu);
  auto& slot = cache[name];
  if (!slot) {
    const std::string path = fixture("reference/" + name + ".json");
    if (path.empty()) throw std::runtime_error("reference/" + name + ".json not found");
    slot = std::make_unique<Reference>(parse_reference(name, path));
  }
  return *slot;
}

std::string model_path(const Reference& ref) { return fixture("models/" + ref.model_file); }

Tolerance tolerance_for(WeightClass w) {
  switch (w) {
    case WeightClass::kF32:
      return {0.01f,
              "F32 weights with the reference's F16 KV cache: the matmuls agree to ~1e-5, but "
              "attention rounds to F16 and its order matters; llama.cpp's own FA on vs off "
              "differs by up to 0.0077 on stories260K (0.0040-0.0077 over the 3 prompts)"};
    case WeightClass::kF16:
      return {0.05f,
              "llama.cpp's own f32 (f32_dequant) vs its F16 activation rounding differ by up to "
              "0.025 over all teacher-forced positions (0.017 at the last prompt position), and "
              "its FA on/off by up to 0.031"};
    case WeightClass::kBF16:
      return {0.25f,
              "llama.cpp's own f32 (f32_dequant) vs its BF16 activation rounding differ by up to "
              "0.12 over all teacher-forced positions, FA on/off by 0.15, and the F32 master by 0.15"};
    case WeightClass::kQ8_0:
      return {1.0f,
              "llama.cpp's own f32 (f32_dequant) vs its Q8_0 activation quantization differ by up "
              "to 0.67 at the last prompt position, FA on/off by 0.86, the F32 masters by 0.99: "
              "Q8_0 is discontinuous, any reordering moves the logits by this much"};
  }
  return {0, ""};
}

bool is_moe_arch(const std::string& arch) { return arch == "deepseek2"; }

EngineOptions reference_options(const std::string& path) {
  EngineOptions o;
  o.model_path = path;
  o.n_threads = 2;
  o.n_ctx = 512;
  o.n_batch = 512;
  o.n_ubatch = 512;
  o.n_seq_max = 1;
  o.cache_type_k = DType::kF16;
  o.cache_type_v = DType::kF16;
  return o;
}

Result<std::unique_ptr<Engine>> load_engine(const EngineOptions& options) { return Engine::load(options); }

TokenId argmax(const float* row, int n) {
  TokenId best = 0;
  for (int i = 1; i < n; ++i)
    if (row[i] > row[best]) best = i;  // strict: ties keep the lower id
  return best;
}

TopList top_k(const float* row, int n, int k) {
  std::vector<TokenId> idx(n);
  std::iota(idx.begin(), idx.end(), 0);
  k = std::min(k, n);
  std::partial_sort(idx.begin(), idx.begin() + k, idx.end(), [row](TokenId a, TokenId b) {
    return row[a] > row[b] || (row[a] == row[b] && a < b);
  });
  TopList out;
  for (int i = 0; i < k; ++i) out.emplace_back(idx[i], row[idx[i]]);
  return out;
}

Result<std::vector<float>> decode_tokens(Engine& engine, const std::vector<TokenId>& ids, int32_t seq, int32_t pos0,
                                         bool all_logits, int chunk) {
  std::vector<float> out;
  const size_t n = ids.size();
  const size_t step = chunk > 0 ? static_cast<size_t>(chunk) : std::max<size_t>(n, 1);
  Batch batch;
  std::vector<float> rows;
  for (size_t begin = 0; begin < n; begin += step) {
    const size_t end = std::min(n, begin + step);
    batch.clear();
    for (size_t i = begin; i < end; ++i)
      batch.add(ids[i], pos0 + static_cast<int32_t>(i), seq, all_logits || i + 1 == n);
    Status st = engine.decode(batch, &rows);
    if (!st.is_ok()) return error("decode of tokens [{}, {}) of seq {} failed: {}", begin, end, seq, st.message());
    out.insert(out.end(), rows.begin(), rows.end());
  }
  return out;
}

Result<GreedyRun> greedy(Engine& engine, const std::vector<TokenId>& prompt, int n_gen, int32_t seq, int chunk,
                         const std::vector<TokenId>* forced) {
  const int n_vocab = engine.n_vocab();
  GreedyRun run;
  auto first = decode_tokens(engine, prompt, seq, 0, false, chunk);
  if (!first.is_ok()) return first.status();
  std::vector<float> row = std::move(*first);
  Batch batch;
  for (int i = 0; i < n_gen; ++i) {
    if (row.size() != static_cast<size_t>(n_vocab))
      return error("step {}: expected one logits row of {} floats, got {}", i, n_vocab, row.size());
    run.step_logits.insert(run.step_logits.end(), row.begin(), row.end());
    const TokenId tok = argmax(row.data(), n_vocab);
    run.ids.push_back(tok);
    if (i + 1 == n_gen) break;  // the last token is never fed back, as in the reference
    const TokenId next = forced ? (*forced)[i] : tok;
    batch.clear();
    batch.add(next, static_cast<int32_t>(prompt.size()) + i, seq, true);
    Status st = engine.decode(batch, &row);
    if (!st.is_ok()) return error("decode of generated token {} failed: {}", i, st.message());
  }
  return run;
}

RowCompare compare_row(const float* row, int n_vocab, const TopList& ref) {
  RowCompare c;
  for (const auto& [id, logit] : ref) {
    const double d = std::fabs(static_cast<double>(row[id]) - logit);
    if (d > c.max_abs || c.worst_id < 0) {
      c.max_abs = d;
      c.worst_id = id;
    }
  }
  c.our_top1 = argmax(row, n_vocab);
  c.ref_gap = ref.size() >= 2 ? ref[0].second - ref[1].second : 0.0f;
  return c;
}

SeqCompare compare_rows(const std::vector<float>& rows, int n_vocab, const std::vector<TopList>& ref, double tol,
                        size_t n_positions) {
  SeqCompare s;
  for (size_t i = 0; i < n_positions; ++i) {
    RowCompare c = compare_row(rows.data() + i * static_cast<size_t>(n_vocab), n_vocab, ref[i]);
    if (c.max_abs > s.max_abs || s.worst_pos < 0) {
      s.max_abs = c.max_abs;
      s.worst_pos = static_cast<int>(i);
    }
    const bool top1_wrong = c.ref_gap > 2 * tol && c.our_top1 != ref[i][0].first;
    if (c.max_abs > tol || top1_wrong) s.bad_positions.push_back(static_cast<int>(i));
    s.rows.push_back(c);
  }
  return s;
}

std::string format_top(const TopList& top, size_t n) {
  std::string s = "[";
  for (size_t i = 0; i < std::min(n, top.size()); ++i) {
    if (i) s += ", ";
    s += std::to_string(top[i].first) + ":" + fmt::format("{:.4f}", top[i].second);
  }
  return s + "]";
}

std::string format_ids(const std::vector<TokenId>& ids, size_t from, size_t n) {
  std::string s = "[";
  for (size_t i = from; i < std::min(ids.size(), from + n); ++i) {
    if (i > from) s += " ";
    s += std::to_string(ids[i]);
  }
  if (from + n < ids.size()) s += " ...";
  return s + "]";
}

double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b, size_t* where) {
  double m = 0;
  size_t w = 0;
  const size_t n = std::min(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    const double d = std::fabs(static_cast<double>(a[i]) - b[i]);
    if (d > m || std::isnan(d)) {
      m = std::isnan(d) ? INFINITY : d;
      w = i;
    }
  }
  if (a.size() != b.size()) m = INFINITY;
  if (where) *where = w;
  return m;
}

size_t common_prefix(const std::vector<TokenId>& a, const std::vector<TokenId>& b) {
  size_t i = 0;
  while (i < a.size() && i < b.size() && a[i] == b[i]) ++i;
  return i;
}

}  // namespace deepcpu::test
