#include "common/daemon.h"

#include <signal.h>
#include <sys/resource.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "common/log.h"

namespace pgagent {

namespace {

sigset_t DaemonSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  return set;
}

}  // namespace

SignalSet::SignalSet() {
  sigset_t set = DaemonSignals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

std::optional<int> SignalSet::Wait(std::chrono::milliseconds timeout) {
  sigset_t set = DaemonSignals();
  timespec ts;
  ts.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  ts.tv_nsec = static_cast<long>((timeout.count() % 1000) * 1000000);
  const int sig = sigtimedwait(&set, nullptr, &ts);
  if (sig < 0) return std::nullopt;
  return sig;
}

void Notify(const std::string& state) { sd_notify(0, state.c_str()); }

std::optional<std::chrono::milliseconds> WatchdogInterval() {
  uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0) return std::nullopt;
  return std::chrono::milliseconds(usec / 2000);
}

SelfUsage ReadSelfUsage(const ProcFs& procfs) {
  SelfUsage usage;
  if (auto statm = procfs.ReadFile("/proc/self/statm"); statm.ok()) {
    unsigned long size = 0, resident = 0;
    if (std::sscanf(statm->c_str(), "%lu %lu", &size, &resident) == 2) {
      usage.rss_bytes =
          static_cast<uint64_t>(resident) * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
    }
  }
  rusage ru{};
  if (getrusage(RUSAGE_SELF, &ru) == 0) {
    usage.cpu_seconds = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                        static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
  }
  return usage;
}

double CpuShare::Sample() {
  const double cpu = ReadSelfUsage(procfs_).cpu_seconds;
  const auto now = clock_.Monotonic();
  double share = 0;
  if (last_cpu_s_ >= 0) {
    const double wall = std::chrono::duration<double>(now - last_at_).count();
    if (wall > 0) share = 100.0 * (cpu - last_cpu_s_) / wall;
  }
  last_cpu_s_ = cpu;
  last_at_ = now;
  return share;
}

void LogConfigWarnings(const LoadedConfig& loaded) {
  for (const auto& w : loaded.warnings) log::Warn("config.warning", {{"message", w}});
}

namespace {

void Reload(Config& config, const SignalLoopHooks& hooks) {
  auto reloaded = hooks.reload();
  if (!reloaded.ok()) {
    log::Error("config.reload_rejected", {{"error", reloaded.status().message()},
                                          {"effect", "the previous configuration stays in force"}});
    return;
  }
  LogConfigWarnings(*reloaded);
  for (const auto& change : DescribeChanges(config, reloaded->config))
    log::Info("config.changed", {{"change", change}});
  config = reloaded->config;
  log::SetLevel(log::ParseLevel(config.agent.log_level));
  hooks.apply(config);
}

}  // namespace

int RunSignalLoop(SignalSet& signals, Config& config, const SignalLoopHooks& hooks) {
  std::chrono::milliseconds max_wait = hooks.max_wait;
  if (auto watchdog = WatchdogInterval()) max_wait = std::min(max_wait, *watchdog);
  std::chrono::milliseconds until_tick = hooks.tick ? hooks.tick() : max_wait;
  for (;;) {
    const auto wait = std::clamp(until_tick, std::chrono::milliseconds(1), max_wait);
    const auto waited_from = std::chrono::steady_clock::now();
    const std::optional<int> sig = signals.Wait(wait);
    if (sig && (*sig == SIGTERM || *sig == SIGINT)) return *sig;
    if (sig && *sig == SIGHUP) Reload(config, hooks);
    until_tick -= std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - waited_from);
    if (hooks.tick && until_tick <= std::chrono::milliseconds(0)) until_tick = hooks.tick();
    if (!hooks.tick) until_tick = max_wait;
    if (hooks.healthy()) Notify("WATCHDOG=1");
  }
}

std::string HostName() {
  char buf[256] = {0};
  if (gethostname(buf, sizeof(buf) - 1) != 0 || buf[0] == '\0') return "unknown";
  return buf;
}

}  // namespace pgagent
