// --numa distribute on a (fake) two-node machine: the repacked weights are split by rows
// into one part per node and each node's threads compute their part's rows first
// (runtime/numa.h NodeSplit, ThreadPool::run_parts). Which thread computes a row never
// changes its value, so the logits of the DeepSeek MoE/MLA model must be bit-identical to
// an engine without the split: dense matmuls, the grouped per-head and per-expert matmuls,
// prefill and decode. The fake nodes hold this machine's CPUs 0 and 1; the mbind to a
// node that does not exist here is refused with a warning and changes nothing else.
#include <gtest/gtest.h>

#include "engine/engine.h"
#include "kernels/kernels.h"
#include "runtime/thread_pool.h"
#include "test_util.h"

namespace deepcpu {
namespace {

std::unique_ptr<Engine> open_ds3(int n_threads, const CpuTopology* topology) {
  const std::string path = test::fixture("models/ds3-tiny-Q8_0.gguf");
  if (path.empty()) return nullptr;
  EngineOptions o;
  o.model_path = path;
  o.n_threads = n_threads;
  o.n_ctx = 256;
  o.n_seq_max = 2;
  o.flash_attn = true;
  o.cache_type_k = o.cache_type_v = DType::kQ8_0;
  o.topology = topology;
  if (topology != nullptr) o.placement.numa = NumaStrategy::kDistribute;
  auto e = Engine::load(o);
  EXPECT_TRUE(e.is_ok()) << e.status().message();
  return e.is_ok() ? std::move(e.value()) : nullptr;
}

// A prompt on two sequences, then a few decode steps of both: every logits row.
std::vector<float> run(Engine& e) {
  std::vector<float> all, logits;
  Batch b;
  for (int i = 0; i < 40; ++i) b.add(3 + (i * 37) % 200, i, 0, true);
  for (int i = 0; i < 9; ++i) b.add(5 + (i * 11) % 200, i, 1, true);
  EXPECT_TRUE(e.decode(b, &logits).is_ok());
  all.insert(all.end(), logits.begin(), logits.end());
  for (int step = 0; step < 4; ++step) {
    Batch d;
    d.add(7 + step, 40 + step, 0, true);
    d.add(9 + step, 9 + step, 1, true);
    EXPECT_TRUE(e.decode(d, &logits).is_ok());
    all.insert(all.end(), logits.begin(), logits.end());
  }
  return all;
}

TEST(EngineNumaSplit, SplitWeightsGiveBitIdenticalLogits) {
  if (kernels::table().q8_0.gemm_packed == nullptr) GTEST_SKIP() << "no packed kernels on this CPU";
  // Planning pins the caller (thread 0) to node 0's CPU; put it back afterwards so the
  // rest of this test process runs where it did.
  const std::vector<int> caller_cpus = current_thread_cpus();
  CpuTopology two_nodes;
  two_nodes.nodes = {{0, {0}}, {1, {1}}};
  two_nodes.allowed = {0, 1};
  auto plain = open_ds3(3, nullptr);
  if (!plain) GTEST_SKIP() << "models/ds3-tiny-Q8_0.gguf not found";
  EXPECT_EQ(plain->numa_parts(), 1);
  const std::vector<float> want = run(*plain);
  plain.reset();
  for (int n_threads : {2, 3}) {  // parts of equal and unequal size (threads 1/1, 2/1)
    auto split = open_ds3(n_threads, &two_nodes);
    ASSERT_NE(split, nullptr);
    EXPECT_EQ(split->numa_parts(), 2);
    EXPECT_EQ(run(*split), want) << n_threads << " threads";
  }
  if (!caller_cpus.empty()) pin_current_thread(caller_cpus);
}

}  // namespace
}  // namespace deepcpu
