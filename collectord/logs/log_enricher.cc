#include "collectord/logs/log_enricher.h"

#include <charconv>

#include "collectord/logs/explain_redact.h"
#include "collectord/logs/log_redact.h"
#include "collectord/sql/redact.h"

namespace pgagent {
namespace {

using pgagent::v1::LogEntry;
using pgagent::v1::LogEventClass;

constexpr size_t kAppCacheMax = 1024;

bool StartsWith(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }
bool Contains(std::string_view s, std::string_view p) { return s.find(p) != s.npos; }

}  // namespace

std::optional<double> ParseDurationMs(std::string_view m) {
  constexpr std::string_view kDuration = "duration: ";
  if (!StartsWith(m, kDuration)) return std::nullopt;
  m.remove_prefix(kDuration.size());
  double v = 0;
  auto [ptr, ec] = std::from_chars(m.data(), m.data() + m.size(), v);
  if (ec != std::errc() || ptr == m.data()) return std::nullopt;
  std::string_view rest(ptr, static_cast<size_t>(m.data() + m.size() - ptr));
  if (!StartsWith(rest, " ms")) return std::nullopt;
  return v;
}

bool SplitStatementMessage(std::string_view m, std::string_view* head, std::string_view* sql) {
  size_t p = 0;
  if (StartsWith(m, "duration: ")) {
    // PostgreSQL writes two spaces after "ms"; one (as some tools rewrite it) is accepted.
    size_t ms = m.find(" ms ");
    if (ms == m.npos) return false;
    p = ms + 4;
    while (p < m.size() && m[p] == ' ') ++p;
  }
  std::string_view rest = m.substr(p);
  size_t body;
  if (StartsWith(rest, "statement: ")) {
    body = 11;
  } else if (StartsWith(rest, "plan:")) {
    body = 5;
  } else if (StartsWith(rest, "execute ") || StartsWith(rest, "parse ") ||
             StartsWith(rest, "bind ")) {
    size_t colon = rest.find(": ");
    if (colon == rest.npos) return false;
    body = colon + 2;
  } else {
    return false;
  }
  *head = m.substr(0, p + body);
  *sql = m.substr(p + body);
  return true;
}

LogEventClass ClassifyLogEntry(const LogEntry& e) {
  std::string_view m = e.message();
  std::string_view code = e.sqlstate();
  std::string_view level = e.level();
  const bool error = level == "ERROR" || level == "FATAL" || level == "PANIC";
  if (code == "40P01" || StartsWith(m, "deadlock detected")) return v1::LOG_EVENT_CLASS_DEADLOCK;
  if (StartsWith(m, "process ")) {  // log_lock_waits
    if (Contains(m, " detected deadlock ")) return v1::LOG_EVENT_CLASS_DEADLOCK;
    if (Contains(m, " still waiting for ") || Contains(m, " acquired ") ||
        Contains(m, " avoided deadlock ")) {
      return v1::LOG_EVENT_CLASS_LOCK_WAIT;
    }
  }
  if (e.has_duration_ms()) return v1::LOG_EVENT_CLASS_SLOW_STATEMENT;
  if (StartsWith(m, "checkpoint ") || StartsWith(m, "restartpoint ") ||
      StartsWith(m, "checkpoints are occurring too frequently")) {
    return v1::LOG_EVENT_CLASS_CHECKPOINT;
  }
  if (StartsWith(m, "automatic vacuum ") || StartsWith(m, "automatic aggressive vacuum ") ||
      StartsWith(m, "automatic analyze ") || StartsWith(m, "canceling autovacuum task")) {
    return v1::LOG_EVENT_CLASS_AUTOVACUUM;
  }
  if (code == "28P01" || code == "28000" || StartsWith(m, "no pg_hba.conf entry") ||
      (error && Contains(m, "authentication failed"))) {
    return v1::LOG_EVENT_CLASS_AUTHENTICATION;
  }
  if (StartsWith(m, "connection received: ") || StartsWith(m, "connection authorized: ") ||
      StartsWith(m, "connection authenticated: ") ||
      StartsWith(m, "replication connection authorized: ") || StartsWith(m, "disconnection: ")) {
    return v1::LOG_EVENT_CLASS_CONNECTION;
  }
  if (code == "53200" || StartsWith(m, "out of memory")) return v1::LOG_EVENT_CLASS_OUT_OF_MEMORY;
  if (StartsWith(m, "temporary file: ")) return v1::LOG_EVENT_CLASS_TEMP_FILE;
  if (code == "42601" || StartsWith(m, "syntax error")) return v1::LOG_EVENT_CLASS_SYNTAX_ERROR;
  // stderr without %e has no SQLSTATE: recognise the constraint messages by their text.
  if (StartsWith(code, "23") ||
      (error && Contains(m, " violates ") && Contains(m, " constraint"))) {
    return v1::LOG_EVENT_CLASS_CONSTRAINT_ERROR;
  }
  return v1::LOG_EVENT_CLASS_OTHER;
}

Result<std::unique_ptr<LogEnricher>> LogEnricher::Create(
    bool redact, const std::optional<CorrelationOptions>& correlation) {
  std::unique_ptr<LogEnricher> e(new LogEnricher());
  e->redact_ = redact;
  if (correlation.has_value()) {
    PGAGENT_ASSIGN_OR_RETURN(CorrelationExtractor x, CorrelationExtractor::Create(*correlation));
    e->correlation_.emplace(std::move(x));
  }
  return e;
}

std::optional<std::string> LogEnricher::Correlation(
    const LogEntry& e, std::unordered_map<std::string, std::string>* cache) const {
  if (!correlation_.has_value()) return std::nullopt;
  if (!e.application_name().empty()) {
    auto it = cache->find(e.application_name());
    if (it == cache->end()) {
      if (cache->size() >= kAppCacheMax) cache->clear();
      auto id = correlation_->FromApplicationName(e.application_name());
      it = cache->emplace(e.application_name(), id.value_or(std::string())).first;
    }
    if (!it->second.empty()) return it->second;
  }
  // Comment patterns match SQL comments: skip texts without one. The message is searched
  // only when the statement did not come out of it.
  auto from_query = [&](const std::string& text) -> std::optional<std::string> {
    if (text.find("/*") == std::string::npos) return std::nullopt;
    return correlation_->FromQuery(text);
  };
  const std::string& statement = e.statement();
  if (auto id = from_query(statement)) return id;
  const std::string& message = e.message();
  bool statement_from_message =
      !statement.empty() && message.size() >= statement.size() &&
      message.compare(message.size() - statement.size(), statement.size(), statement) == 0;
  if (!statement_from_message) return from_query(message);
  return std::nullopt;
}

void LogEnricher::Finish(LogEntry* e, std::unordered_map<std::string, std::string>* app_cache,
                         EnrichCounters* counters) const {
  if (auto d = ParseDurationMs(e->message())) e->set_duration_ms(*d);
  std::string_view head, sql;
  if (e->statement().empty() && SplitStatementMessage(e->message(), &head, &sql) &&
      !(head.size() >= 5 && head.substr(head.size() - 5) == "plan:")) {
    e->set_statement(std::string(sql));
  }
  if (auto id = Correlation(*e, app_cache)) e->set_correlation_id(std::move(*id));
  e->set_event_class(ClassifyLogEntry(*e));
  e->set_parsed(true);
  if (redact_) Redact(e, counters);
}

// Field by field on the assembled entry (multi-line values whole), each with its redactor.
void LogEnricher::Redact(LogEntry* e, EnrichCounters* c) const {
  FieldRedactStats fs;
  const bool cut = e->truncated();
  std::string_view head, sql;
  const bool message_has_sql = SplitStatementMessage(e->message(), &head, &sql);
  const bool plan = message_has_sql && head.ends_with("plan:");
  // "duration: X ms  statement: <sql>": the statement field is that same SQL; redact once.
  const bool same_sql = message_has_sql && !plan && sql == e->statement();
  if (!e->statement().empty()) e->set_statement(RedactLogSql(e->statement(), cut, &fs));
  if (!e->internal_query().empty()) {
    e->set_internal_query(RedactLogSql(e->internal_query(), cut, &fs));
  }
  if (plan) {
    std::optional<std::string> redacted = RedactExplainPlan(sql, &fs);
    if (!redacted) ++c->plans_dropped;
    e->set_message(std::string(head) +
                   (redacted ? *redacted : "\n" + std::string(kPlanDroppedMarker)));
  } else if (same_sql) {
    e->set_message(std::string(head) + e->statement());
  } else if (message_has_sql) {
    e->set_message(std::string(head) + RedactLogSql(sql, cut, &fs));
  } else if (!e->message().empty()) {
    e->set_message(RedactLogText(e->message(), &fs));
  }
  if (!e->detail().empty()) e->set_detail(RedactLogDetail(e->detail(), &fs));
  if (!e->context().empty()) e->set_context(RedactLogContext(e->context(), &fs));
  if (!e->hint().empty()) e->set_hint(RedactLogText(e->hint(), &fs));
  c->redaction_failed += fs.fail_closed;
}

// A line that matched no format cannot be understood: fail closed, whatever it looks like.
void LogEnricher::FinishUnparsed(LogEntry* e, EnrichCounters* counters) const {
  e->set_parsed(false);
  e->set_event_class(v1::LOG_EVENT_CLASS_OTHER);
  if (redact_) {
    e->set_message(MaskFailClosed(e->message()));
    ++counters->redaction_failed;
  }
}

}  // namespace pgagent
