#include "collectord/logs/log_parser.h"

#include "collectord/logs/log_enricher.h"
#include "collectord/logs/stderr_prefix.h"

namespace pgagent {

LogParser::~LogParser() = default;

Result<std::unique_ptr<LogParser>> LogParser::Create(const LogParserOptions& options) {
  std::unique_ptr<LogParser> p(new LogParser());
  p->options_ = options;
  if (options.format == LogFormat::kStderr || options.format == LogFormat::kSyslog) {
    PGAGENT_ASSIGN_OR_RETURN(p->matcher_, StderrPrefixMatcher::Compile(options.log_line_prefix));
  }
  PGAGENT_ASSIGN_OR_RETURN(p->enricher_, LogEnricher::Create(options.redact, options.correlation));
  return p;
}

std::string_view LogFormatName(LogFormat format) {
  switch (format) {
    case LogFormat::kStderr:
      return "stderr";
    case LogFormat::kCsvlog:
      return "csvlog";
    case LogFormat::kJsonlog:
      return "jsonlog";
    case LogFormat::kSyslog:
      return "syslog";
  }
  return "stderr";
}

Result<LogFormat> LogFormatFromName(std::string_view name) {
  if (name == "stderr") return LogFormat::kStderr;
  if (name == "csvlog" || name == "csv") return LogFormat::kCsvlog;
  if (name == "jsonlog" || name == "json") return LogFormat::kJsonlog;
  if (name == "syslog") return LogFormat::kSyslog;
  return InvalidArgumentError("unknown log format '" + std::string(name) +
                              "' (expected stderr, csvlog, jsonlog or syslog)");
}

}  // namespace pgagent
