// A compiled PostgreSQL log format: the factory that turns (format, log_line_prefix,
// redaction and correlation settings) into a LogParser. A LogParser is immutable after
// Create(); LogEntryAssembler (log_entry_assembler.h) holds the per-file state and uses it.
// Thread-safety: a LogParser is immutable; its const methods may be called concurrently and
// one parser may back several assemblers on different threads.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "collectord/logs/log_line.h"
#include "collectord/sql/correlation.h"
#include "common/status.h"

namespace pgagent {

class StderrPrefixMatcher;
class LogEnricher;

struct LogParserOptions {
  LogFormat format = LogFormat::kStderr;
  // stderr and syslog: the server's log_line_prefix (or the configured override). PostgreSQL
  // 13+'s default is "%m [%p] ".
  std::string log_line_prefix = "%m [%p] ";
  // syslog only: the server's syslog_ident and syslog_sequence_numbers.
  std::string syslog_ident = "postgres";
  bool syslog_sequence_numbers = true;
  // false = [collection] send_raw_query_text: statements and messages leave unredacted.
  bool redact = true;
  // Correlation ids from application_name and SQL comments; nullopt disables extraction.
  std::optional<CorrelationOptions> correlation = CorrelationOptions{};
};

class LogParser {
 public:
  // Errors: kInvalidArgument when a correlation pattern does not compile, or when the prefix
  // cannot be parsed unambiguously (two adjacent free-text escapes such as "%u%d" with no
  // literal between them).
  static Result<std::unique_ptr<LogParser>> Create(const LogParserOptions& options);

  ~LogParser();
  LogParser(const LogParser&) = delete;
  LogParser& operator=(const LogParser&) = delete;

  LogFormat format() const { return options_.format; }
  const LogParserOptions& options() const { return options_; }

  // Collaborators of LogEntryAssembler. stderr_matcher() is null for csvlog and jsonlog.
  const StderrPrefixMatcher* stderr_matcher() const { return matcher_.get(); }
  const LogEnricher& enricher() const { return *enricher_; }

 private:
  LogParser() = default;
  LogParserOptions options_;
  std::unique_ptr<StderrPrefixMatcher> matcher_;
  std::unique_ptr<LogEnricher> enricher_;
};

// "stderr", "csvlog", "jsonlog", "syslog".
std::string_view LogFormatName(LogFormat format);
// Accepts the names above (also "csv", "json"). Errors: kInvalidArgument otherwise.
Result<LogFormat> LogFormatFromName(std::string_view name);

}  // namespace pgagent
