// Per-interval deltas of pg_stat_statements entries, keyed (userid, dbid, queryid,
// toplevel), and the choice of which deltas to send. Plain state, no I/O: the
// StatementsCollector feeds it rows it read.
//
// Delta rules (never negative):
//  - The very first sample is a baseline: no deltas.
//  - An entry not seen in the previous sample was created during the interval: its delta
//    is its current value.
//  - An entry whose calls or total time went down was reset or evicted and re-created
//    during the interval: it starts a new baseline from zero, so its delta is its current
//    value.
//  - MarkReset() (pg_stat_statements_info.stats_reset changed) does the same for every
//    entry, so an entry that reached its old count again after a reset is still counted.
//  - Floating point noise never yields a negative delta (clamped at 0).
// Thread-safety: not thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <unordered_map>
#include <vector>

namespace pgagent {

struct StatementKey {
  uint32_t userid = 0;
  uint32_t dbid = 0;
  int64_t queryid = 0;
  bool toplevel = true;
  bool operator==(const StatementKey&) const = default;
};

struct StatementKeyHash {
  size_t operator()(const StatementKey& k) const {
    uint64_t h = static_cast<uint64_t>(k.queryid);
    h ^= (static_cast<uint64_t>(k.userid) << 33) ^ (static_cast<uint64_t>(k.dbid) << 1) ^
         (k.toplevel ? 1 : 0);
    return std::hash<uint64_t>{}(h);
  }
};

// Cumulative counters of one entry (times in milliseconds).
struct StatementCounters {
  uint64_t calls = 0;
  double total_exec_time = 0;
  double min_exec_time = 0;  // cumulative; copied, not subtracted
  double max_exec_time = 0;  // cumulative; copied, not subtracted
  double total_plan_time = 0;
  uint64_t rows = 0;
  uint64_t shared_blks_hit = 0;
  uint64_t shared_blks_read = 0;
  uint64_t shared_blks_dirtied = 0;
  uint64_t shared_blks_written = 0;
  uint64_t local_blks_hit = 0;
  uint64_t local_blks_read = 0;
  uint64_t local_blks_dirtied = 0;
  uint64_t local_blks_written = 0;
  uint64_t temp_blks_read = 0;
  uint64_t temp_blks_written = 0;
  double blk_read_time = 0;
  double blk_write_time = 0;
};

// current - previous, field by field, never negative; min/max copied from current.
StatementCounters SubtractCounters(const StatementCounters& current,
                                   const StatementCounters& previous);

class StatementDeltaTracker {
 public:
  // True once a first sample has been recorded.
  bool has_baseline() const { return has_baseline_; }
  size_t size() const { return previous_.size(); }

  // Every stored key with its calls, for the server-side diff of the next sample.
  std::vector<std::pair<StatementKey, uint64_t>> Entries() const;
  // Every stored key with its counters (valid until the next non-const call).
  const std::unordered_map<StatementKey, StatementCounters, StatementKeyHash>& Stored() const {
    return previous_;
  }

  // Stores `current` for `key`. Returns the delta since the previous sample, or nullopt
  // before the baseline exists (during the first sample).
  std::optional<StatementCounters> Update(const StatementKey& key,
                                          const StatementCounters& current);
  // Ends a sample: the baseline exists from now on.
  void FinishSample() { has_baseline_ = true; }

  // Forgets an entry that is no longer in pg_stat_statements (evicted or reset).
  void Forget(const StatementKey& key) { previous_.erase(key); }

  // The statistics were reset: every entry's next delta is its current value.
  void MarkReset() { previous_.clear(); }

  // Forgets everything; the next sample is a baseline again (e.g. a different server).
  void Clear() {
    previous_.clear();
    has_baseline_ = false;
  }

 private:
  std::unordered_map<StatementKey, StatementCounters, StatementKeyHash> previous_;
  bool has_baseline_ = false;
};

// Which deltas to send: the `top_n` with the largest total_exec_time, plus every delta with
// at least `calls_threshold` calls (0 disables the threshold). Entries with no calls in the
// interval are never chosen. Returns indexes into `deltas`, largest time first.
std::vector<size_t> SelectStatements(const std::vector<StatementCounters>& deltas, size_t top_n,
                                     uint64_t calls_threshold);

}  // namespace pgagent
