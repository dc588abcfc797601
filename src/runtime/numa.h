// CPU/NUMA topology and thread placement: parses llama.cpp's placement flags (--numa,
// -C/--cpu-mask, -Cr/--cpu-range, --cpu-strict, --poll), reads the topology from sysfs,
// and plans which CPUs each pool thread may run on and where the packed weights live.
// Planning is a pure function of a CpuTopology, so tests feed it fake machines; applying
// the plan (pthread_setaffinity_np, mbind) is ThreadPool's and HugeBuffer's job.
#pragma once

#include "base/status.h"

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace deepcpu {

// Highest CPU number + 1 that masks and ranges may name (llama.cpp stops at 512).
constexpr int kMaxCpus = 4096;

// A sysfs cpulist ("0-3,8-11", "0,2,4", "5", "" and a trailing newline): sorted, unique.
// Anything else (a letter, "3-1", a number >= kMaxCpus, a stray comma) is an error.
Result<std::vector<int>> parse_cpu_list(std::string_view text);
// The CPUs as a cpulist again, ranges collapsed: {0,1,2,3,8} -> "0-3,8".
std::string format_cpu_list(const std::vector<int>& cpus);

// llama.cpp's -C/--cpu-mask: hex digits, optional 0x, the last digit holds CPUs 0-3.
Result<std::vector<int>> parse_cpu_mask(std::string_view hex);
// llama.cpp's -Cr/--cpu-range: "lo-hi" inclusive; a missing lo is 0, a missing hi the
// last CPU ("4-" is every CPU from 4 on).
Result<std::vector<int>> parse_cpu_range(std::string_view range);

// llama.cpp's --numa values. kDisabled is "no --numa".
enum class NumaStrategy { kDisabled, kDistribute, kIsolate, kNumactl };
Result<NumaStrategy> parse_numa_strategy(std::string_view value);
const char* numa_strategy_name(NumaStrategy s);

struct NumaNode {
  int id = 0;
  std::vector<int> cpus;  // online CPUs of the node, sorted; empty for a memory-only node
};

struct CpuTopology {
  std::vector<NumaNode> nodes;  // sorted by id; a machine without NUMA is one node 0
  // smt_rank[cpu]: 0 for the first hardware thread of a physical core, 1 for its second
  // sibling, ...; missing entries count as 0. Strict placement fills rank 0 first, so
  // threads land on distinct cores before they share one.
  std::vector<int> smt_rank;
  std::vector<int> allowed;     // CPUs the process may run on (its affinity at start-up)
  int current_cpu = -1;         // where the process started (--numa isolate uses its node)

  int n_nodes_with_cpus() const;
  int node_of_cpu(int cpu) const;  // -1 when no node lists it
};

// Reads <root>/node/node*/cpulist, <root>/cpu/online and each CPU's
// topology/thread_siblings_list (root: normally /sys/devices/system). Missing or malformed
// files degrade to one node holding the online CPUs; `warning` (if given) says what.
// allowed/current_cpu are left empty: they belong to the process, not the machine.
CpuTopology read_cpu_topology(const std::string& sysfs_root, std::string* warning = nullptr);
// This machine and process: sysfs plus sched_getaffinity and sched_getcpu, read once on
// the first call and cached, so threads pinned later do not shrink what "allowed" means.
const CpuTopology& system_topology();

// What the flags asked for.
struct PlacementRequest {
  NumaStrategy numa = NumaStrategy::kDisabled;
  std::vector<int> cpu_mask;  // union of -C and -Cr, sorted; empty: neither given
  bool strict = false;        // --cpu-strict 1: one CPU per thread
  int poll = 50;              // --poll 0..100: how long idle workers spin before sleeping

  bool wants_placement() const { return numa != NumaStrategy::kDisabled || !cpu_mask.empty() || strict; }
};

// Where the packed weights' pages go (mbind before the first touch).
struct NumaMemPolicy {
  enum class Mode { kDefault, kInterleave, kPreferred };
  Mode mode = Mode::kDefault;
  std::vector<int> nodes;
};

// At most this many NUMA parts per packed weight (and task domains per pool job). With
// more nodes holding threads, --numa distribute falls back to interleaving the weights.
constexpr int kMaxNumaParts = 8;

// --numa distribute on two or more nodes: every packed weight is split by rows into one
// part per node, sized in proportion to the node's threads and stored on that node, and
// the node's threads compute its rows (DESIGN.md "NUMA"): each node streams its own memory
// instead of every thread reading every node's. Empty: no split (one part).
struct NodeSplit {
  std::vector<int> nodes;    // node id of part d
  std::vector<int> threads;  // pool threads placed on node d (>= 1 each)

  int n_parts() const { return nodes.empty() ? 1 : static_cast<int>(nodes.size()); }
  // The first of `n` units (row groups) that part d owns; share_begin(n, n_parts()) == n.
  // Parts own contiguous runs in order, sized by their threads (rounded down).
  int64_t share_begin(int64_t n, int d) const;
};

struct ThreadPlan {
  // cpus[t]: the CPUs pool thread t may run on (t = 0 is the thread calling run()).
  // Empty: leave every thread to the OS, exactly as without any flag.
  std::vector<std::vector<int>> cpus;
  std::vector<int> node_of_thread;  // parallel to cpus; -1 where the set spans nodes
  NumaMemPolicy memory;             // for memory no NodeSplit part owns
  NodeSplit split;                  // distribute on >= 2 nodes (<= kMaxNumaParts): the row split
  std::vector<int> part_of_thread;  // parallel to cpus when split is set: thread t's part
  std::vector<std::string> warnings;  // for the log: oversubscription, ignored CPUs

  // "t0:0 t1:1 t2:0-3 ..." for the debug log; "unpinned" when cpus is empty.
  std::string describe() const;
  // Every CPU any thread may use (the loader pool runs anywhere in it).
  std::vector<int> all_cpus() const;
};

// The plan for n_threads pool threads (clamped to >= 1). llama.cpp's meanings:
//  - no --numa: with -C/-Cr every thread may run on the mask's CPUs; with --cpu-strict 1
//    thread t gets the t-th CPU of the mask (of the allowed CPUs without a mask),
//    wrapping round when threads outnumber CPUs. Without any flag: no plan.
//  - distribute: threads spread over the nodes in proportion to their CPUs (round-robin
//    t % n_nodes for equal nodes, as llama.cpp), each allowed on its node's CPUs (strict:
//    one of them). The packed weights are split by rows over those nodes (NodeSplit),
//    or interleaved over them when there are more than kMaxNumaParts.
//  - isolate: every thread on the CPUs of the node the process started on; the weights
//    prefer that node.
//  - numactl: the CPUs of the process's affinity at start-up (set by numactl/taskset);
//    the memory policy numactl set for the process is left alone.
// A --numa strategy on a machine with fewer than two nodes with CPUs changes nothing
// (llama.cpp checks the same), so a single-node machine runs as without the flag.
// Errors name the flag: a mask with no CPU the process may use, isolate on a node the
// mask excludes.
Result<ThreadPlan> plan_threads(const CpuTopology& topo, const PlacementRequest& req, int n_threads);

// The policy applied to [addr, addr + bytes) with mbind (raw syscall; no libnuma).
// kDefault is a no-op. Fails (errno text) where the kernel refuses, e.g. in a container
// without CAP_SYS_NICE for foreign nodes; the caller warns and carries on.
Status apply_mem_policy(void* addr, size_t bytes, const NumaMemPolicy& policy);

}  // namespace deepcpu
