// When collectord's sampling cycles run: every interval_s, every burst_interval_s while the
// host is under load (system::BurstController decides), the interval doubled while the
// daemon sheds work (SelfLimiter's multiplier), and never two cycles overlapping: a cycle
// that overran its slot skips the slots it ate (counted). Which collectors a cycle runs
// follows from the same clock: pg_stat_statements and the cluster collector keep the normal
// cadence during a burst (burst cycles are for sessions and the host).
//
//   if (scheduler.Due()) {
//     const bool burst = scheduler.Begin(load.Read().value_or({}));
//     ... run activity; if (scheduler.TakeStatements(burst)) run statements; ...
//     scheduler.End(limiter.interval_multiplier());
//   }
//   wait until scheduler.next_cycle() (or other work)
//
// A plain state machine fed a Clock: no thread, no sleep.
// Thread-safety: not thread-safe; the collector's worker thread calls every method. The
// Clock must outlive the scheduler.
#pragma once

#include <chrono>
#include <cstdint>

#include "collectord/system/burst_controller.h"
#include "collectord/system/load_signal.h"
#include "common/clock.h"

namespace pgagent {

class CycleScheduler {
 public:
  // The first cycle is due at once. burst.normal_interval is the configured interval.
  CycleScheduler(system::BurstOptions burst, const Clock& clock);
  CycleScheduler(const CycleScheduler&) = delete;
  CycleScheduler& operator=(const CycleScheduler&) = delete;

  bool Due() const { return clock_.Monotonic() >= next_cycle_; }
  std::chrono::steady_clock::time_point next_cycle() const { return next_cycle_; }

  // Starts a cycle with the host's load reading (a failed reading counts as calm).
  // Returns whether it is a burst cycle.
  bool Begin(const system::LoadSignal& signal);
  // Whether this cycle runs pg_stat_statements: always on a normal cycle, and on a burst
  // cycle only when the normal interval has passed since it last ran (or it never ran).
  bool TakeStatements(bool burst);
  // Whether this cycle runs the cluster collector (same rule, "never ran" included).
  bool TakeCluster(bool burst);
  // Ends the cycle begun last: the next one is due one delay after it began (the burst
  // controller's delay times `interval_multiplier`); slots the cycle overran are skipped.
  void End(int interval_multiplier);

  // After a reload: the counters of the scheduler this one replaces.
  void CarryCountersFrom(const CycleScheduler& previous) {
    skipped_cycles_ = previous.skipped_cycles_;
  }

  uint64_t skipped_cycles() const { return skipped_cycles_; }
  uint64_t burst_cycles() const { return burst_cycles_; }

 private:
  bool NormalIntervalPassed(std::chrono::steady_clock::time_point last) const;

  const Clock& clock_;
  system::BurstController burst_;
  std::chrono::milliseconds interval_;
  std::chrono::steady_clock::time_point next_cycle_;
  std::chrono::steady_clock::time_point cycle_start_{};
  bool statements_ran_ = false;
  bool cluster_ran_ = false;
  std::chrono::steady_clock::time_point last_statements_{};
  std::chrono::steady_clock::time_point last_cluster_{};
  uint64_t skipped_cycles_ = 0;
  uint64_t burst_cycles_ = 0;
};

}  // namespace pgagent
