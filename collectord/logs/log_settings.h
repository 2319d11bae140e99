// `log_path = auto`: which file and format to read, from the server's settings. The choice
// is a pure function of the settings map; FetchLogSettings() reads them through a query
// callback so that this folder does not depend on collectord/pg.
// Thread-safety: pure functions; thread-safe.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "collectord/logs/log_line.h"
#include "collectord/logs/log_parser.h"
#include "common/status.h"

namespace pgagent {

// Reads name/setting pairs. data_directory is only visible to superusers and members of
// pg_read_all_settings (pg_monitor includes it).
inline constexpr std::string_view kLogSettingsQuery =
    "SELECT name, setting FROM pg_catalog.pg_settings WHERE name IN ('log_destination', "
    "'log_directory', 'log_filename', 'data_directory', 'log_timezone', 'log_line_prefix', "
    "'logging_collector', 'syslog_ident', 'syslog_sequence_numbers')";

// Runs `sql` and returns its rows as (column 0, column 1). Errors are passed through.
using LogSettingsQueryFn =
    std::function<Result<std::vector<std::pair<std::string, std::string>>>(std::string_view sql)>;

// Runs kLogSettingsQuery. Errors: those of the callback.
Result<std::map<std::string, std::string>> FetchLogSettings(const LogSettingsQueryFn& query);

// What to follow.
struct LogLocation {
  LogFormat format = LogFormat::kStderr;
  // Absolute log directory (log_directory, relative ones resolved against data_directory).
  std::string directory;
  // log_filename with the format's suffix (".csv" / ".json" replacing a trailing ".log"),
  // still a strftime pattern, e.g. "postgresql-%Y-%m-%d_%H%M%S.csv".
  std::string filename_pattern;
  // directory + "/" + filename_pattern.
  std::string path_pattern;
  // The server's log_line_prefix (stderr), or the configured override.
  std::string log_line_prefix;
  // log_timezone, for diagnostics (timestamps carry their zone).
  std::string log_timezone;
};

struct LogLocationOverrides {
  // [collection] log_format: read this destination rather than the preferred one.
  std::optional<LogFormat> format;
  // [collection] log_line_prefix: a configured prefix overrides what the server says.
  std::optional<std::string> log_line_prefix;
};

// Picks jsonlog, else csvlog, else stderr among log_destination (or the override).
// syslog is never chosen here: which file the syslog daemon writes is its configuration, not
// the server's; a log_destination of syslog alone (or a syslog override) is the
// kFailedPrecondition below, telling to set log_path to that file and log_format = syslog.
// Errors: kFailedPrecondition when logging_collector is off or log_destination has none of
// the three formats (or not the overridden one): the file is unknown, set log_path;
// kPermissionDenied when log_directory is relative and data_directory is not visible;
// kInvalidArgument when a needed setting is missing.
Result<LogLocation> ChooseLogLocation(const std::map<std::string, std::string>& settings,
                                      const LogLocationOverrides& overrides = {});

// The format of an explicitly configured log_path with log_format = auto and no telling
// suffix: syslog when the server's log_destination names syslog and no file destination
// (stderr, csvlog, jsonlog), else stderr. Unknown settings: stderr.
LogFormat FormatForConfiguredPath(const std::map<std::string, std::string>& settings);

// syslog_ident and syslog_sequence_numbers from the server's settings, when present.
void ApplySyslogSettings(const std::map<std::string, std::string>& settings,
                         LogParserOptions* options);

}  // namespace pgagent
