#include "tools/pgagentctl/status_verdict.h"

#include <algorithm>
#include <cmath>

namespace pgagent::ctl {
namespace {

using pgagent::v1::DaemonState;
using pgagent::v1::StatusResponse;

constexpr double kRecentS = 3600;
constexpr double kBufferFullShare = 0.8;

std::string Seconds(double s) {
  return std::to_string(static_cast<long long>(std::llround(s))) + " s";
}

void AssessCollectord(const StatusResponse& status, const Config& config, double now,
                      std::vector<std::string>& reasons) {
  const auto& h = status.health();
  const std::string who = "collectord: ";
  if (h.db_state() != "connected") {
    std::string why = who + "database unreachable (" +
                      (h.db_state().empty() ? std::string("not yet connected") : h.db_state()) +
                      ")";
    for (const auto& c : h.collectors()) {
      if (!c.last_error().empty() && c.name() == "pg_stat_activity") why += ": " + c.last_error();
    }
    reasons.push_back(why);
  }
  if (!h.privilege_problem().empty()) reasons.push_back(who + h.privilege_problem());
  if (!h.log_state().empty() && h.log_state() != "following") {
    reasons.push_back(who + "log " + h.log_state());
  }
  const double stale = 3.0 * static_cast<double>(config.collection.interval_s);
  if (status.uptime_s() > stale && now - status.last_cycle_unix_s() > stale) {
    reasons.push_back(who + "no sampling cycle for " + Seconds(now - status.last_cycle_unix_s()));
  }
}

void AssessShipperd(const StatusResponse& status, const Config& config, double now,
                    std::vector<std::string>& reasons) {
  const auto& h = status.health();
  const auto& queue = status.queue();
  const std::string who = "shipperd: ";
  if (!h.breaker_state().empty() && h.breaker_state() != "closed") {
    reasons.push_back(who + "circuit breaker " + h.breaker_state() + " (last error: " +
                      (h.delivery_last_error().empty() ? "none" : h.delivery_last_error()) + ")");
  }
  const int last = h.delivery_last_status();
  const double backlog_limit =
      std::max(300.0, 3.0 * static_cast<double>(config.collection.interval_s));
  // 429 is the listener's rate limit, not a failure: a backlog it causes shows by its age.
  if (last != 0 && last != 429 && (last < 200 || last > 299)) {
    reasons.push_back(who + "delivery failing: the last request got HTTP " + std::to_string(last));
  } else if (queue.records() > 0 && queue.oldest_age_s() > backlog_limit) {
    reasons.push_back(who + "delivery failing: the oldest buffered record is " +
                      Seconds(queue.oldest_age_s()) + " old (last error: " +
                      (h.delivery_last_error().empty() ? "none" : h.delivery_last_error()) + ")");
  }
  if (queue.max_bytes() > 0 && static_cast<double>(queue.bytes()) >
                                   kBufferFullShare * static_cast<double>(queue.max_bytes())) {
    reasons.push_back(who + "buffer above 80% of its cap (" + std::to_string(queue.bytes() >> 20) +
                      " of " + std::to_string(queue.max_bytes() >> 20) + " MiB)");
  }
  if (h.last_eviction_unix_s() > 0 && now - h.last_eviction_unix_s() < kRecentS) {
    reasons.push_back(who + "buffer evicted records " + Seconds(now - h.last_eviction_unix_s()) +
                      " ago (full: the oldest records are lost)");
  }
  if (h.last_dead_letter_unix_s() > 0 && now - h.last_dead_letter_unix_s() < kRecentS) {
    reasons.push_back(who + "dead letters added " + Seconds(now - h.last_dead_letter_unix_s()) +
                      " ago (pgagentctl deadletter list)");
  }
}

}  // namespace

StatusVerdict AssessStatus(const pgagent::v1::StatusReport& report, const Config& config,
                           double now_unix_s) {
  StatusVerdict verdict;
  bool down = false;
  bool unknown = false;
  for (const DaemonState& d : report.daemons()) {
    if (d.state() == "down") {
      down = true;
      verdict.reasons.push_back(d.component() + ": down (" + d.error() + ")");
    } else if (d.state() != "up") {
      unknown = true;
      verdict.reasons.push_back(d.component() + ": could not be asked (" + d.error() + ")");
    } else if (d.component() == "collectord") {
      AssessCollectord(d.status(), config, now_unix_s, verdict.reasons);
    } else {
      AssessShipperd(d.status(), config, now_unix_s, verdict.reasons);
    }
  }
  if (down) {
    verdict.health = "down";
    verdict.exit_code = kExitDown;
  } else if (unknown) {
    verdict.health = "unknown";
    verdict.exit_code = kExitUnknown;
  } else if (!verdict.reasons.empty()) {
    verdict.health = "degraded";
    verdict.exit_code = kExitDegraded;
  } else {
    verdict.health = "healthy";
  }
  return verdict;
}

}  // namespace pgagent::ctl
