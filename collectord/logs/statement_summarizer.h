// [collection] log_statements = summarize: between the assembler and the batcher, folds the
// fast untagged statement entries of a server that logs every statement
// (log_min_duration_statement = 0) into per-interval summaries, and passes everything else
// on unchanged.
//
// Shipped as today: an entry with a correlation id, WARNING and above, a statement at or over
// slow_ms, every non-statement event (checkpoints, autovacuum, lock waits, connections, ...),
// unparsed and truncated entries. Folded: a parsed, untruncated LOG entry without correlation
// id that has a duration under slow_ms and a statement ("duration: 0.2 ms  statement: ...").
// Folded entries are grouped per (database, user, fingerprint): query_id when the log
// carries it (%Q in log_line_prefix, jsonlog), else a hash of the statement's redacted text
// (collectord/sql RedactSql is the normaliser: literals are ?, IN lists collapse). Per group:
// count, total/min/max and p50/p95/p99 duration (from a log-scale histogram, within 2%), and
// one example statement, redacted.
//
// An interval ends interval after its first entry, and early at Flush() (the end of a file, a
// truncation, shutdown: the summaries' end offsets must belong to the file they were read
// from). It emits one entry per group (event_class STATEMENT_SUMMARY, statement_summary set)
// and one accounting entry (log_accounting: lines read = shipped + summarized), placed in
// file order: their end_offset is that of the last entry read, so a batch holding them
// commits past the folded lines.
//
// Bounded memory: at most max_groups groups per interval; an entry that would open one more
// is shipped as is (and counted shipped).
//
// A plain state machine fed entries and a Clock, no threads, no I/O. Thread-safety: not
// thread-safe; one thread drives an instance. The Clock must outlive the summarizer.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "collectord/logs/log_line.h"
#include "common/clock.h"

namespace pgagent {

struct StatementSummarizerOptions {
  std::chrono::milliseconds interval{60000};
  // Statements at or over this duration are shipped as entries ([collection] log_slow_ms).
  double slow_ms = 1000;
  size_t max_groups = 1000;  // REQUIRES: >= 1
  // True when the parser already redacted statements (send_raw_query_text = false): the
  // text is then hashed as it is; otherwise it is redacted first.
  bool statements_redacted = true;
  // Stable 64-bit hash of a text (collectord passes logtail::Fingerprint, FNV-1a).
  // REQUIRES: not null.
  uint64_t (*text_hash)(std::string_view) = nullptr;
};

struct StatementSummarizerStats {
  uint64_t lines_read = 0;
  uint64_t lines_shipped = 0;
  uint64_t lines_summarized = 0;
  uint64_t intervals = 0;        // accounting entries emitted
  uint64_t summaries = 0;        // summary entries emitted
  uint64_t group_overflows = 0;  // entries shipped because max_groups was reached
};

class StatementSummarizer {
 public:
  StatementSummarizer(const Clock& clock, StatementSummarizerOptions options);
  StatementSummarizer(const StatementSummarizer&) = delete;
  StatementSummarizer& operator=(const StatementSummarizer&) = delete;

  // Filters *entries (in file order) in place: the entries to ship stay, in order; folded
  // ones are removed. When the open interval has elapsed (before, or at the end of, these
  // entries) its summary entries are inserted where it ended. With `flush`, the open
  // interval's summaries are appended at the end in any case.
  void Process(std::vector<AssembledEntry>* entries, bool flush);

  // True when `entry` would be folded (the shipping rule above).
  static bool Folds(const pgagent::v1::LogEntry& entry, double slow_ms);

  const StatementSummarizerStats& stats() const { return stats_; }
  size_t open_groups() const { return groups_.size(); }

 private:
  struct Group {
    pgagent::v1::LogEntry example;  // database, user, query_id, redacted statement
    std::string fingerprint;
    uint32_t count = 0;
    double total_ms = 0, min_ms = 0, max_ms = 0;
    std::map<int, uint32_t> histogram;  // log-scale bucket -> count
  };
  using Key = std::tuple<std::string, std::string, std::string>;  // database, user, fingerprint

  // Folds `entry` into its group; false when it must be shipped (no room for a new group).
  bool Fold(const pgagent::v1::LogEntry& entry);
  std::string FingerprintOf(const pgagent::v1::LogEntry& entry, std::string* redacted) const;
  // Appends the open interval's entries to *out and starts a new one.
  void Close(std::vector<AssembledEntry>* out);
  bool Elapsed() const;

  const Clock& clock_;
  StatementSummarizerOptions options_;
  std::map<Key, Group> groups_;
  std::optional<std::chrono::steady_clock::time_point> opened_at_;
  uint64_t last_offset_ = 0;
  uint32_t read_ = 0, shipped_ = 0, summarized_ = 0;  // of the open interval
  StatementSummarizerStats stats_;
};

}  // namespace pgagent
