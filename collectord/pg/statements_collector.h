// StatementsCollector: pg_stat_statements per-interval deltas.
//
// Detection: the extension (schema, version), pg_stat_statements.max and our role's oid are
// read at the first cycle, after every reconnect (PgConnection::generation changes) and
// every `recheck_every_cycles` cycles, so an extension created later is picked up without a
// restart. Absent (or not in shared_preload_libraries): one warning in the log, and
// Collect() returns kFailedPrecondition with a message that says what to do; the other
// collectors are not affected.
//
// A cycle, cheap on the server and on the wire:
//   1. pg_stat_statements_info (ext 1.9+): dealloc, and stats_reset to notice resets.
//   2. ONE scan of pg_stat_statements(showtext := false), diffed on the server: the keys and
//      calls of the previous sample are sent as five array parameters (about 40 bytes per
//      entry), and a FULL JOIN returns full counters only for new entries and entries whose
//      calls changed, plus the bare keys of entries that disappeared. Unchanged entries
//      cost no bytes received. (The baseline sends empty arrays and reads everything.)
//      Planning-only changes (calls unchanged) show up with the next execution.
//   3. Texts (showtext := true, which makes the server read its whole query text file)
//      only for queryids never fetched before, at most max_texts_per_cycle per cycle: first
//      the statements being sent, then entries of pgagent's own role (to recognise its own
//      queries by their leading comment). No text query at all when nothing is missing.
// Deltas follow statement_delta.h. query_time_ms is measured around the queries on the
// client (server time plus round trips). pgagent's own share is the delta execution time of
// entries whose text is pgagent's (IsPgagentQuery) over the delta time of all entries.
// Thread-safety: not thread-safe; the scheduler calls Collect() from one thread. The
// connection, extractor and clock must outlive the collector.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

#include "collectord/collector.h"
#include "collectord/pg/pg_connection.h"
#include "collectord/pg/query_text.h"
#include "collectord/pg/statement_columns.h"
#include "collectord/pg/statement_delta.h"
#include "collectord/sql/correlation.h"
#include "common/clock.h"

namespace pgagent {

struct StatementsOptions {
  size_t top_n = 100;
  uint64_t calls_threshold = 1000;  // also send any entry with this many calls; 0 = off
  size_t max_texts_per_cycle = 100;
  uint32_t recheck_every_cycles = 10;
  size_t max_query_length = 4096;
  bool send_raw_query_text = false;
  // pgagent's own statements (IsPgagentQuery: the /* pgagent */ tag) are left out of the
  // snapshot's statements and counted instead (own_entries, own_calls, own_exec_time_ms);
  // true sends them like any other.
  bool include_own_statements = false;
};

class StatementsCollector final : public Collector {
 public:
  // `extractor` may be null: no correlation ids.
  StatementsCollector(PgConnection& connection, const CorrelationExtractor* extractor,
                      const Clock& clock, StatementsOptions options);
  StatementsCollector(const StatementsCollector&) = delete;
  StatementsCollector& operator=(const StatementsCollector&) = delete;

  std::string_view Name() const override { return "pg_stat_statements"; }
  // Fills record.statements. kFailedPrecondition when pg_stat_statements is absent;
  // other errors as in pg_session.h.
  Status Collect(pgagent::v1::Record& record) override;

  // Whether the extension was found by the last detection.
  bool available() const { return available_; }
  // When false, no query text is fetched (collectord's self-limits shed this work first);
  // statements without a cached text go out with text_known = false.
  void set_fetch_texts(bool fetch) { fetch_texts_ = fetch; }
  const std::string& extension_version() const { return ext_version_; }
  // Query texts fetched since construction (each queryid once while it stays in pgss).
  uint64_t texts_fetched_total() const { return texts_fetched_total_; }
  // Query texts masked fail-closed since construction (they did not lex).
  uint64_t texts_fail_closed() const { return texts_fail_closed_; }
  // Entries read with full counters (new or changed) since construction.
  uint64_t full_rows_read_total() const { return full_rows_read_total_; }

 private:
  struct CachedText {
    std::string text;  // processed (redacted, truncated)
    bool truncated = false;
    std::optional<std::string> correlation_id;
    bool own = false;  // IsPgagentQuery(text)
  };
  struct FullRow {
    StatementKey key;
    StatementCounters counters;
    std::string username;
    std::string datname;
  };

  Status DetectIfDue();
  Status Detect();
  Status ReadInfo(pgagent::v1::StatementsSnapshot& snapshot);
  // One scan of pg_stat_statements, diffed on the server against the previous sample:
  // full rows of new entries and of entries whose calls changed, and the keys of entries
  // that disappeared (evicted or reset).
  std::string DiffSql() const;
  std::vector<PgValue> DiffParams() const;
  Status ReadChanged(std::vector<FullRow>& rows, std::vector<StatementKey>& gone);
  void ForgetTextsOfGoneEntries();
  struct Deltas {
    std::vector<StatementCounters> values;
    std::vector<const FullRow*> rows;  // point into the rows given to ApplySample
  };
  // Feeds the sample to the tracker; the deltas (none for the baseline).
  Deltas ApplySample(const std::vector<FullRow>& rows, const std::vector<StatementKey>& gone);
  // Indexes of the deltas to send: SelectStatements over the deltas, pgagent's own left out
  // unless include_own_statements.
  std::vector<size_t> Choose(const Deltas& deltas) const;
  bool IsOwn(int64_t queryid) const;
  // changed_entries, own_time_share and the own_* counts.
  void Summarize(const Deltas& deltas, pgagent::v1::StatementsSnapshot& snapshot) const;
  Status FetchTexts(const std::vector<const FullRow*>& selected,
                    const std::vector<FullRow>& changed, pgagent::v1::StatementsSnapshot& snapshot);
  void FillDelta(const FullRow& row, const StatementCounters& d, pgagent::v1::StatementDelta& out);
  std::string Fn(bool showtext) const;

  PgConnection& connection_;
  const CorrelationExtractor* extractor_;
  const Clock& clock_;
  StatementsOptions options_;

  bool detected_ = false;
  bool available_ = false;
  bool warned_absent_ = false;
  uint64_t detected_generation_ = 0;
  uint32_t cycles_since_detect_ = 0;
  std::string schema_;
  std::string ext_version_;
  StatementColumns columns_;
  uint32_t pgss_max_ = 0;
  uint32_t own_userid_ = 0;

  StatementDeltaTracker tracker_;
  std::string last_stats_reset_;
  std::optional<std::chrono::steady_clock::time_point> last_sample_;
  std::unordered_map<int64_t, CachedText> texts_;
  uint64_t texts_fetched_total_ = 0;
  uint64_t texts_fail_closed_ = 0;
  bool fetch_texts_ = true;
  uint64_t full_rows_read_total_ = 0;
};

}  // namespace pgagent
