// The last step of parsing an entry, shared by all formats: reads duration_ms and the statement carried by "duration: X ms  statement: ..." style messages,
// extracts the correlation id (application_name first, then the SQL comment of the
// statement or message; BEFORE redaction), classifies the event, and redacts what could
// hold data or secrets, field by field on the assembled entry (issue 14): statement,
// internal_query and the SQL of "statement:/execute/bind/parse" messages through RedactSql;
// auto_explain plans through RedactExplainPlan (explain_redact.h); message, hint, detail and
// context through log_redact.h (SQL frames in CONTEXT, prepare: and deadlock queries in DETAIL
// through RedactSql; key/row/parameter values and quoted values masked). What cannot be
// understood fails closed (MaskFailClosed) and is counted; lines that match no format are
// masked fail-closed whole. Redaction can be turned off (send_raw_query_text).
// Thread-safety: immutable after Create(); Finish() may be called concurrently with
// distinct caches.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "collectord/sql/correlation.h"
#include "common/status.h"
#include "pgagent/v1/records.pb.h"

namespace pgagent {

struct EnrichCounters {
  int redaction_failed = 0;  // fields (or parts) masked fail-closed, unparsed lines included
  int plans_dropped = 0;     // auto_explain plans in a format that could not be read
};

class LogEnricher {
 public:
  // Errors: kInvalidArgument when a correlation pattern does not compile.
  static Result<std::unique_ptr<LogEnricher>> Create(
      bool redact, const std::optional<CorrelationOptions>& correlation);

  // Completes *entry in place. REQUIRES: its text fields are valid UTF-8 (log_line.h). `app_cache` memoizes application_name -> correlation id
  // (owned by the caller, one per thread; bounded here).
  void Finish(pgagent::v1::LogEntry* entry, std::unordered_map<std::string, std::string>* app_cache,
              EnrichCounters* counters) const;

  // Unparsed line(s): fail-closed masking (MaskFailClosed) of the raw text in
  // entry->message.
  void FinishUnparsed(pgagent::v1::LogEntry* entry, EnrichCounters* counters) const;

 private:
  LogEnricher() = default;
  void Redact(pgagent::v1::LogEntry* e, EnrichCounters* counters) const;
  std::optional<std::string> Correlation(const pgagent::v1::LogEntry& e,
                                         std::unordered_map<std::string, std::string>* cache) const;

  bool redact_ = true;
  std::optional<CorrelationExtractor> correlation_;
};

// The event class of an entry from its level, sqlstate, message and duration.
pgagent::v1::LogEventClass ClassifyLogEntry(const pgagent::v1::LogEntry& entry);

// "duration: 12.345 ms..." -> 12.345; nullopt for other messages.
std::optional<double> ParseDurationMs(std::string_view message);

// Splits a message that carries a statement ("statement: ...", "duration: X ms  statement:
// ...", "execute <name>: ...", "parse/bind <name>: ...", with or without a duration,
// "duration: X ms  plan:..." from auto_explain) into the head and the SQL. Returns false for
// other messages.
bool SplitStatementMessage(std::string_view message, std::string_view* head, std::string_view* sql);

}  // namespace pgagent
