// See numa.h. The sysfs format is Documentation/ABI/stable/sysfs-devices-node ("cpulist")
// and the cpulist syntax of lib/bitmap.c; the flag semantics follow llama.cpp's
// common/arg.cpp (-C, -Cr, --cpu-strict, --poll, --numa) and ggml-cpu's
// set_numa_thread_affinity.
#include "runtime/numa.h"

#include <dirent.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>
#include <thread>

namespace deepcpu {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  return s;
}

// A CPU number: decimal digits only (no sign, no spaces), below kMaxCpus.
bool parse_cpu_number(std::string_view s, int* out) {
  if (s.empty() || s.size() > 9) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  int v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  if (v >= kMaxCpus) return false;
  *out = v;
  return true;
}

std::vector<int> intersect(const std::vector<int>& a, const std::vector<int>& b) {
  std::vector<int> out;
  std::set_intersection(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(out));
  return out;
}

std::vector<int> subtract(const std::vector<int>& a, const std::vector<int>& b) {
  std::vector<int> out;
  std::set_difference(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(out));
  return out;
}

std::string read_small_file(const std::string& path, bool* ok) {
  std::ifstream in(path);
  if (!in) {
    *ok = false;
    return "";
  }
  std::stringstream ss;
  ss << in.rdbuf();
  *ok = true;
  return ss.str();
}

}  // namespace

Result<std::vector<int>> parse_cpu_list(std::string_view text) {
  const std::string_view s = trim(text);
  std::vector<int> cpus;
  if (s.empty()) return cpus;
  size_t pos = 0;
  while (pos <= s.size()) {
    const size_t comma = std::min(s.find(',', pos), s.size());
    const std::string_view item = s.substr(pos, comma - pos);
    const size_t dash = item.find('-');
    int lo = 0, hi = 0;
    if (dash == std::string_view::npos) {
      if (!parse_cpu_number(item, &lo)) return error("cpu list '{}': '{}' is not a CPU number below {}", s, item, kMaxCpus);
      hi = lo;
    } else if (!parse_cpu_number(item.substr(0, dash), &lo) || !parse_cpu_number(item.substr(dash + 1), &hi) || lo > hi) {
      return error("cpu list '{}': '{}' is not a range lo-hi with lo <= hi < {}", s, item, kMaxCpus);
    }
    for (int c = lo; c <= hi; ++c) cpus.push_back(c);
    pos = comma + 1;
  }
  std::sort(cpus.begin(), cpus.end());
  cpus.erase(std::unique(cpus.begin(), cpus.end()), cpus.end());
  return cpus;
}

std::string format_cpu_list(const std::vector<int>& cpus) {
  std::string out;
  for (size_t i = 0; i < cpus.size();) {
    size_t j = i;
    while (j + 1 < cpus.size() && cpus[j + 1] == cpus[j] + 1) ++j;
    if (!out.empty()) out += ',';
    out += std::to_string(cpus[i]);
    if (j > i) out += '-' + std::to_string(cpus[j]);
    i = j + 1;
  }
  return out;
}

Result<std::vector<int>> parse_cpu_mask(std::string_view hex) {
  std::string_view s = trim(hex);
  if (s.size() >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) s.remove_prefix(2);
  if (s.empty()) return error("'{}' is not a hex CPU mask (e.g. 0xff for CPUs 0-7)", hex);
  std::vector<int> cpus;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[s.size() - 1 - i];  // the last digit holds CPUs 0-3
    int v;
    if (c >= '0' && c <= '9') v = c - '0';
    else if (c >= 'a' && c <= 'f') v = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F') v = c - 'A' + 10;
    else return error("'{}' is not a hex CPU mask: '{}' is not a hex digit", hex, c);
    for (int b = 0; b < 4; ++b) {
      if (!(v & (1 << b))) continue;
      const size_t cpu = 4 * i + b;
      if (cpu >= static_cast<size_t>(kMaxCpus)) return error("CPU mask '{}' names CPU {}; the limit is {}", hex, cpu, kMaxCpus - 1);
      cpus.push_back(static_cast<int>(cpu));
    }
  }
  std::sort(cpus.begin(), cpus.end());
  if (cpus.empty()) return error("CPU mask '{}' has no CPU set", hex);
  return cpus;
}

Result<std::vector<int>> parse_cpu_range(std::string_view range) {
  const std::string_view s = trim(range);
  const size_t dash = s.find('-');
  if (dash == std::string_view::npos || s.find('-', dash + 1) != std::string_view::npos)
    return error("'{}' is not a CPU range lo-hi (e.g. 0-7, or 8- for CPU 8 onwards)", range);
  int lo = 0, hi = kMaxCpus - 1;
  if (dash > 0 && !parse_cpu_number(s.substr(0, dash), &lo))
    return error("CPU range '{}': '{}' is not a CPU number below {}", range, s.substr(0, dash), kMaxCpus);
  if (dash + 1 < s.size() && !parse_cpu_number(s.substr(dash + 1), &hi))
    return error("CPU range '{}': '{}' is not a CPU number below {}", range, s.substr(dash + 1), kMaxCpus);
  if (lo > hi) return error("CPU range '{}' is empty: {} > {}", range, lo, hi);
  std::vector<int> cpus;
  for (int c = lo; c <= hi; ++c) cpus.push_back(c);
  return cpus;
}

