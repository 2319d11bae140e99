// Finding the PostgreSQL log to follow and opening it as a LogPump. The file and format come
// from [collection] log_path / log_format / log_line_prefix, or (log_path = auto, or a
// format that cannot be told from the name) from the server's log settings, which are
// remembered in the state directory so that the log (and the authentication failures in it)
// is followed while the server is down or refuses our role. A failed attempt is retried
// every 30 s and warned once per distinct problem.
// Thread-safety: not thread-safe; the collector's worker thread calls every method. The
// connection, file system, clock and stamper outlive the LogSetup and the pumps it opens.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <utility>

#include "collectord/log_pump.h"
#include "collectord/logs/log_parser.h"
#include "collectord/logtail/log_file_system.h"
#include "collectord/logtail/log_source.h"
#include "collectord/logtail/offset_store.h"
#include "collectord/pg/pg_connection.h"
#include "collectord/record_stamper.h"
#include "common/clock.h"
#include "common/config.h"

namespace pgagent {

using LogPlan = std::pair<logtail::LogSourceOptions, LogParserOptions>;

// Decides which file and format to follow. `server_settings` is asked only when the
// configuration leaves the file or the format to the server; its error (kUnavailable while
// the server is neither reachable nor remembered) is returned.
Result<LogPlan> PlanLogs(
    const Config& config,
    const std::function<Result<std::map<std::string, std::string>>()>& server_settings);

class LogSetup {
 public:
  LogSetup(const Config& config, PgConnection& connection, logtail::LogFileSystem& fs, Clock& clock,
           const RecordStamper& stamper);
  LogSetup(const LogSetup&) = delete;
  LogSetup& operator=(const LogSetup&) = delete;

  // Opens the log when an attempt is due (the first at once, then every 30 s); null while
  // it cannot (problem() says why, and the warning was logged).
  std::unique_ptr<LogPump> TryOpen();
  std::chrono::steady_clock::time_point next_attempt() const { return next_attempt_; }
  const std::string& problem() const { return problem_; }

 private:
  Result<std::map<std::string, std::string>> ServerOrSavedSettings();
  Result<std::unique_ptr<LogPump>> Open(const LogPlan& plan);

  Config config_;
  PgConnection& connection_;
  logtail::LogFileSystem& fs_;
  Clock& clock_;
  const RecordStamper& stamper_;
  std::unique_ptr<logtail::OffsetStore> offsets_;  // kept across attempts once opened
  std::chrono::steady_clock::time_point next_attempt_{};
  std::string problem_;  // why there is no log pump yet
};

}  // namespace pgagent
