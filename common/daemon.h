// What both daemons need from the operating system: signals as values, systemd
// notifications, their own resource use, and the main thread's signal loop (SIGHUP reload,
// watchdog) that both main.cc files run.
//
// SignalSet blocks SIGTERM, SIGINT, SIGHUP (and SIGPIPE is ignored) in the calling thread
// and every thread it starts afterwards, so that only the main thread receives them, through
// Wait(). Create it in main() before starting any thread.
// Thread-safety: SignalSet and RunSignalLoop belong to the main thread; Notify() and
// ReadSelfUsage are safe from any thread; a CpuShare belongs to one thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "common/clock.h"
#include "common/config.h"
#include "common/proc_fs.h"

namespace pgagent {

class SignalSet {
 public:
  SignalSet();
  SignalSet(const SignalSet&) = delete;
  SignalSet& operator=(const SignalSet&) = delete;
  // Waits up to `timeout` for SIGTERM/SIGINT/SIGHUP; returns the signal number, or nullopt
  // on timeout.
  std::optional<int> Wait(std::chrono::milliseconds timeout);
};

// sd_notify(3) with the given state ("READY=1", "STATUS=...", "WATCHDOG=1",
// "STOPPING=1"). Does nothing outside systemd (NOTIFY_SOCKET unset).
void Notify(const std::string& state);

// Watchdog period from systemd (WATCHDOG_USEC), halved as sd_watchdog_enabled(3) advises;
// nullopt when the watchdog is off.
std::optional<std::chrono::milliseconds> WatchdogInterval();

// The process's own resource use.
struct SelfUsage {
  uint64_t rss_bytes = 0;
  double cpu_seconds = 0;  // user + system since start
};
// RSS from /proc/self/statm (read through `procfs`; 0 when unreadable), CPU from
// getrusage(2).
SelfUsage ReadSelfUsage(const ProcFs& procfs = HostProcFs());

// Tracks CPU share between calls: percent of one core used since the previous call.
// REQUIRES: procfs and clock outlive it.
class CpuShare {
 public:
  explicit CpuShare(const ProcFs& procfs = HostProcFs(),
                    const Clock& clock = SystemClock::Instance())
      : procfs_(procfs), clock_(clock) {}
  double Sample();

 private:
  const ProcFs& procfs_;
  const Clock& clock_;
  double last_cpu_s_ = -1;
  std::chrono::steady_clock::time_point last_at_{};
};

// The main thread's loop after start-up, the same in both daemons. It waits for a signal
// until the next tick is due (and at least every watchdog period while systemd's watchdog
// is on), then: SIGTERM/SIGINT end the loop (their number is returned); SIGHUP reloads the
// configuration with `reload` and, when it loads, logs its warnings and changes, applies
// its log level, stores it in `config` and hands it to `apply` (when it does not, the error
// is logged and the previous configuration stays); then `tick` runs when due and the
// watchdog is fed while `healthy` holds.
struct SignalLoopHooks {
  std::function<Result<LoadedConfig>()> reload;
  std::function<void(const Config&)> apply;
  std::function<bool()> healthy;
  // Optional periodic work; returns how long until it is due again.
  std::function<std::chrono::milliseconds()> tick;
  // Longest wait without a tick, signal or watchdog (the loop's idle wake-up).
  std::chrono::milliseconds max_wait{std::chrono::seconds(60)};
};
int RunSignalLoop(SignalSet& signals, Config& config, const SignalLoopHooks& hooks);

// Logs the warnings of a loaded configuration ("config.warning").
void LogConfigWarnings(const LoadedConfig& loaded);

// gethostname(), or "unknown".
std::string HostName();

}  // namespace pgagent