Result<NumaStrategy> parse_numa_strategy(std::string_view v) {
  if (v == "distribute") return NumaStrategy::kDistribute;
  if (v == "isolate") return NumaStrategy::kIsolate;
  if (v == "numactl") return NumaStrategy::kNumactl;
  if (v.empty() || v == "disabled" || v == "none") return NumaStrategy::kDisabled;
  return error("'{}' is not a NUMA strategy; use distribute, isolate or numactl", v);
}

const char* numa_strategy_name(NumaStrategy s) {
  switch (s) {
    case NumaStrategy::kDistribute: return "distribute";
    case NumaStrategy::kIsolate: return "isolate";
    case NumaStrategy::kNumactl: return "numactl";
    case NumaStrategy::kDisabled: break;
  }
  return "disabled";
}

int CpuTopology::n_nodes_with_cpus() const {
  return static_cast<int>(std::count_if(nodes.begin(), nodes.end(), [](const NumaNode& n) { return !n.cpus.empty(); }));
}

int CpuTopology::node_of_cpu(int cpu) const {
  for (const NumaNode& n : nodes)
    if (std::binary_search(n.cpus.begin(), n.cpus.end(), cpu)) return n.id;
  return -1;
}

CpuTopology read_cpu_topology(const std::string& root, std::string* warning) {
  CpuTopology t;
  std::string warn;
  bool ok = false;
  std::vector<int> online;
  const std::string online_text = read_small_file(root + "/cpu/online", &ok);
  auto parsed_online = ok ? parse_cpu_list(online_text) : Result<std::vector<int>>(error("missing"));
  if (parsed_online.is_ok() && !parsed_online->empty()) {
    online = *parsed_online;
  } else {
    // No usable cpu/online: assume CPUs 0..n-1 are all there.
    if (ok) warn = fmt::format("{}/cpu/online: {}; assuming CPUs 0-{}", root, parsed_online.status().message(),
                               std::max(1u, std::thread::hardware_concurrency()) - 1);
    for (unsigned c = 0; c < std::max(1u, std::thread::hardware_concurrency()); ++c) online.push_back(static_cast<int>(c));
  }

  if (DIR* dir = opendir((root + "/node").c_str())) {
    while (dirent* e = readdir(dir)) {
      int id = 0;
      if (std::strncmp(e->d_name, "node", 4) != 0 || !parse_cpu_number(e->d_name + 4, &id)) continue;
      const std::string path = root + "/node/" + e->d_name + "/cpulist";
      const std::string text = read_small_file(path, &ok);
      auto cpus = ok ? parse_cpu_list(text) : Result<std::vector<int>>(error("cannot read the file"));
      if (!cpus.is_ok()) {
        warn = fmt::format("{}: {}; treating the machine as one NUMA node", path, cpus.status().message());
        t.nodes.clear();
        break;
      }
      // Offline CPUs can still be listed; nobody can run on them.
      t.nodes.push_back({id, intersect(*cpus, online)});
    }
    closedir(dir);
  }
  std::sort(t.nodes.begin(), t.nodes.end(), [](const NumaNode& a, const NumaNode& b) { return a.id < b.id; });
  if (t.n_nodes_with_cpus() == 0) t.nodes = {{0, online}};

  for (int cpu : online) {
    std::string text = read_small_file(fmt::format("{}/cpu/cpu{}/topology/thread_siblings_list", root, cpu), &ok);
    if (!ok) continue;
    auto siblings = parse_cpu_list(text);
    if (!siblings.is_ok()) continue;
    const auto it = std::find(siblings->begin(), siblings->end(), cpu);
    if (it == siblings->end()) continue;
    if (static_cast<int>(t.smt_rank.size()) <= cpu) t.smt_rank.resize(cpu + 1, 0);
    t.smt_rank[cpu] = static_cast<int>(it - siblings->begin());
  }
  if (warning != nullptr) *warning = warn;
  return t;
}

