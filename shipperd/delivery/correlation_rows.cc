#include "shipperd/delivery/correlation_rows.h"

#include <algorithm>
#include <map>
#include <optional>
#include <string>

namespace pgagent {
namespace {

using pgagent::v1::CorrelationRow;
using pgagent::v1::LockWait;
using pgagent::v1::LogEntry;
using pgagent::v1::Record;
using pgagent::v1::Session;

bool IsFailure(const std::string& level) {
  return level == "ERROR" || level == "FATAL" || level == "PANIC";
}

int64_t Nanos(const google::protobuf::Timestamp& t) {
  return t.seconds() * 1000000000 + t.nanos();
}

bool SameEntry(const LogEntry& a, const LogEntry& b) {
  return a.pid() == b.pid() && Nanos(a.timestamp()) == Nanos(b.timestamp()) &&
         a.session_line_num() == b.session_line_num() && a.message() == b.message();
}

bool SameWait(const LockWait& a, const LockWait& b) {
  return a.blocked_pid() == b.blocked_pid() && a.root_blocker_pid() == b.root_blocker_pid();
}

bool SameRecord(const pgagent::v1::RecordId& a, const pgagent::v1::RecordId& b) {
  return a.boot_id() == b.boot_id() && a.seq() == b.seq();
}

// Keeps the latest sample of each pid (by query_start, then position), at most `max`.
void MergeSessions(CorrelationRow& into, const CorrelationRow& from, size_t max) {
  for (const Session& s : from.sessions()) {
    auto* sessions = into.mutable_sessions();
    auto it = std::find_if(sessions->begin(), sessions->end(),
                           [&](const Session& o) { return o.pid() == s.pid(); });
    if (it != sessions->end()) {
      *it = s;  // the newer sample of the same backend
    } else if (static_cast<size_t>(sessions->size()) < max) {
      *into.add_sessions() = s;
    } else {
      into.set_sessions_dropped(into.sessions_dropped() + 1);
    }
  }
}

void MergeEntries(CorrelationRow& into, const CorrelationRow& from, size_t max) {
  for (const LogEntry& e : from.entries()) {
    const auto& entries = into.entries();
    if (std::any_of(entries.begin(), entries.end(),
                    [&](const LogEntry& o) { return SameEntry(o, e); })) {
      continue;
    }
    if (static_cast<size_t>(entries.size()) < max) {
      *into.add_entries() = e;
    } else {
      into.set_entries_dropped(into.entries_dropped() + 1);
    }
  }
}

void MergeWaits(CorrelationRow& into, const CorrelationRow& from, size_t max) {
  for (const LockWait& w : from.lock_waits()) {
    auto* waits = into.mutable_lock_waits();
    auto it = std::find_if(waits->begin(), waits->end(),
                           [&](const LockWait& o) { return SameWait(o, w); });
    if (it != waits->end()) {
      *it = w;
    } else if (static_cast<size_t>(waits->size()) < max) {
      *into.add_lock_waits() = w;
    }
  }
}

void MergeRecordIds(CorrelationRow& into, const CorrelationRow& from, size_t max) {
  for (const auto& id : from.records()) {
    const auto& ids = into.records();
    if (std::any_of(ids.begin(), ids.end(), [&](const auto& o) { return SameRecord(o, id); })) {
      continue;
    }
    if (static_cast<size_t>(ids.size()) < max) *into.add_records() = id;
  }
}

struct Assessment {
  double score = 1;
  std::vector<std::string> reasons{"seen"};
  std::string query;
  std::optional<double> duration_ms;
};

void AssessEntries(const CorrelationRow& row, Assessment& a) {
  const LogEntry* failed = nullptr;
  const LogEntry* slowest = nullptr;
  for (const LogEntry& e : row.entries()) {
    if (IsFailure(e.level()) && failed == nullptr) failed = &e;
    if (e.has_duration_ms() && (slowest == nullptr || e.duration_ms() > slowest->duration_ms())) {
      slowest = &e;
    }
  }
  if (failed != nullptr) {
    a.score += 1e6;
    a.reasons.push_back("failed");
    a.query = failed->statement().empty() ? failed->message() : failed->statement();
  }
  if (slowest != nullptr) {
    a.score += std::max(0.0, slowest->duration_ms());
    a.reasons.push_back("slow");
    if (a.query.empty()) a.query = slowest->statement();
    a.duration_ms = slowest->duration_ms();
  }
}

void AssessSessions(const CorrelationRow& row, Assessment& a) {
  const Session* longest = nullptr;
  double cpu_ms = 0;
  for (const Session& s : row.sessions()) {
    if (s.state() == "active" && (longest == nullptr ||
                                  s.query_duration_ms() > longest->query_duration_ms())) {
      longest = &s;
    }
    if (s.has_resources()) {
      cpu_ms = std::max(cpu_ms, s.resources().cpu_user_ms() + s.resources().cpu_system_ms());
    }
  }
  if (longest != nullptr && longest->query_duration_ms() > 0) {
    a.score += longest->query_duration_ms();
    a.reasons.push_back("long_running");
    if (a.query.empty()) a.query = longest->query();
    if (!a.duration_ms || longest->query_duration_ms() > *a.duration_ms) {
      a.duration_ms = longest->query_duration_ms();
    }
  }
  if (cpu_ms > 0) {
    a.score += 10 * cpu_ms;
    a.reasons.push_back("cpu");
  }
  if (a.query.empty() && row.sessions_size() > 0) a.query = row.sessions(0).query();
}

void AssessWaits(const CorrelationRow& row, Assessment& a) {
  bool root = false, waiter = false;
  double root_ms = 0, wait_ms = 0;
  for (const LockWait& w : row.lock_waits()) {
    if (w.has_blocking_correlation_id() && w.blocking_correlation_id() == row.correlation_id()) {
      root = true;
      root_ms += w.wait_duration_ms();
    }
    if (w.has_blocked_correlation_id() && w.blocked_correlation_id() == row.correlation_id()) {
      waiter = true;
      wait_ms = std::max(wait_ms, w.wait_duration_ms());
    }
  }
  if (root) {
    a.score += 1e5 + root_ms;
    a.reasons.push_back("lock_root");
  }
  if (waiter) {
    a.score += 5e4 + wait_ms;
    a.reasons.push_back("lock_waiter");
  }
}

void Assess(CorrelationRow& row) {
  Assessment a;
  AssessEntries(row, a);
  AssessWaits(row, a);
  AssessSessions(row, a);
  row.set_score(a.score);
  row.clear_reasons();
  for (auto& r : a.reasons) row.add_reasons(std::move(r));
  row.set_query(a.query);
  if (a.duration_ms) {
    row.set_duration_ms(*a.duration_ms);
  } else {
    row.clear_duration_ms();
  }
}

CorrelationRow& RowFor(std::map<std::string, CorrelationRow>& rows,
                       std::vector<std::string>& order, const std::string& id,
                       const Record& record) {
  auto [it, inserted] = rows.try_emplace(id);
  if (inserted) {
    order.push_back(id);
    CorrelationRow& row = it->second;
    row.set_correlation_id(id);
    *row.mutable_first_seen() = record.collected_at();
    *row.mutable_last_seen() = record.collected_at();
    row.set_host(record.host());
    *row.add_records() = record.id();
  }
  return it->second;
}

void ExtractActivity(const Record& record, const CorrelationLimits& limits,
                     std::map<std::string, CorrelationRow>& rows,
                     std::vector<std::string>& order) {
  for (const Session& s : record.activity().sessions()) {
    if (!s.has_correlation_id() || s.correlation_id().empty()) continue;
    CorrelationRow one;
    *one.add_sessions() = s;
    MergeSessions(RowFor(rows, order, s.correlation_id(), record), one, limits.max_sessions);
  }
  for (const LockWait& w : record.activity().lock_waits()) {
    for (const std::string* id : {w.has_blocked_correlation_id() ? &w.blocked_correlation_id()
                                                                  : nullptr,
                                  w.has_blocking_correlation_id() ? &w.blocking_correlation_id()
                                                                  : nullptr}) {
      if (id == nullptr || id->empty()) continue;
      CorrelationRow& row = RowFor(rows, order, *id, record);
      if (static_cast<size_t>(row.lock_waits_size()) < limits.max_lock_waits) {
        *row.add_lock_waits() = w;
      }
    }
  }
}

void ExtractLog(const Record& record, const CorrelationLimits& limits,
                std::map<std::string, CorrelationRow>& rows, std::vector<std::string>& order) {
  for (const LogEntry& e : record.log().entries()) {
    if (!e.has_correlation_id() || e.correlation_id().empty()) continue;
    CorrelationRow& row = RowFor(rows, order, e.correlation_id(), record);
    if (static_cast<size_t>(row.entries_size()) < limits.max_entries) {
      *row.add_entries() = e;
    } else {
      row.set_entries_dropped(row.entries_dropped() + 1);
    }
  }
}

}  // namespace

std::vector<CorrelationRow> ExtractCorrelationRows(const Record& record,
                                                   const CorrelationLimits& limits) {
  std::map<std::string, CorrelationRow> rows;
  std::vector<std::string> order;
  if (record.has_activity()) ExtractActivity(record, limits, rows, order);
  if (record.has_log()) ExtractLog(record, limits, rows, order);
  std::vector<CorrelationRow> out;
  out.reserve(order.size());
  for (const std::string& id : order) {
    CorrelationRow& row = rows[id];
    Assess(row);
    out.push_back(std::move(row));
  }
  return out;
}

void MergeCorrelationRows(CorrelationRow& into, const CorrelationRow& from,
                          const CorrelationLimits& limits) {
  if (!into.has_first_seen() || (from.has_first_seen() &&
                                 Nanos(from.first_seen()) < Nanos(into.first_seen()))) {
    *into.mutable_first_seen() = from.first_seen();
  }
  if (Nanos(from.last_seen()) > Nanos(into.last_seen())) {
    *into.mutable_last_seen() = from.last_seen();
  }
  if (into.host().empty()) into.set_host(from.host());
  MergeSessions(into, from, limits.max_sessions);
  MergeEntries(into, from, limits.max_entries);
  MergeWaits(into, from, limits.max_lock_waits);
  MergeRecordIds(into, from, limits.max_record_ids);
  Assess(into);
}

}  // namespace pgagent
