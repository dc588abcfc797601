// runtime/numa: cpulist / mask / range parsing (good and malformed), reading a fake sysfs
// tree, and plan_threads on fake machines: 1, 2 and 4 nodes, uneven nodes, offline CPUs,
// SMT siblings, a restricted affinity, more threads than CPUs, and every --numa strategy
// with and without -C/-Cr and --cpu-strict. mbind is checked only where it is harmless
// (this process, default policy, the nodes this machine has).
#include <gtest/gtest.h>

#include <sys/mman.h>
#include <sys/stat.h>

#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "runtime/huge_alloc.h"
#include "runtime/numa.h"
#include "test_util.h"

namespace deepcpu {
namespace {

using Cpus = std::vector<int>;

Cpus range(int lo, int hi) {
  Cpus c;
  for (int i = lo; i <= hi; ++i) c.push_back(i);
  return c;
}

Cpus concat(Cpus a, const Cpus& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// --- parsing ------------------------------------------------------------------------

TEST(NumaParse, CpuListForms) {
  EXPECT_EQ(*parse_cpu_list("0-3,8-11"), concat(range(0, 3), range(8, 11)));
  EXPECT_EQ(*parse_cpu_list("0,2,4"), (Cpus{0, 2, 4}));
  EXPECT_EQ(*parse_cpu_list("5\n"), (Cpus{5}));
  EXPECT_EQ(*parse_cpu_list(""), Cpus{});
  EXPECT_EQ(*parse_cpu_list("\n"), Cpus{});
  EXPECT_EQ(*parse_cpu_list("7,0-2,1"), (Cpus{0, 1, 2, 7}));  // unsorted, overlapping
  EXPECT_EQ(*parse_cpu_list("3-3"), (Cpus{3}));
}

TEST(NumaParse, CpuListMalformed) {
  for (const char* bad : {"a", "0-", "-3", "3-1", "0,,2", "0,", ",0", "1-2-3", "0 - 3", "+1", "0x3", "4096",
                          "0-99999", "1;2"}) {
    auto r = parse_cpu_list(bad);
    EXPECT_FALSE(r.is_ok()) << "'" << bad << "' parsed";
    if (!r.is_ok()) {
      EXPECT_NE(r.status().message().find("cpu list"), std::string::npos) << r.status().message();
    }
  }
}

TEST(NumaParse, FormatCollapsesRanges) {
  EXPECT_EQ(format_cpu_list({0, 1, 2, 3, 8}), "0-3,8");
  EXPECT_EQ(format_cpu_list({0, 2, 4}), "0,2,4");
  EXPECT_EQ(format_cpu_list({}), "");
  EXPECT_EQ(*parse_cpu_list(format_cpu_list(concat(range(0, 3), range(8, 11)))), concat(range(0, 3), range(8, 11)));
}

TEST(NumaParse, CpuMaskIsHexWithTheLastDigitForCpus0To3) {
  EXPECT_EQ(*parse_cpu_mask("0xff"), range(0, 7));
  EXPECT_EQ(*parse_cpu_mask("FF"), range(0, 7));
  EXPECT_EQ(*parse_cpu_mask("0x1"), (Cpus{0}));
  EXPECT_EQ(*parse_cpu_mask("0x5"), (Cpus{0, 2}));
  EXPECT_EQ(*parse_cpu_mask("0xf0"), range(4, 7));
  EXPECT_EQ(*parse_cpu_mask("100"), (Cpus{8}));
  EXPECT_EQ(*parse_cpu_mask("0x10000000000000000"), (Cpus{64}));  // longer than 64 bits
  EXPECT_EQ(*parse_cpu_mask("0000001"), (Cpus{0}));
  for (const char* bad : {"", "0x", "0xg", "zz", "0x0", "0", "-1", "0x 1"})
    EXPECT_FALSE(parse_cpu_mask(bad).is_ok()) << "'" << bad << "' parsed";
  // One digit more than kMaxCpus / 4 names a CPU past the limit.
  EXPECT_FALSE(parse_cpu_mask("1" + std::string(kMaxCpus / 4, '0')).is_ok());
  EXPECT_TRUE(parse_cpu_mask("0" + std::string(kMaxCpus / 4 - 1, '0') + "1").is_ok());
}

TEST(NumaParse, CpuRangeAsLlamaCpp) {
  EXPECT_EQ(*parse_cpu_range("0-3"), range(0, 3));
  EXPECT_EQ(*parse_cpu_range("5-5"), (Cpus{5}));
  EXPECT_EQ(*parse_cpu_range("-2"), range(0, 2));
  EXPECT_EQ(parse_cpu_range("4090-")->size(), size_t(kMaxCpus - 4090));
  for (const char* bad : {"", "3", "3-1", "a-b", "1-2-3", "0-4096", "x-"})
    EXPECT_FALSE(parse_cpu_range(bad).is_ok()) << "'" << bad << "' parsed";
}

TEST(NumaParse, Strategies) {
  EXPECT_EQ(*parse_numa_strategy("distribute"), NumaStrategy::kDistribute);
  EXPECT_EQ(*parse_numa_strategy("isolate"), NumaStrategy::kIsolate);
  EXPECT_EQ(*parse_numa_strategy("numactl"), NumaStrategy::kNumactl);
  EXPECT_EQ(*parse_numa_strategy(""), NumaStrategy::kDisabled);
  auto bad = parse_numa_strategy("mirror");
  ASSERT_FALSE(bad.is_ok());
  EXPECT_NE(bad.status().message().find("distribute, isolate or numactl"), std::string::npos);
}

// --- sysfs ----------------------------------------------------------------------------

void write_file(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
}

void make_dirs(const std::string& path) {
  std::string cur;
  for (size_t i = 0; i <= path.size(); ++i) {
    if (i == path.size() || (path[i] == '/' && i > 0)) mkdir(path.substr(0, i).c_str(), 0755);
  }
}

TEST(NumaSysfs, ReadsNodesOnlineCpusAndSiblings) {
  const std::string root = test::temp_dir() + "/system";
  make_dirs(root + "/cpu");
  write_file(root + "/cpu/online", "0-5,7\n");  // CPU 6 is offline
  make_dirs(root + "/node/node0");
  make_dirs(root + "/node/node1");
  make_dirs(root + "/node/node2");  // memory only (CXL)
  make_dirs(root + "/node/possible");  // not a node directory
  write_file(root + "/node/node0/cpulist", "0-3\n");
  write_file(root + "/node/node1/cpulist", "4-7\n");
  write_file(root + "/node/node2/cpulist", "\n");
  // CPUs 0/2 and 1/3 are SMT siblings on node 0.
  for (int c : {0, 2}) {
    make_dirs(root + "/cpu/cpu" + std::to_string(c) + "/topology");
    write_file(root + "/cpu/cpu" + std::to_string(c) + "/topology/thread_siblings_list", "0,2\n");
  }
  for (int c : {1, 3}) {
    make_dirs(root + "/cpu/cpu" + std::to_string(c) + "/topology");
    write_file(root + "/cpu/cpu" + std::to_string(c) + "/topology/thread_siblings_list", "1,3\n");
  }
  std::string warn;
  const CpuTopology t = read_cpu_topology(root, &warn);
  EXPECT_EQ(warn, "");
  ASSERT_EQ(t.nodes.size(), 3u);
  EXPECT_EQ(t.nodes[0].id, 0);
  EXPECT_EQ(t.nodes[0].cpus, range(0, 3));
  EXPECT_EQ(t.nodes[1].cpus, (Cpus{4, 5, 7}));
  EXPECT_TRUE(t.nodes[2].cpus.empty());
  EXPECT_EQ(t.n_nodes_with_cpus(), 2);
  EXPECT_EQ(t.node_of_cpu(5), 1);
  EXPECT_EQ(t.node_of_cpu(6), -1);
  ASSERT_GE(t.smt_rank.size(), 4u);
  EXPECT_EQ(t.smt_rank[0], 0);
  EXPECT_EQ(t.smt_rank[1], 0);
  EXPECT_EQ(t.smt_rank[2], 1);
  EXPECT_EQ(t.smt_rank[3], 1);
}

TEST(NumaSysfs, MalformedNodeFallsBackToOneNode) {
  const std::string root = test::temp_dir() + "/system";
  make_dirs(root + "/cpu");
  write_file(root + "/cpu/online", "0-3\n");
  make_dirs(root + "/node/node0");
  make_dirs(root + "/node/node1");
  write_file(root + "/node/node0/cpulist", "0-1\n");
  write_file(root + "/node/node1/cpulist", "2-x\n");
  std::string warn;
  const CpuTopology t = read_cpu_topology(root, &warn);
  EXPECT_NE(warn.find("node1/cpulist"), std::string::npos) << warn;
  ASSERT_EQ(t.nodes.size(), 1u);
  EXPECT_EQ(t.nodes[0].cpus, range(0, 3));
}

TEST(NumaSysfs, NoNodeDirectoryIsOneNode) {
  const std::string root = test::temp_dir() + "/system";
  make_dirs(root + "/cpu");
  write_file(root + "/cpu/online", "0-2\n");
  const CpuTopology t = read_cpu_topology(root);
  ASSERT_EQ(t.nodes.size(), 1u);
  EXPECT_EQ(t.nodes[0].cpus, range(0, 2));
}

TEST(NumaSysfs, ThisMachineIsConsistent) {
  const CpuTopology& t = system_topology();
  ASSERT_GE(t.n_nodes_with_cpus(), 1);
  EXPECT_FALSE(t.allowed.empty());
  for (int c : t.allowed) EXPECT_GE(t.node_of_cpu(c), 0) << "allowed CPU " << c << " is in no node";
}

// --- planning -------------------------------------------------------------------------

CpuTopology machine(std::vector<Cpus> node_cpus, int current_cpu = 0) {
  CpuTopology t;
  for (size_t i = 0; i < node_cpus.size(); ++i) t.nodes.push_back({static_cast<int>(i), node_cpus[i]});
  t.current_cpu = current_cpu;
  return t;
}

PlacementRequest request(NumaStrategy numa, bool strict = false, Cpus mask = {}) {
  PlacementRequest r;
  r.numa = numa;
  r.strict = strict;
  r.cpu_mask = std::move(mask);
  return r;
}

ThreadPlan plan_ok(const CpuTopology& t, const PlacementRequest& r, int n) {
  auto p = plan_threads(t, r, n);
  EXPECT_TRUE(p.is_ok()) << p.status().message();
  if (!p.is_ok()) return {};
  EXPECT_TRUE(p->cpus.empty() || p->cpus.size() == static_cast<size_t>(std::max(1, n)));
  EXPECT_EQ(p->cpus.size(), p->node_of_thread.size());
  return *p;
}

TEST(NumaPlan, NoFlagsNoPlan) {
  for (int nodes : {1, 2, 4}) {
    std::vector<Cpus> n;
    for (int i = 0; i < nodes; ++i) n.push_back(range(4 * i, 4 * i + 3));
    const ThreadPlan p = plan_ok(machine(n), PlacementRequest{}, 8);
    EXPECT_TRUE(p.cpus.empty());
    EXPECT_EQ(p.memory.mode, NumaMemPolicy::Mode::kDefault);
    EXPECT_EQ(p.describe(), "unpinned");
  }
}

TEST(NumaPlan, SingleNodeNumaChangesNothing) {
  // llama.cpp ignores --numa on a one-node machine; so do we (this 2-core box).
  for (NumaStrategy s : {NumaStrategy::kDistribute, NumaStrategy::kIsolate, NumaStrategy::kNumactl}) {
    CpuTopology t = machine({range(0, 1)});
    t.allowed = {0, 1};
    const ThreadPlan p = plan_ok(t, request(s), 2);
    EXPECT_TRUE(p.cpus.empty()) << numa_strategy_name(s) << ": " << p.describe();
    EXPECT_EQ(p.memory.mode, NumaMemPolicy::Mode::kDefault);
    EXPECT_TRUE(p.warnings.empty());
  }
  // A memory-only second node does not make a NUMA machine for threads either.
  const ThreadPlan p = plan_ok(machine({range(0, 3), {}}), request(NumaStrategy::kDistribute), 4);
  EXPECT_TRUE(p.cpus.empty());
}

TEST(NumaPlan, DistributeTwoEqualNodesIsRoundRobin) {
  const CpuTopology t = machine({range(0, 3), range(4, 7)});
  const ThreadPlan p = plan_ok(t, request(NumaStrategy::kDistribute), 6);
  ASSERT_EQ(p.cpus.size(), 6u);
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ(p.node_of_thread[i], i % 2) << "thread " << i;  // llama.cpp: t % n_nodes
    EXPECT_EQ(p.cpus[i], i % 2 == 0 ? range(0, 3) : range(4, 7)) << "thread " << i;
  }
  EXPECT_EQ(p.memory.mode, NumaMemPolicy::Mode::kInterleave);
  EXPECT_EQ(p.memory.nodes, (Cpus{0, 1}));
  EXPECT_TRUE(p.warnings.empty());
}

TEST(NumaPlan, DistributeStrictGivesDistinctCpusSpreadOverNodes) {
  const CpuTopology t = machine({range(0, 3), range(4, 7), range(8, 11), range(12, 15)});
  const ThreadPlan p = plan_ok(t, request(NumaStrategy::kDistribute, /*strict=*/true), 16);
  std::set<int> seen;
  std::vector<int> per_node(4, 0);
  for (size_t i = 0; i < p.cpus.size(); ++i) {
    ASSERT_EQ(p.cpus[i].size(), 1u);
    seen.insert(p.cpus[i][0]);
    EXPECT_EQ(t.node_of_cpu(p.cpus[i][0]), p.node_of_thread[i]);
    ++per_node[p.node_of_thread[i]];
  }
  EXPECT_EQ(seen.size(), 16u);
  EXPECT_EQ(per_node, (std::vector<int>{4, 4, 4, 4}));
  EXPECT_EQ(p.cpus[0], Cpus{0});
  EXPECT_EQ(p.cpus[1], Cpus{4});
  EXPECT_EQ(p.cpus[4], Cpus{1});
  EXPECT_EQ(p.memory.nodes, (Cpus{0, 1, 2, 3}));
}

TEST(NumaPlan, DistributeUnevenNodesIsProportional) {
  // 8 + 4 CPUs, 6 threads: 4 on node 0, 2 on node 1 (not 3 + 3).
  const CpuTopology t = machine({range(0, 7), range(8, 11)});
  const ThreadPlan p = plan_ok(t, request(NumaStrategy::kDistribute, true), 6);
  std::vector<int> per_node(2, 0);
  for (int n : p.node_of_thread) ++per_node[n];
  EXPECT_EQ(per_node, (std::vector<int>{4, 2}));
  // 12 threads fill both exactly, without sharing a CPU.
  const ThreadPlan full = plan_ok(t, request(NumaStrategy::kDistribute, true), 12);
  EXPECT_EQ(full.all_cpus(), range(0, 11));
  EXPECT_TRUE(full.warnings.empty());
}

TEST(NumaPlan, DistributeSplitsWeightsByNodeInProportionToThreads) {
  // 8 + 4 CPUs, 6 threads: parts on nodes 0 and 1 holding 4/6 and 2/6 of every weight.
  const CpuTopology t = machine({range(0, 7), range(8, 11)});
  const ThreadPlan p = plan_ok(t, request(NumaStrategy::kDistribute, true), 6);
  EXPECT_EQ(p.split.nodes, (std::vector<int>{0, 1}));
  EXPECT_EQ(p.split.threads, (std::vector<int>{4, 2}));
  ASSERT_EQ(p.part_of_thread.size(), 6u);
  for (int i = 0; i < 6; ++i) EXPECT_EQ(p.part_of_thread[i], p.node_of_thread[i]) << "thread " << i;
  // 60 row groups: 40 + 20; the boundary rounds down and the last part ends at n.
  EXPECT_EQ(p.split.share_begin(60, 0), 0);
  EXPECT_EQ(p.split.share_begin(60, 1), 40);
  EXPECT_EQ(p.split.share_begin(60, 2), 60);
  EXPECT_EQ(p.split.share_begin(7, 1), 4);
  EXPECT_EQ(p.split.share_begin(1, 1), 0);  // too small to share: all in the last part
}

TEST(NumaPlan, SplitSkipsNodesWithoutThreadsAndNeedsTwoParts) {
  // 3 nodes but 2 threads: parts only on the two nodes that got a thread.
  const CpuTopology t = machine({range(0, 1), range(2, 3), range(4, 5)});
  const ThreadPlan two = plan_ok(t, request(NumaStrategy::kDistribute), 2);
  EXPECT_EQ(two.split.nodes, (std::vector<int>{0, 1}));
  EXPECT_EQ(two.part_of_thread, (std::vector<int>{0, 1}));
  // One thread: one node, no split (and no part_of_thread).
  const ThreadPlan one = plan_ok(t, request(NumaStrategy::kDistribute), 1);
  EXPECT_TRUE(one.split.nodes.empty());
  EXPECT_TRUE(one.part_of_thread.empty());
  EXPECT_EQ(one.split.n_parts(), 1);
  EXPECT_EQ(one.split.share_begin(10, 1), 10);
  // isolate and numactl never split.
  EXPECT_TRUE(plan_ok(machine({range(0, 3), range(4, 7)}, 5), request(NumaStrategy::kIsolate), 4).split.nodes.empty());
}

TEST(NumaPlan, MoreNodesThanPartsInterleaveInstead) {
  std::vector<Cpus> nodes;
  for (int n = 0; n <= kMaxNumaParts; ++n) nodes.push_back(range(2 * n, 2 * n + 1));
  const ThreadPlan p = plan_ok(machine(nodes), request(NumaStrategy::kDistribute), 2 * (kMaxNumaParts + 1));
  EXPECT_TRUE(p.split.nodes.empty());
  EXPECT_EQ(p.memory.mode, NumaMemPolicy::Mode::kInterleave);
}

TEST(NumaPlan, DistributeSkipsOfflineAndDisallowedCpus) {
  // Node 1 lists 4-7 but the process may not use 6-7 (cpuset), and node 2 only 8.
  CpuTopology t = machine({range(0, 3), range(4, 7), range(8, 9)});
  t.allowed = concat(range(0, 5), {8});
  const ThreadPlan p = plan_ok(t, request(NumaStrategy::kDistribute, true), 7);
  EXPECT_EQ(p.all_cpus(), concat(range(0, 5), {8}));
  EXPECT_TRUE(p.warnings.empty());
}

TEST(NumaPlan, MoreThreadsThanCpusWrapsAndWarns) {
  const CpuTopology t = machine({range(0, 1), range(2, 3)});
  const ThreadPlan p = plan_ok(t, request(NumaStrategy::kDistribute, true), 6);
  ASSERT_EQ(p.cpus.size(), 6u);
  EXPECT_EQ(p.cpus[4], p.cpus[0]);  // wrap round within the node
  EXPECT_EQ(p.cpus[5], p.cpus[1]);
  ASSERT_EQ(p.warnings.size(), 1u);
  EXPECT_NE(p.warnings[0].find("6 threads on 4 CPUs"), std::string::npos) << p.warnings[0];
}

TEST(NumaPlan, IsolateUsesTheStartingNode) {
  const CpuTopology t = machine({range(0, 3), range(4, 7)}, /*current_cpu=*/5);
  const ThreadPlan p = plan_ok(t, request(NumaStrategy::kIsolate), 3);
  for (size_t i = 0; i < p.cpus.size(); ++i) {
    EXPECT_EQ(p.cpus[i], range(4, 7));
    EXPECT_EQ(p.node_of_thread[i], 1);
  }
  EXPECT_EQ(p.memory.mode, NumaMemPolicy::Mode::kPreferred);
  EXPECT_EQ(p.memory.nodes, Cpus{1});
  const ThreadPlan s = plan_ok(t, request(NumaStrategy::kIsolate, true), 5);
  EXPECT_EQ(s.cpus[0], Cpus{4});
  EXPECT_EQ(s.cpus[3], Cpus{7});
  EXPECT_EQ(s.cpus[4], Cpus{4});  // 5 threads on 4 CPUs
  EXPECT_EQ(s.warnings.size(), 1u);
}

TEST(NumaPlan, IsolateWithUnknownCpuTakesFirstUsableNodeAndSaysSo) {
  const CpuTopology t = machine({range(0, 3), range(4, 7)}, /*current_cpu=*/-1);
  const ThreadPlan p = plan_ok(t, request(NumaStrategy::kIsolate, false, range(4, 5)), 2);
  EXPECT_EQ(p.cpus[0], (Cpus{4, 5}));
  ASSERT_EQ(p.warnings.size(), 1u);
  EXPECT_NE(p.warnings[0].find("--numa isolate"), std::string::npos);
}

TEST(NumaPlan, IsolateOnANodeTheMaskExcludesIsAnError) {
  const CpuTopology t = machine({range(0, 3), range(4, 7)}, /*current_cpu=*/1);
  auto p = plan_threads(t, request(NumaStrategy::kIsolate, false, range(4, 7)), 2);
  ASSERT_FALSE(p.is_ok());
  EXPECT_NE(p.status().message().find("--numa isolate"), std::string::npos) << p.status().message();
  EXPECT_NE(p.status().message().find("node 0"), std::string::npos) << p.status().message();
}

TEST(NumaPlan, NumactlUsesTheProcessAffinity) {
  // numactl -N 1 (or taskset -c 4-7) before start.
  CpuTopology t = machine({range(0, 3), range(4, 7)}, 4);
  t.allowed = range(4, 7);
  const ThreadPlan p = plan_ok(t, request(NumaStrategy::kNumactl), 4);
  for (const Cpus& c : p.cpus) EXPECT_EQ(c, range(4, 7));
  for (int n : p.node_of_thread) EXPECT_EQ(n, 1);
  EXPECT_EQ(p.memory.mode, NumaMemPolicy::Mode::kDefault);  // numactl's own policy stays
  // Spanning both nodes: sets span nodes, node unknown.
  t.allowed = {2, 3, 4, 5};
  const ThreadPlan q = plan_ok(t, request(NumaStrategy::kNumactl), 2);
  EXPECT_EQ(q.cpus[0], (Cpus{2, 3, 4, 5}));
  EXPECT_EQ(q.node_of_thread[0], -1);
  const ThreadPlan s = plan_ok(t, request(NumaStrategy::kNumactl, true), 4);
  EXPECT_EQ(s.all_cpus(), (Cpus{2, 3, 4, 5}));
  EXPECT_EQ(s.node_of_thread, (std::vector<int>{0, 0, 1, 1}));
}

TEST(NumaPlan, MaskWithoutNumaAsLlamaCpp) {
  CpuTopology t = machine({range(0, 7)});
  t.allowed = range(0, 7);
  // Not strict: every thread may run on the whole mask (llama.cpp copies the mask).
  const ThreadPlan p = plan_ok(t, request(NumaStrategy::kDisabled, false, range(2, 5)), 3);
  for (const Cpus& c : p.cpus) EXPECT_EQ(c, range(2, 5));
  EXPECT_EQ(p.memory.mode, NumaMemPolicy::Mode::kDefault);
  // Strict: thread t gets the t-th CPU of the mask, wrapping.
  const ThreadPlan s = plan_ok(t, request(NumaStrategy::kDisabled, true, {1, 3, 6}), 4);
  EXPECT_EQ(s.cpus, (std::vector<Cpus>{{1}, {3}, {6}, {1}}));
  EXPECT_EQ(s.describe(), "t0:1 t1:3 t2:6 t3:1");
}

TEST(NumaPlan, StrictWithoutMaskUsesAllowedCpusCoresFirst) {
  // 4 cores x 2 SMT threads, Linux x86 numbering: siblings are c and c + 4.
  CpuTopology t = machine({range(0, 7)});
  t.smt_rank = {0, 0, 0, 0, 1, 1, 1, 1};
  const ThreadPlan p = plan_ok(t, request(NumaStrategy::kDisabled, true), 4);
  EXPECT_EQ(p.all_cpus(), range(0, 3));
  // Adjacent numbering (siblings 2k, 2k+1): the first 4 threads still get 4 cores.
  t.smt_rank = {0, 1, 0, 1, 0, 1, 0, 1};
  const ThreadPlan q = plan_ok(t, request(NumaStrategy::kDisabled, true), 4);
  EXPECT_EQ(q.all_cpus(), (Cpus{0, 2, 4, 6}));
  const ThreadPlan r = plan_ok(t, request(NumaStrategy::kDisabled, true), 6);
  EXPECT_EQ(r.cpus[4], Cpus{1});
}

TEST(NumaPlan, MaskOutsideTheAllowedCpusIsAnErrorNamingTheFlags) {
  CpuTopology t = machine({range(0, 1)});
  t.allowed = {0, 1};
  auto p = plan_threads(t, request(NumaStrategy::kDisabled, false, range(8, 15)), 2);
  ASSERT_FALSE(p.is_ok());
  EXPECT_NE(p.status().message().find("-C/--cpu-mask"), std::string::npos) << p.status().message();
  EXPECT_NE(p.status().message().find("8-15"), std::string::npos) << p.status().message();
  EXPECT_NE(p.status().message().find("0-1"), std::string::npos) << p.status().message();
}

TEST(NumaPlan, MaskPartlyOutsideWarnsButAnOpenRangeDoesNot) {
  CpuTopology t = machine({range(0, 3)});
  t.allowed = {0, 1, 3};  // 2 is taken away by the cpuset
  const ThreadPlan p = plan_ok(t, request(NumaStrategy::kDisabled, false, range(1, 3)), 2);
  EXPECT_EQ(p.cpus[0], (Cpus{1, 3}));
  ASSERT_EQ(p.warnings.size(), 1u);
  EXPECT_NE(p.warnings[0].find("CPUs 2 "), std::string::npos) << p.warnings[0];
  t.allowed = range(0, 3);
  const ThreadPlan open = plan_ok(t, request(NumaStrategy::kDisabled, false, *parse_cpu_range("2-")), 2);
  EXPECT_EQ(open.cpus[0], (Cpus{2, 3}));
  EXPECT_TRUE(open.warnings.empty()) << open.warnings[0];
}

TEST(NumaPlan, DistributeWithAMaskOnOneNodePrefersThatNode) {
  const CpuTopology t = machine({range(0, 3), range(4, 7)});
  const ThreadPlan p = plan_ok(t, request(NumaStrategy::kDistribute, false, range(4, 7)), 2);
  EXPECT_EQ(p.cpus[0], range(4, 7));
  EXPECT_EQ(p.memory.mode, NumaMemPolicy::Mode::kPreferred);
  EXPECT_EQ(p.memory.nodes, Cpus{1});
}

TEST(NumaPlan, ThreadCountBelowOneIsOne) {
  const ThreadPlan p = plan_ok(machine({range(0, 3)}), request(NumaStrategy::kDisabled, true), 0);
  EXPECT_EQ(p.cpus, (std::vector<Cpus>{{0}}));
}

TEST(NumaPlan, EveryThreadGetsACpuItMayUse) {
  // A sweep over shapes: no empty set, nothing outside allowed/mask, strict = one CPU.
  const std::vector<std::vector<Cpus>> shapes = {
      {range(0, 1)},
      {range(0, 3), range(4, 7)},
      {range(0, 5), range(6, 7), range(8, 15), {16}},
      {{0, 2, 4, 6}, {1, 3, 5, 7}},
  };
  for (const auto& shape : shapes) {
    for (NumaStrategy s : {NumaStrategy::kDisabled, NumaStrategy::kDistribute, NumaStrategy::kIsolate,
                           NumaStrategy::kNumactl}) {
      for (bool strict : {false, true}) {
        for (int n : {1, 2, 3, 7, 17, 40}) {
          CpuTopology t = machine(shape, shape[0][0]);
          const ThreadPlan p = plan_ok(t, request(s, strict), n);
          for (const Cpus& c : p.cpus) {
            ASSERT_FALSE(c.empty());
            if (strict) {
              ASSERT_EQ(c.size(), 1u);
            }
            for (int cpu : c) ASSERT_GE(t.node_of_cpu(cpu), 0);
          }
        }
      }
    }
  }
}

// --- memory policy --------------------------------------------------------------------

TEST(NumaMemory, DefaultPolicyIsANoOpAndLocalNodesAreAccepted) {
  const size_t bytes = size_t(4) << 20;
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(p, MAP_FAILED);
  EXPECT_TRUE(apply_mem_policy(p, bytes, {}).is_ok());
  // Interleave / prefer over the nodes this machine has; where mbind is forbidden (some
  // containers) the error must say what failed.
  std::vector<int> nodes;
  for (const NumaNode& n : system_topology().nodes) nodes.push_back(n.id);
  for (auto mode : {NumaMemPolicy::Mode::kInterleave, NumaMemPolicy::Mode::kPreferred}) {
    Status st = apply_mem_policy(p, bytes, {mode, nodes});
    if (!st.is_ok()) {
      EXPECT_NE(st.message().find("mbind"), std::string::npos) << st.message();
    }
  }
  static_cast<uint8_t*>(p)[0] = 1;  // the policy must not stop the page from being used
  munmap(p, bytes);
  // A HugeBuffer under a policy is usable; a node that does not exist only warns.
  HugeBuffer b(bytes, {NumaMemPolicy::Mode::kInterleave, nodes});
  ASSERT_NE(b.data(), nullptr);
  b.data()[0] = 1;
  b.data()[bytes - 1] = 2;
  HugeBuffer missing(bytes, {NumaMemPolicy::Mode::kPreferred, {kMaxCpus - 1}});
  ASSERT_NE(missing.data(), nullptr);
  missing.data()[0] = 1;
}

}  // namespace
}  // namespace deepcpu