const CpuTopology& system_topology() {
  static const CpuTopology topo = [] {
    std::string warn;
    CpuTopology t = read_cpu_topology("/sys/devices/system", &warn);
    if (!warn.empty()) fmt::print(stderr, "warning: {}\n", warn);
    cpu_set_t* set = CPU_ALLOC(kMaxCpus);
    const size_t set_bytes = CPU_ALLOC_SIZE(kMaxCpus);
    CPU_ZERO_S(set_bytes, set);
    if (sched_getaffinity(0, set_bytes, set) == 0) {
      for (int c = 0; c < kMaxCpus; ++c)
        if (CPU_ISSET_S(c, set_bytes, set)) t.allowed.push_back(c);
    }
    CPU_FREE(set);
    t.current_cpu = sched_getcpu();
    return t;
  }();
  return topo;
}

int64_t NodeSplit::share_begin(int64_t n, int d) const {
  if (nodes.empty()) return d <= 0 ? 0 : n;
  int64_t before = 0, total = 0;
  for (size_t i = 0; i < threads.size(); ++i) {
    total += threads[i];
    if (static_cast<int>(i) < d) before += threads[i];
  }
  return total == 0 ? 0 : n * before / total;
}

std::string ThreadPlan::describe() const {
  if (cpus.empty()) return "unpinned";
  std::string out;
  for (size_t t = 0; t < cpus.size(); ++t) {
    if (t > 0) out += ' ';
    out += fmt::format("t{}:{}", t, format_cpu_list(cpus[t]));
  }
  return out;
}

