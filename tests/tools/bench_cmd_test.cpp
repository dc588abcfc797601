// Black-box tests of `deepcpu batched-bench` and `deepcpu bench` on stories260K: the
// rows and columns are there and consistent (N_KV = B*(PP+TG), positive speeds), bad
// flags exit 2 (usage) or 1 (bad value) naming the flag. Speeds are never compared.
#include <gtest/gtest.h>

#include "test_util.h"

#include <nlohmann/json.hpp>

#include <set>
#include <sstream>

namespace deepcpu::test {
namespace {

std::string stories() { return fixture("models/stories260K.gguf"); }

std::vector<nlohmann::json> json_lines(const std::string& out) {
  std::vector<nlohmann::json> rows;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) rows.push_back(nlohmann::json::parse(line));
  }
  return rows;
}

TEST(BatchedBenchCmd, JsonlRowsAreConsistent) {
  const std::string model = stories();
  if (model.empty()) GTEST_SKIP() << "models/stories260K.gguf not found";
  const CommandResult r = run_deepcpu("batched-bench -m '" + model +
                                      "' -npp 8 -ntg 4 -npl 1,2 -c 256 -t 2 -fa on --output-format jsonl");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<nlohmann::json> rows;
  ASSERT_NO_THROW(rows = json_lines(r.out)) << "stdout is not one JSON object per line:\n" << r.out;
  ASSERT_EQ(rows.size(), 2u) << r.out;
  std::set<int> pls;
  for (const nlohmann::json& j : rows) {
    for (const char* key : {"n_kv_max", "n_batch", "n_ubatch", "flash_attn", "is_pp_shared", "n_threads", "pp", "tg",
                            "pl", "n_kv", "t_pp", "speed_pp", "t_tg", "speed_tg", "t", "speed"})
      EXPECT_TRUE(j.contains(key)) << key << " missing in " << j.dump();
    EXPECT_EQ(j["pp"], 8);
    EXPECT_EQ(j["tg"], 4);
    EXPECT_EQ(j["n_kv_max"], 256);
    EXPECT_EQ(j["flash_attn"], 1);
    EXPECT_EQ(j["n_kv"].get<int>(), j["pl"].get<int>() * (8 + 4)) << j.dump();
    for (const char* key : {"t_pp", "speed_pp", "t_tg", "speed_tg", "t", "speed"})
      EXPECT_GT(j[key].get<double>(), 0.0) << key << " in " << j.dump();
    pls.insert(j["pl"].get<int>());
  }
  EXPECT_EQ(pls, (std::set<int>{1, 2}));
  // The header (machine, command, attention path) goes to stderr in jsonl mode.
  EXPECT_NE(r.err.find("command: deepcpu batched-bench"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("flash (online softmax) attention path"), std::string::npos) << r.err;
}

TEST(BatchedBenchCmd, MarkdownTableAndSkippedRows) {
  const std::string model = stories();
  if (model.empty()) GTEST_SKIP() << "models/stories260K.gguf not found";
  // B = 32 needs 32 * 12 = 384 cells > -c 256: skipped with a note, as llama.cpp skips it.
  const CommandResult r = run_deepcpu("batched-bench -m '" + model + "' -npp 8 -ntg 4 -npl 1,2,32 -c 256 -t 1");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* col : {"PP", "TG", "B", "N_KV", "T_PP s", "S_PP t/s", "T_TG s", "S_TG t/s", "T s", "S t/s"})
    EXPECT_NE(r.out.find(col), std::string::npos) << col << " missing:\n" << r.out;
  EXPECT_NE(r.out.find("|     8 |      4 |    1 |     12 |"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("|     8 |      4 |    2 |     24 |"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("|   32 |"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("skipped"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("machine: "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("NUMA"), std::string::npos) << r.out;
}

TEST(BatchedBenchCmd, SharedPromptIsReportedHonestly) {
  const std::string model = stories();
  if (model.empty()) GTEST_SKIP() << "models/stories260K.gguf not found";
  const CommandResult r = run_deepcpu("batched-bench -m '" + model + "' -npp 8 -ntg 2 -npl 2 -c 256 -pps");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("is_pp_shared = 1"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("once per sequence"), std::string::npos) << r.out;
}

TEST(BatchedBenchCmd, BadFlags) {
  const std::string model = stories();
  if (model.empty()) GTEST_SKIP() << "models/stories260K.gguf not found";
  const std::string m = "batched-bench -m '" + model + "' ";
  const CommandResult unknown = run_deepcpu(m + "--no-such-flag");
  EXPECT_EQ(unknown.exit_code, 2) << unknown.err;
  const CommandResult fmt = run_deepcpu(m + "--output-format csv");
  EXPECT_EQ(fmt.exit_code, 2) << fmt.err;
  const CommandResult npl = run_deepcpu(m + "-npl 1,x");
  EXPECT_EQ(npl.exit_code, 1) << npl.err;
  EXPECT_NE(npl.err.find("-npl"), std::string::npos) << npl.err;
  const CommandResult zero = run_deepcpu(m + "-npl 0");
  EXPECT_EQ(zero.exit_code, 1) << zero.err;
  const CommandResult fa = run_deepcpu(m + "-fa maybe");
  EXPECT_EQ(fa.exit_code, 1) << fa.err;
  EXPECT_NE(fa.err.find("-fa"), std::string::npos) << fa.err;
  const CommandResult missing = run_deepcpu("batched-bench -m /nonexistent/model.gguf -npl 1");
  EXPECT_EQ(missing.exit_code, 1) << missing.err;
  EXPECT_NE(missing.err.find("/nonexistent/model.gguf"), std::string::npos) << missing.err;
}

TEST(BenchCmd, PrintsTheTable) {
  const std::string model = stories();
  if (model.empty()) GTEST_SKIP() << "models/stories260K.gguf not found";
  // A small probe buffer keeps the test quick; the figure itself is not checked.
  const CommandResult r =
      run_deepcpu("bench -m '" + model + "' -p 16 -n 8 -r 2 -t 1 --bw-size-mib 64");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* s : {"| model", "size", "params", "backend", "threads", "test", "t/s", "bw GB/s",
                        "tg % of roofline", "pp16", "tg8", "CPU", "±", "read bandwidth", "machine: "})
    EXPECT_NE(r.out.find(s), std::string::npos) << "'" << s << "' missing:\n" << r.out;
}

TEST(BenchCmd, JsonlHasRooflineForTg) {
  const std::string model = stories();
  if (model.empty()) GTEST_SKIP() << "models/stories260K.gguf not found";
  const CommandResult r =
      run_deepcpu("bench -m '" + model + "' -p 16 -n 8 -r 2 -t 1 -fa 0,1 --bw-size-mib 64 -o jsonl");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<nlohmann::json> rows;
  ASSERT_NO_THROW(rows = json_lines(r.out)) << r.out;
  ASSERT_EQ(rows.size(), 4u) << r.out;  // (pp16, tg8) x fa 0, 1
  for (const nlohmann::json& j : rows) {
    EXPECT_EQ(j["samples_ts"].size(), 2u) << j.dump();
    EXPECT_GT(j["avg_ts"].get<double>(), 0.0) << j.dump();
    EXPECT_GT(j["bandwidth_gbs"].get<double>(), 0.0) << j.dump();
    EXPECT_GT(j["weight_bytes_per_token"].get<double>(), 0.0) << j.dump();
    if (j["n_gen"].get<int>() > 0) EXPECT_GT(j["roofline_pct"].get<double>(), 0.0) << j.dump();
    else EXPECT_TRUE(j["roofline_pct"].is_null()) << j.dump();
  }
}

TEST(BenchCmd, BandwidthProbe) {
  const CommandResult r = run_deepcpu("bench bandwidth -t 2 -r 2 --size-mib 64");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("| threads | buffer MiB | best GB/s | median GB/s |"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("|       1 |"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("|       2 |"), std::string::npos) << r.out;
}

TEST(BenchCmd, BadFlags) {
  const std::string model = stories();
  if (model.empty()) GTEST_SKIP() << "models/stories260K.gguf not found";
  const std::string m = "bench -m '" + model + "' ";
  EXPECT_EQ(run_deepcpu(m + "-o xml").exit_code, 2);
  EXPECT_EQ(run_deepcpu(m + "--bogus").exit_code, 2);
  const CommandResult t = run_deepcpu(m + "-t 0");
  EXPECT_EQ(t.exit_code, 1) << t.err;
  EXPECT_NE(t.err.find("-t"), std::string::npos) << t.err;
  const CommandResult fa = run_deepcpu(m + "-fa 2");
  EXPECT_EQ(fa.exit_code, 1) << fa.err;
  const CommandResult r = run_deepcpu(m + "-r 0");
  EXPECT_EQ(r.exit_code, 1) << r.err;
  const CommandResult ctk = run_deepcpu(m + "-ctk q4_9");
  EXPECT_EQ(ctk.exit_code, 1) << ctk.err;
  EXPECT_NE(ctk.err.find("q4_9"), std::string::npos) << ctk.err;
}

}  // namespace
}  // namespace deepcpu::test
