// The verdict of `pgagentctl status` for an alert: healthy / degraded / down / unknown with
// the reasons, from what both daemons answered. A pure function of the report, the
// configuration and the time, so that each rule has a unit test.
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <vector>

#include "common/config.h"
#include "pgagent/v1/control.pb.h"

namespace pgagent::ctl {

// Exit codes of `pgagentctl status` (the Nagios plugin convention).
inline constexpr int kExitHealthy = 0;
inline constexpr int kExitDegraded = 1;
inline constexpr int kExitDown = 2;
inline constexpr int kExitUnknown = 3;

struct StatusVerdict {
  std::string health;  // "healthy", "degraded", "down", "unknown"
  std::vector<std::string> reasons;
  int exit_code = kExitHealthy;
};

// Down: a daemon is not running. Unknown: one could not be asked. Degraded: circuit breaker
// not closed; delivery failing (last response not 2xx nor 429, or the oldest buffered record older
// than max(5 min, 3 intervals)); database unreachable or the role lacking pg_monitor; log not
// followed; no sampling cycle for 3 intervals; buffer above 80% of its cap; evictions or
// dead letters in the last hour.
StatusVerdict AssessStatus(const pgagent::v1::StatusReport& report, const Config& config,
                           double now_unix_s);

}  // namespace pgagent::ctl