std::vector<int> ThreadPlan::all_cpus() const {
  std::vector<int> out;
  for (const auto& s : cpus) out.insert(out.end(), s.begin(), s.end());
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

Result<ThreadPlan> plan_threads(const CpuTopology& topo, const PlacementRequest& req, int n_threads) {
  n_threads = std::max(1, n_threads);
  ThreadPlan plan;
  const bool numa = req.numa != NumaStrategy::kDisabled && topo.n_nodes_with_cpus() >= 2;
  if (!numa && req.cpu_mask.empty() && !req.strict) return plan;  // as without flags

  std::vector<int> machine;
  for (const NumaNode& n : topo.nodes) machine.insert(machine.end(), n.cpus.begin(), n.cpus.end());
  std::sort(machine.begin(), machine.end());
  std::vector<int> allowed = topo.allowed.empty() ? machine : intersect(topo.allowed, machine);
  if (allowed.empty()) allowed = topo.allowed.empty() ? machine : topo.allowed;
  if (allowed.empty()) return error("no online CPU found in the topology");

  std::vector<int> base = allowed;
  if (!req.cpu_mask.empty()) {
    base = intersect(req.cpu_mask, allowed);
    if (base.empty()) {
      return error("-C/--cpu-mask, -Cr/--cpu-range: none of CPUs {} may be used by this process (it may use {})",
                   format_cpu_list(req.cpu_mask), format_cpu_list(allowed));
    }
    // An open range ("8-") names CPUs the machine lacks; only holes inside it are news.
    std::vector<int> ignored = subtract(req.cpu_mask, allowed);
    ignored.erase(std::remove_if(ignored.begin(), ignored.end(), [&](int c) { return c > machine.back(); }), ignored.end());
    if (!ignored.empty()) {
      plan.warnings.push_back(fmt::format("CPUs {} of -C/-Cr are offline or outside this process's affinity; ignored",
                                          format_cpu_list(ignored)));
    }
  }

  // Groups of CPUs that threads are shared out over; each thread's set is within one group.
  struct Group {
    int node;  // -1: spans nodes
    std::vector<int> cpus;
  };
  std::vector<Group> groups;
  if (numa && req.numa == NumaStrategy::kDistribute) {
    for (const NumaNode& n : topo.nodes) {
      std::vector<int> c = intersect(n.cpus, base);
      if (!c.empty()) groups.push_back({n.id, std::move(c)});
    }
    plan.memory.mode = groups.size() >= 2 ? NumaMemPolicy::Mode::kInterleave : NumaMemPolicy::Mode::kPreferred;
    for (const Group& g : groups) plan.memory.nodes.push_back(g.node);
  } else if (numa && req.numa == NumaStrategy::kIsolate) {
    int node = topo.node_of_cpu(topo.current_cpu);
    if (node < 0) {
      // sched_getcpu failed or named a CPU no node lists: take the first node we may use.
      for (const NumaNode& n : topo.nodes) {
        if (!intersect(n.cpus, base).empty()) {
          node = n.id;
          break;
        }
      }
      plan.warnings.push_back(fmt::format("--numa isolate: cannot tell which node CPU {} is on; using node {}",
                                          topo.current_cpu, node));
    }
    std::vector<int> node_cpus;
    for (const NumaNode& n : topo.nodes)
      if (n.id == node) node_cpus = n.cpus;
    std::vector<int> c = intersect(node_cpus, base);
    if (c.empty()) {
      return error("--numa isolate: the process started on node {} (CPUs {}), but none of them is in the allowed set {} "
                   "(-C/-Cr or the process's affinity); start it on a node you allow, or use --numa numactl",
                   node, format_cpu_list(node_cpus), format_cpu_list(base));
    }
    groups.push_back({node, std::move(c)});
    plan.memory = {NumaMemPolicy::Mode::kPreferred, {node}};
  } else {
    // No NUMA (or numactl, whose CPUs are the process's affinity, already in base).
    const int first = topo.node_of_cpu(base.front());
    const bool one_node = std::all_of(base.begin(), base.end(), [&](int c) { return topo.node_of_cpu(c) == first; });
    groups.push_back({one_node ? first : -1, base});
  }

  // Share threads out in proportion to the groups' sizes: each next thread goes to the
  // group with the fewest threads per CPU (ties: the lower node). Equal groups get
  // round-robin t % n_groups, llama.cpp's distribute order; thread 0 lands in the first.
  std::vector<int> count(groups.size(), 0);
  std::vector<size_t> group_of_thread;
  std::vector<std::vector<int>> strict_order(groups.size());
  for (size_t g = 0; g < groups.size(); ++g) {
    strict_order[g] = groups[g].cpus;
    auto rank = [&](int c) { return c < static_cast<int>(topo.smt_rank.size()) ? topo.smt_rank[c] : 0; };
    std::stable_sort(strict_order[g].begin(), strict_order[g].end(), [&](int a, int b) { return rank(a) < rank(b); });
  }
  for (int t = 0; t < n_threads; ++t) {
    size_t best = 0;
    for (size_t g = 1; g < groups.size(); ++g) {
      // count[g] / size[g] < count[best] / size[best], without division.
      if (int64_t(count[g]) * int64_t(groups[best].cpus.size()) < int64_t(count[best]) * int64_t(groups[g].cpus.size()))
        best = g;
    }
    const int k = count[best]++;
    group_of_thread.push_back(best);
    if (req.strict) {
      const std::vector<int>& order = strict_order[best];
      plan.cpus.push_back({order[static_cast<size_t>(k) % order.size()]});
    } else {
      plan.cpus.push_back(groups[best].cpus);
    }
    int node = groups[best].node;
    if (node < 0 && req.strict) node = topo.node_of_cpu(plan.cpus.back()[0]);
    plan.node_of_thread.push_back(node);
  }

  if (req.numa == NumaStrategy::kDistribute && groups.size() >= 2 && groups.size() <= size_t(kMaxNumaParts)) {
    // A node left without threads (more nodes than -t) gets no part: nobody local reads it.
    std::vector<int> part_of_group(groups.size(), -1);
    for (size_t g = 0; g < groups.size(); ++g) {
      if (count[g] == 0) continue;
      part_of_group[g] = static_cast<int>(plan.split.nodes.size());
      plan.split.nodes.push_back(groups[g].node);
      plan.split.threads.push_back(count[g]);
    }
    if (plan.split.nodes.size() >= 2) {
      for (int t = 0; t < n_threads; ++t) plan.part_of_thread.push_back(part_of_group[group_of_thread[t]]);
    } else {
      plan.split = {};
    }
  }

  const size_t n_cpus = plan.all_cpus().size();
  if (static_cast<size_t>(n_threads) > n_cpus) {
    plan.warnings.push_back(fmt::format("{} threads on {} CPUs ({}): threads will share CPUs; -t {} or fewer is faster",
                                        n_threads, n_cpus, format_cpu_list(plan.all_cpus()), n_cpus));
  }
  return plan;
}

Status apply_mem_policy(void* addr, size_t bytes, const NumaMemPolicy& policy) {
  if (policy.mode == NumaMemPolicy::Mode::kDefault || bytes == 0 || policy.nodes.empty()) return Status::ok();
  // <linux/mempolicy.h> values; numaif.h would add libnuma just for these.
  constexpr int kMpolPreferred = 1, kMpolInterleave = 3;
  const int mode = policy.mode == NumaMemPolicy::Mode::kInterleave ? kMpolInterleave : kMpolPreferred;
  const int max_node = *std::max_element(policy.nodes.begin(), policy.nodes.end());
  constexpr int kBits = 8 * sizeof(unsigned long);
  std::vector<unsigned long> mask(static_cast<size_t>(max_node / kBits + 1), 0);
  for (int n : policy.nodes) mask[static_cast<size_t>(n / kBits)] |= 1UL << (n % kBits);
  // The kernel reads maxnode - 1 bits, so one more than the mask holds.
  const unsigned long max_bits = mask.size() * kBits + 1;
  if (syscall(SYS_mbind, addr, bytes, mode, mask.data(), max_bits, 0) != 0) {
    return error("mbind({} nodes {}) on {:.1f} MiB: {}", mode == kMpolInterleave ? "interleave" : "preferred",
                 format_cpu_list(policy.nodes), bytes / 1048576.0, std::strerror(errno));
  }
  return Status::ok();
}

}  // namespace deepcpu
