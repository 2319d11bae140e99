#include "collectord/pg/blocking_tree.h"

#include <deque>
#include <unordered_map>
#include <unordered_set>

namespace pgagent {
namespace {

using BlockerMap = std::unordered_map<int32_t, const std::vector<int32_t>*>;

bool IsWaiting(const BlockerMap& map, int32_t pid) {
  auto it = map.find(pid);
  return it != map.end() && !it->second->empty();
}

BlockingPosition Locate(const BlockerMap& map, int32_t start) {
  BlockingPosition pos;
  pos.pid = start;
  if (!IsWaiting(map, start)) return pos;  // granted meanwhile: no tree
  std::deque<std::pair<int32_t, uint32_t>> queue{{start, 0}};
  std::unordered_set<int32_t> seen{start};
  bool have_cycle_candidate = false;
  // Bounded: every pid enters the queue at most once.
  while (!queue.empty()) {
    auto [pid, depth] = queue.front();
    queue.pop_front();
    for (int32_t blocker : *map.at(pid)) {
      if (!IsWaiting(map, blocker)) {
        pos.root_blocker_pid = blocker;
        pos.chain_depth = depth + 1;
        pos.deadlock = false;
        return pos;
      }
      if (blocker == start || seen.count(blocker) == 0) {
        // Candidate root should no unblocked ancestor exist: lowest pid wins.
        if (!have_cycle_candidate || blocker < pos.root_blocker_pid) {
          pos.root_blocker_pid = blocker;
          pos.chain_depth = depth + 1;
          have_cycle_candidate = true;
        }
      }
      if (seen.insert(blocker).second) queue.emplace_back(blocker, depth + 1);
    }
  }
  pos.deadlock = have_cycle_candidate;
  return pos;
}

}  // namespace

std::vector<BlockingPosition> BuildBlockingTree(const std::vector<WaitEdges>& waiters) {
  BlockerMap map;
  for (const auto& w : waiters) map.emplace(w.pid, &w.blockers);
  std::vector<BlockingPosition> out;
  out.reserve(waiters.size());
  for (const auto& w : waiters) out.push_back(Locate(map, w.pid));
  return out;
}

}  // namespace pgagent
