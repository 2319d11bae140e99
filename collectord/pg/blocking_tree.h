// Builds the blocking tree of heavyweight-lock waiters from pg_blocking_pids() edges.
// Pure function; thread-safe.
//
// Root blocker: the nearest ancestor (breadth-first over all blockers, in the order
// pg_blocking_pids returned them) that is not itself waiting on a lock. chain_depth is the
// number of edges to it (1 = blocked directly by the root). A prepared transaction shows
// up as blocker pid 0; it is a root like any backend that does not wait.
// Cycles (a deadlock the deadlock detector has not broken yet) never loop: when no
// unblocked ancestor is reachable, `deadlock` is set and the root is the lowest pid of the
// waiters reachable from the blocked pid (deterministic), at its breadth-first distance.
// A waiter whose blocker list is empty (the lock was granted meanwhile) gets root 0,
// depth 0.
#pragma once

#include <cstdint>
#include <vector>

namespace pgagent {

struct WaitEdges {
  int32_t pid = 0;
  std::vector<int32_t> blockers;  // pg_blocking_pids(pid), in server order
};

struct BlockingPosition {
  int32_t pid = 0;
  int32_t root_blocker_pid = 0;
  uint32_t chain_depth = 0;
  bool deadlock = false;
};

// One BlockingPosition per entry of `waiters`, in the same order. Duplicated pids in
// `waiters` use the first entry's blockers.
std::vector<BlockingPosition> BuildBlockingTree(const std::vector<WaitEdges>& waiters);

}  // namespace pgagent
