// pgagentctl status: both daemons, up or down, with what an administrator looks at first,
// and a verdict an alert can use (status_verdict.h): exit 0 healthy, 1 degraded, 2 down,
// 3 unknown (a daemon could not be asked: permission, timeout); the reasons in the text and
// in --json (StatusReport.health / reasons).
#include <chrono>
#include <cstdio>
#include <map>

#include "common/exit_codes.h"
#include "tools/pgagentctl/ctl.h"
#include "tools/pgagentctl/daemon_access.h"
#include "tools/pgagentctl/status_verdict.h"

namespace pgagent::ctl {
namespace {

using pgagent::v1::AgentHealth;
using pgagent::v1::DaemonState;

DaemonState AskStatus(const Config& config, const std::string& component) {
  pgagent::v1::ControlRequest request;
  request.mutable_status();
  DaemonAnswer answer = AskDaemon(config, component, request);
  DaemonState state;
  state.set_component(component);
  state.set_socket(answer.socket);
  if (answer.reach == Reach::kUp && answer.response.ok()) {
    state.set_up(true);
    state.set_state("up");
    *state.mutable_status() = answer.response.status();
    return state;
  }
  // Answered with an error (e.g. refused by SO_PEERCRED): it runs, but we know nothing more.
  state.set_error(answer.reach == Reach::kUp ? answer.response.error() : answer.error);
  state.set_up(answer.reach == Reach::kUp);
  state.set_state(answer.reach == Reach::kDown ? "down" : "unknown");
  if (component == "shipperd" && answer.reach == Reach::kDown) {
    pgagent::v1::ControlRequest stats;
    stats.mutable_queue_stats();
    auto direct = AskBufferDirectly(config, stats);
    if (direct.ok() && direct->ok()) *state.mutable_buffer() = direct->queue_stats();
  }
  return state;
}

std::string NonZeroCounters(const AgentHealth& health) {
  std::map<std::string, uint64_t> sorted(health.counters().begin(), health.counters().end());
  std::string out;
  for (const auto& [name, value] : sorted) {
    if (value == 0) continue;
    if (!out.empty()) out += ", ";
    out += name + " " + std::to_string(value);
  }
  return out.empty() ? "none" : out;
}

void PrintBuffer(const char* label, const pgagent::v1::QueueStats& queue) {
  std::printf("  %s: %llu records, %s", label, static_cast<unsigned long long>(queue.records()),
              HumanBytes(queue.bytes()).c_str());
  if (queue.records() > 0) std::printf(", oldest %s", HumanDuration(queue.oldest_age_s()).c_str());
  std::printf("; dead letters %llu\n", static_cast<unsigned long long>(queue.dead_letters()));
}

void PrintCollectord(const pgagent::v1::StatusResponse& status) {
  const AgentHealth& h = status.health();
  std::printf("  last cycle: %s\n", HumanTimeAgo(status.last_cycle_unix_s()).c_str());
  std::printf("  database: %s; skipped cycles %llu; shedding load: %s\n",
              h.db_state().empty() ? "unknown" : h.db_state().c_str(),
              static_cast<unsigned long long>(h.skipped_cycles()), h.shedding() ? "YES" : "no");
  std::printf("  log: %s\n", h.log_state().empty() ? "unknown" : h.log_state().c_str());
  if (!h.privilege_problem().empty())
    std::printf("  privileges: %s\n", h.privilege_problem().c_str());
  std::printf("  log lag: %s; IPC window: %llu records, %s\n",
              HumanBytes(h.log_lag_bytes()).c_str(),
              static_cast<unsigned long long>(h.ipc_window_records()),
              HumanBytes(h.ipc_window_bytes()).c_str());
  if (auto skips = h.counters().find("log_skip_events");
      skips != h.counters().end() && skips->second > 0) {
    auto bytes = h.counters().find("log_skipped_bytes");
    std::printf(
        "  WARNING: log lines may have been skipped %llu time(s), at least %s; see "
        "logtail.lines_skipped in the journal\n",
        static_cast<unsigned long long>(skips->second),
        HumanBytes(bytes == h.counters().end() ? 0 : bytes->second).c_str());
  }
  for (const auto& c : h.collectors()) {
    std::printf("  collector %s: %llu runs, %llu errors, last %.0f ms%s%s\n", c.name().c_str(),
                static_cast<unsigned long long>(c.runs()),
                static_cast<unsigned long long>(c.errors()), c.last_duration_ms(),
                c.last_error().empty() ? "" : "; last error: ", c.last_error().c_str());
  }
}

void PrintShipperd(const pgagent::v1::StatusResponse& status) {
  const AgentHealth& h = status.health();
  std::printf("  last delivery: %s\n", HumanTimeAgo(status.last_cycle_unix_s()).c_str());
  std::printf("  breaker: %s; requests sent %llu, failed %llu, rate-limited (429) %llu\n",
              h.breaker_state().empty() ? "unknown" : h.breaker_state().c_str(),
              static_cast<unsigned long long>(h.requests_sent()),
              static_cast<unsigned long long>(h.requests_failed()),
              static_cast<unsigned long long>(h.requests_429()));
  PrintBuffer("buffer", status.queue());
}

void PrintState(const DaemonState& state) {
  if (state.state() == "down") {
    std::printf("%s: down (%s)\n", state.component().c_str(), state.error().c_str());
    if (state.has_buffer()) PrintBuffer("buffer (read directly)", state.buffer());
    return;
  }
  if (state.state() == "unknown") {
    std::printf("%s: unknown (%s)\n", state.component().c_str(), state.error().c_str());
    return;
  }
  const auto& status = state.status();
  std::printf("%s: up (pid %d, version %s, uptime %s)\n", state.component().c_str(), status.pid(),
              status.version().c_str(), HumanDuration(status.uptime_s()).c_str());
  if (state.component() == "collectord") {
    PrintCollectord(status);
  } else {
    PrintShipperd(status);
  }
  if (status.has_health()) {
    std::printf("  memory %s, CPU %.1f%%; errors and counters: %s\n",
                HumanBytes(status.health().rss_bytes()).c_str(), status.health().cpu_percent(),
                NonZeroCounters(status.health()).c_str());
  }
}

}  // namespace

int RunStatus(const GlobalOptions& options) {
  auto loaded = LoadCtlConfig(options);
  if (!loaded.ok()) return Fail(options, loaded.status().message(), kExitConfig);
  pgagent::v1::StatusReport report;
  for (const char* component : {"collectord", "shipperd"}) {
    *report.add_daemons() = AskStatus(loaded->config, component);
  }
  const double now =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  const StatusVerdict verdict = AssessStatus(report, loaded->config, now);
  report.set_health(verdict.health);
  for (const auto& reason : verdict.reasons) report.add_reasons(reason);
  if (options.json) {
    PrintJson(report);
  } else {
    for (const auto& state : report.daemons()) PrintState(state);
    std::printf("health: %s\n", verdict.health.c_str());
    for (const auto& reason : verdict.reasons) std::printf("  - %s\n", reason.c_str());
  }
  return verdict.exit_code;
}

}  // namespace pgagent::ctl
