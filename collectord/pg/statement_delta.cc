#include "collectord/pg/statement_delta.h"

#include <algorithm>
#include <numeric>

namespace pgagent {
namespace {

uint64_t Sub(uint64_t a, uint64_t b) { return a > b ? a - b : 0; }
double Sub(double a, double b) { return a > b ? a - b : 0.0; }

// True when the entry restarted from zero since `previous` (reset, or evicted and
// re-created): a cumulative counter went down.
bool Restarted(const StatementCounters& current, const StatementCounters& previous) {
  return current.calls < previous.calls || current.total_exec_time < previous.total_exec_time ||
         current.rows < previous.rows;
}

}  // namespace

StatementCounters SubtractCounters(const StatementCounters& c, const StatementCounters& p) {
  StatementCounters d;
  d.calls = Sub(c.calls, p.calls);
  d.total_exec_time = Sub(c.total_exec_time, p.total_exec_time);
  d.min_exec_time = c.min_exec_time;
  d.max_exec_time = c.max_exec_time;
  d.total_plan_time = Sub(c.total_plan_time, p.total_plan_time);
  d.rows = Sub(c.rows, p.rows);
  d.shared_blks_hit = Sub(c.shared_blks_hit, p.shared_blks_hit);
  d.shared_blks_read = Sub(c.shared_blks_read, p.shared_blks_read);
  d.shared_blks_dirtied = Sub(c.shared_blks_dirtied, p.shared_blks_dirtied);
  d.shared_blks_written = Sub(c.shared_blks_written, p.shared_blks_written);
  d.local_blks_hit = Sub(c.local_blks_hit, p.local_blks_hit);
  d.local_blks_read = Sub(c.local_blks_read, p.local_blks_read);
  d.local_blks_dirtied = Sub(c.local_blks_dirtied, p.local_blks_dirtied);
  d.local_blks_written = Sub(c.local_blks_written, p.local_blks_written);
  d.temp_blks_read = Sub(c.temp_blks_read, p.temp_blks_read);
  d.temp_blks_written = Sub(c.temp_blks_written, p.temp_blks_written);
  d.blk_read_time = Sub(c.blk_read_time, p.blk_read_time);
  d.blk_write_time = Sub(c.blk_write_time, p.blk_write_time);
  return d;
}

std::vector<std::pair<StatementKey, uint64_t>> StatementDeltaTracker::Entries() const {
  std::vector<std::pair<StatementKey, uint64_t>> out;
  out.reserve(previous_.size());
  for (const auto& [key, counters] : previous_) out.emplace_back(key, counters.calls);
  return out;
}

std::optional<StatementCounters> StatementDeltaTracker::Update(const StatementKey& key,
                                                               const StatementCounters& current) {
  auto [it, inserted] = previous_.try_emplace(key, current);
  if (!has_baseline_) {
    it->second = current;
    return std::nullopt;
  }
  if (inserted) return SubtractCounters(current, StatementCounters{});
  StatementCounters base = Restarted(current, it->second) ? StatementCounters{} : it->second;
  it->second = current;
  return SubtractCounters(current, base);
}

std::vector<size_t> SelectStatements(const std::vector<StatementCounters>& deltas, size_t top_n,
                                     uint64_t calls_threshold) {
  std::vector<size_t> order;
  for (size_t i = 0; i < deltas.size(); ++i) {
    if (deltas[i].calls > 0) order.push_back(i);
  }
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return deltas[a].total_exec_time > deltas[b].total_exec_time;
  });
  std::vector<size_t> chosen;
  for (size_t rank = 0; rank < order.size(); ++rank) {
    const auto& d = deltas[order[rank]];
    bool over_threshold = calls_threshold > 0 && d.calls >= calls_threshold;
    if (rank < top_n || over_threshold) chosen.push_back(order[rank]);
  }
  return chosen;
}

}  // namespace pgagent
