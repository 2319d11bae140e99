#include "collectord/pg/activity_collector.h"

#include <chrono>

#include "collectord/pg/pg_values.h"

namespace pgagent {
namespace {

std::string EpochMicros(std::string_view column) {
  return "(extract(epoch FROM a." + std::string(column) + ") * 1000000)::bigint AS " +
         std::string(column) + "_us";
}

std::string AgeMs(std::string_view column, std::string_view alias) {
  return "coalesce(extract(epoch FROM now() - a." + std::string(column) + ") * 1000, 0) AS " +
         std::string(alias);
}

// track_activity_query_size in bytes (current_setting() would say "1kB"), minus the
// terminating NUL: a text this long was probably cut by the server.
constexpr std::string_view kTrackSizeMinusOne =
    "(SELECT setting::int - 1 FROM pg_settings WHERE name = 'track_activity_query_size')";

double ElapsedMs(const Clock& clock, std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double, std::milli>(clock.Monotonic() - since).count();
}

}  // namespace

std::string ActivitySql(int server_version_num) {
  std::string query_id = server_version_num >= 140000 ? "a.query_id" : "NULL::bigint";
  return "SELECT a.pid, a.datname, a.usename, a.application_name,"
         " host(a.client_addr) AS client_addr, a.backend_type, " +
         EpochMicros("backend_start") + ", " + EpochMicros("xact_start") + ", " +
         EpochMicros("query_start") + ", " + EpochMicros("state_change") +
         ", a.state, a.wait_event_type, a.wait_event, " + query_id +
         " AS query_id, left(a.query, $2::int) AS query,"
         " octet_length(a.query) >= " +
         std::string(kTrackSizeMinusOne) + " AS query_maybe_cut, " +
         AgeMs("query_start", "query_ms") + ", " + AgeMs("xact_start", "xact_ms") + ", " +
         AgeMs("state_change", "state_ms") +
         ", count(*) OVER () AS total_non_idle,"
         " count(*) FILTER (WHERE a.wait_event_type = 'Lock') OVER () AS lock_waiters"
         " FROM pg_stat_activity a"
         " WHERE a.pid <> pg_backend_pid()"
         "   AND (a.state <> 'idle' OR (a.state IS NULL AND a.query = '<insufficient privilege>'))"
         " ORDER BY a.query_start NULLS LAST, a.pid"
         " LIMIT $1::int";
}

std::string LockWaitSql(int server_version_num) {
  std::string wait_start =
      server_version_num >= 140000 ? "coalesce(l.waitstart, w.state_change)" : "w.state_change";
  auto same = [](std::string_view col) {
    return " AND h." + std::string(col) + " IS NOT DISTINCT FROM l." + std::string(col);
  };
  return "WITH locks AS MATERIALIZED (SELECT * FROM pg_locks),"
         " waiters AS (SELECT a.pid, a.state_change, pg_blocking_pids(a.pid) AS blockers"
         "   FROM pg_stat_activity a"
         "   WHERE a.wait_event_type = 'Lock' AND a.pid <> pg_backend_pid())"
         " SELECT w.pid, w.blockers::text AS blockers, l.locktype, l.mode AS mode_wanted,"
         " (SELECT string_agg(DISTINCT h.mode, ',') FROM locks h"
         "   WHERE h.granted AND h.pid = w.blockers[1] AND h.locktype = l.locktype" +
         same("database") + same("relation") + same("page") + same("tuple") + same("virtualxid") +
         same("transactionid") + same("classid") + same("objid") + same("objsubid") +
         ") AS mode_held,"
         " CASE WHEN l.relation IS NOT NULL THEN coalesce("
         "   (SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname)"
         "      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
         "     WHERE c.oid = l.relation"
         "       AND l.database = (SELECT oid FROM pg_database"
         "                          WHERE datname = current_database())),"
         "   l.relation::text) END AS relation,"
         " extract(epoch FROM now() - " +
         wait_start +
         ") * 1000 AS wait_ms"
         " FROM waiters w LEFT JOIN locks l ON l.pid = w.pid AND NOT l.granted"
         " ORDER BY w.pid";
}

ActivityCollector::ActivityCollector(PgConnection& connection,
                                     const CorrelationExtractor* extractor, const Clock& clock,
                                     ActivityOptions options)
    : connection_(connection), extractor_(extractor), clock_(clock), options_(options) {}

Status ActivityCollector::Collect(pgagent::v1::Record& record) {
  auto start = clock_.Monotonic();
  pgagent::v1::ActivitySnapshot snapshot;
  uint32_t lock_waiters = 0;
  PGAGENT_RETURN_IF_ERROR(ReadSessions(snapshot, lock_waiters));
  if (lock_waiters > 0) {
    Status st = ReadLockWaits(snapshot);
    if (!st.ok()) {
      ++lock_query_errors_;
      snapshot.clear_lock_waits();
      snapshot.set_lock_waits_error(st.ToString());
      if (st.code() == StatusCode::kUnavailable) return st;
    }
  }
  snapshot.set_query_time_ms(ElapsedMs(clock_, start));
  *record.mutable_activity() = std::move(snapshot);
  return Status::Ok();
}

void ActivityCollector::FillSession(const PgResult& res, size_t r, pgagent::v1::Session& s) const {
  auto get = [&](std::string_view c) -> const PgValue& { return res.Get(r, c); };
  s.set_pid(static_cast<int32_t>(PgInt(get("pid"))));
  s.set_datname(PgText(get("datname")));
  s.set_usename(PgText(get("usename")));
  s.set_application_name(PgText(get("application_name")));
  s.set_client_addr(PgText(get("client_addr")));
  s.set_backend_type(PgText(get("backend_type")));
  if (auto t = TimestampFromMicros(get("backend_start_us"))) *s.mutable_backend_start() = *t;
  if (auto t = TimestampFromMicros(get("xact_start_us"))) *s.mutable_xact_start() = *t;
  if (auto t = TimestampFromMicros(get("query_start_us"))) *s.mutable_query_start() = *t;
  if (auto t = TimestampFromMicros(get("state_change_us"))) *s.mutable_state_change() = *t;
  s.set_state(PgText(get("state")));
  s.set_wait_event_type(PgText(get("wait_event_type")));
  s.set_wait_event(PgText(get("wait_event")));
  s.set_query_id(PgInt(get("query_id")));
  s.set_query_duration_ms(PgDouble(get("query_ms")));
  s.set_xact_duration_ms(PgDouble(get("xact_ms")));
  s.set_state_duration_ms(PgDouble(get("state_ms")));
  ProcessedQuery q = ProcessQueryText(extractor_, s.application_name(), PgText(get("query")),
                                      PgBool(get("query_maybe_cut")), TextOptions());
  if (q.redaction_failed) ++texts_fail_closed_;
  s.set_query(std::move(q.text));
  s.set_query_truncated(q.truncated);
  if (q.correlation_id) s.set_correlation_id(*q.correlation_id);
  if (q.traceparent) s.set_traceparent(*q.traceparent);
}

Status ActivityCollector::ReadSessions(pgagent::v1::ActivitySnapshot& snapshot,
                                       uint32_t& lock_waiters) {
  PGAGENT_RETURN_IF_ERROR(connection_.EnsureConnected());
  auto res = connection_.Query(
      ActivitySql(connection_.server_version_num()),
      {std::to_string(options_.max_rows), std::to_string(options_.max_fetch_length)});
  if (!res.ok()) return res.status().WithContext("pg_stat_activity");
  if (!res->rows.empty()) {
    snapshot.set_total_non_idle(static_cast<uint32_t>(PgUint(res->Get(0, "total_non_idle"))));
    lock_waiters = static_cast<uint32_t>(PgUint(res->Get(0, "lock_waiters")));
  }
  uint32_t with_correlation = 0;
  for (size_t r = 0; r < res->rows.size(); ++r) {
    auto* session = snapshot.add_sessions();
    FillSession(*res, r, *session);
    with_correlation += session->has_correlation_id() ? 1 : 0;
  }
  snapshot.set_count(static_cast<uint32_t>(snapshot.sessions_size()));
  snapshot.set_with_correlation(with_correlation);
  snapshot.set_truncated(snapshot.total_non_idle() > snapshot.count());
  return Status::Ok();
}

Status ActivityCollector::ReadLockWaits(pgagent::v1::ActivitySnapshot& snapshot) {
  auto res = connection_.Query(LockWaitSql(connection_.server_version_num()));
  if (!res.ok()) return res.status().WithContext("lock waits");
  std::vector<WaitEdges> edges;
  std::vector<size_t> row_of_edge;
  std::vector<int32_t> involved;
  for (size_t r = 0; r < res->rows.size(); ++r) {
    int32_t pid = static_cast<int32_t>(PgInt(res->Get(r, "pid")));
    if (!edges.empty() && edges.back().pid == pid) continue;  // one ungranted lock per waiter
    WaitEdges e{pid, {}};
    for (int64_t b : PgIntArray(res->Get(r, "blockers"))) {
      e.blockers.push_back(static_cast<int32_t>(b));
    }
    involved.push_back(pid);
    involved.insert(involved.end(), e.blockers.begin(), e.blockers.end());
    edges.push_back(std::move(e));
    row_of_edge.push_back(r);
  }
  if (edges.empty()) return Status::Ok();
  PGAGENT_ASSIGN_OR_RETURN(auto info, ReadBackends(involved));
  std::vector<BlockingPosition> tree = BuildBlockingTree(edges);
  for (size_t i = 0; i < edges.size(); ++i) {
    FillLockWait(*res, row_of_edge[i], edges[i], tree[i], info, *snapshot.add_lock_waits());
  }
  return Status::Ok();
}

Result<ActivityCollector::BackendMap> ActivityCollector::ReadBackends(
    const std::vector<int32_t>& pids) {
  std::string array = "{";
  for (size_t i = 0; i < pids.size(); ++i) array += (i ? "," : "") + std::to_string(pids[i]);
  array += "}";
  auto res = connection_.Query(
      "SELECT a.pid, a.application_name, left(a.query, $2::int) AS query,"
      " octet_length(a.query) >= " +
          std::string(kTrackSizeMinusOne) +
          " AS query_maybe_cut FROM pg_stat_activity a WHERE a.pid = ANY($1::int[])",
      {array, std::to_string(options_.max_fetch_length)});
  if (!res.ok()) return res.status().WithContext("lock wait queries");
  BackendMap info;
  for (size_t r = 0; r < res->rows.size(); ++r) {
    info[static_cast<int32_t>(PgInt(res->Get(r, "pid")))] =
        BackendInfo{PgText(res->Get(r, "application_name")), PgText(res->Get(r, "query")),
                    PgBool(res->Get(r, "query_maybe_cut"))};
  }
  return info;
}

void ActivityCollector::FillLockWait(const PgResult& res, size_t r, const WaitEdges& edge,
                                     const BlockingPosition& pos, const BackendMap& info,
                                     pgagent::v1::LockWait& w) const {
  auto process = [&](int32_t pid) {
    auto it = info.find(pid);
    if (it == info.end()) return ProcessedQuery{};
    ProcessedQuery q = ProcessQueryText(extractor_, it->second.application_name,
                                        it->second.query, it->second.maybe_cut, TextOptions());
    if (q.redaction_failed) ++texts_fail_closed_;
    return q;
  };
  w.set_blocked_pid(edge.pid);
  for (int32_t b : edge.blockers) w.add_blocking_pids(b);
  w.set_root_blocker_pid(pos.root_blocker_pid);
  w.set_chain_depth(pos.chain_depth);
  w.set_deadlock(pos.deadlock);
  w.set_lock_type(PgText(res.Get(r, "locktype")));
  w.set_mode_wanted(PgText(res.Get(r, "mode_wanted")));
  w.set_mode_held(PgText(res.Get(r, "mode_held")));
  w.set_relation(PgText(res.Get(r, "relation")));
  w.set_wait_duration_ms(PgDouble(res.Get(r, "wait_ms")));
  ProcessedQuery blocked = process(edge.pid);
  w.set_blocked_query(std::move(blocked.text));
  if (blocked.correlation_id) w.set_blocked_correlation_id(*blocked.correlation_id);
  if (!edge.blockers.empty()) w.set_blocking_query(process(edge.blockers.front()).text);
  ProcessedQuery root = process(pos.root_blocker_pid);
  if (root.correlation_id) w.set_blocking_correlation_id(*root.correlation_id);
}

}  // namespace pgagent
