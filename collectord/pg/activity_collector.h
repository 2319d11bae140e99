// ActivityCollector: one pg_stat_activity sample per Collect(), with the lock waits.
//  - Non-idle backends only (active, idle in transaction, fastpath, waiting) plus rows the
//    role may not inspect ("<insufficient privilege>", state unknown); pgagent's own
//    backend is excluded. Durations are computed on the server (now() - *_start).
//  - At most max_rows rows, oldest query first; total_non_idle/truncated say when the cap
//    cut rows.
//  - Query texts: correlation id extracted from the full text (and application_name),
//    then redacted (unless send_raw_query_text), then truncated (see query_text.h).
//  - Lock waits: the activity query counts backends with wait_event_type = 'Lock'; only
//    when there are some does a second query call pg_blocking_pids() for them (it takes
//    the lock manager's partition locks) and read their ungranted pg_locks rows. The tree
//    is built in C++ (blocking_tree.h). A failed lock query leaves lock_waits empty and
//    sets lock_waits_error; the sessions are still reported.
//  - query_time_ms is measured around the queries on the client (server time plus round
//    trips; the agent runs next to the database).
// Thread-safety: not thread-safe; the scheduler calls Collect() from one thread. The
// connection, extractor and clock must outlive the collector.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "collectord/collector.h"
#include "collectord/pg/blocking_tree.h"
#include "collectord/pg/pg_connection.h"
#include "collectord/pg/query_text.h"
#include "collectord/sql/correlation.h"
#include "common/clock.h"

namespace pgagent {

struct ActivityOptions {
  uint32_t max_rows = 1000;
  size_t max_query_length = 4096;  // bytes, after redaction
  bool send_raw_query_text = false;
  // Longest text read from the server per row (characters), before redaction; bounds the
  // bytes a cycle may pull when track_activity_query_size is large.
  uint32_t max_fetch_length = 65536;
};

// SQL of the activity query for a server version (query_id needs 14+). Parameters:
// $1 = row cap, $2 = max_fetch_length. Exposed for tests and the benchmark.
std::string ActivitySql(int server_version_num);
// SQL of the lock-wait query (waitstart needs 14+); no parameters.
std::string LockWaitSql(int server_version_num);

class ActivityCollector final : public Collector {
 public:
  // `extractor` may be null: no correlation ids.
  ActivityCollector(PgConnection& connection, const CorrelationExtractor* extractor,
                    const Clock& clock, ActivityOptions options);
  ActivityCollector(const ActivityCollector&) = delete;
  ActivityCollector& operator=(const ActivityCollector&) = delete;

  std::string_view Name() const override { return "pg_stat_activity"; }
  // Fills record.activity. Errors from the activity query as in pg_session.h
  // (kUnavailable: not connected; kDeadlineExceeded: statement_timeout).
  Status Collect(pgagent::v1::Record& record) override;

  uint64_t lock_query_errors() const { return lock_query_errors_; }
  // Query texts masked fail-closed since construction (they did not lex).
  uint64_t texts_fail_closed() const { return texts_fail_closed_; }

 private:
  // What the lock-wait details need from any backend involved in the tree.
  struct BackendInfo {
    std::string application_name;
    std::string query;
    bool maybe_cut = false;
  };
  using BackendMap = std::unordered_map<int32_t, BackendInfo>;

  QueryTextOptions TextOptions() const {
    return {options_.max_query_length, options_.send_raw_query_text};
  }
  Status ReadSessions(pgagent::v1::ActivitySnapshot& snapshot, uint32_t& lock_waiters);
  void FillSession(const PgResult& res, size_t row, pgagent::v1::Session& session) const;
  Status ReadLockWaits(pgagent::v1::ActivitySnapshot& snapshot);
  // application_name and query of the given backends (waiters and their blockers).
  Result<BackendMap> ReadBackends(const std::vector<int32_t>& pids);
  void FillLockWait(const PgResult& res, size_t row, const WaitEdges& edge,
                    const BlockingPosition& position, const BackendMap& info,
                    pgagent::v1::LockWait& wait) const;

  PgConnection& connection_;
  const CorrelationExtractor* extractor_;
  const Clock& clock_;
  ActivityOptions options_;
  uint64_t lock_query_errors_ = 0;
  mutable uint64_t texts_fail_closed_ = 0;  // counted by the const Fill* helpers
};

}  // namespace pgagent
