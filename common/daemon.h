// What both daemons need from the operating system: signals as values, systemd
// notifications, and their own resource use.
//
// SignalSet blocks SIGTERM, SIGINT, SIGHUP (and SIGPIPE is ignored) in the calling thread
// and every thread it starts afterwards, so that only the main thread receives them, through
// Wait(). Create it in main() before starting any thread.
// Thread-safety: SignalSet belongs to the main thread; Notify() and ReadSelfUsage are safe
// from any thread; a CpuShare belongs to one thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "common/clock.h"
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
  explicit CpuShare(const ProcFs& procfs = HostProcFs(), const Clock& clock = SystemClock::Instance())
      : procfs_(procfs), clock_(clock) {}
  double Sample();

 private:
  const ProcFs& procfs_;
  const Clock& clock_;
  double last_cpu_s_ = -1;
  std::chrono::steady_clock::time_point last_at_{};
};

// gethostname(), or "unknown".
std::string HostName();

}  // namespace pgagent
