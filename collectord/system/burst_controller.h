// BurstController: decides when collectord samples faster because the host is under load,
// so that the cause of a spike (load average up to 200) is caught in the act.
//
// A plain state machine fed LoadSignal readings and a Clock; it owns no thread and never
// sleeps. The Scheduler drives it each tick:
//
//   controller.Observe(source.Read().value_or({}));   // a failed reading counts as calm
//   record.set_burst(controller.OnSample());           // for each record of this tick
//   next_tick_in = controller.NextDelay();
//
// It enters burst when load per core or PSI cpu some avg10 is above its threshold, and
// leaves only once both have stayed at or below their thresholds for `hold_down`. In burst
// the next delay is burst_interval, except that at most max_burst_samples_per_minute burst
// samples are taken in any 60 s window (the extra load on PostgreSQL is capped); when the
// cap is reached the delay stretches until a slot frees, never beyond normal_interval.
//
// Thread-safety: not thread-safe; one Scheduler thread calls every method. The Clock must
// outlive the controller.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>

#include "collectord/system/load_signal.h"
#include "common/clock.h"

namespace pgagent::system {

struct BurstOptions {
  // Burst starts when load_avg_1m / cores exceeds this. <= 0 disables this signal.
  double load_per_core_threshold = 2.0;
  // Burst starts when /proc/pressure/cpu some avg10 (percent) exceeds this. <= 0 disables.
  double psi_cpu_some_avg10_threshold = 40.0;
  // Delay between samples outside burst (the configured collection interval).
  std::chrono::milliseconds normal_interval{std::chrono::seconds(60)};
  // Delay between samples in burst. Clamped to [1 s, normal_interval].
  std::chrono::milliseconds burst_interval{std::chrono::seconds(5)};
  // How long both signals must stay calm before burst ends.
  std::chrono::milliseconds hold_down{std::chrono::seconds(60)};
  // Burst samples allowed in any 60 s window; at least 1.
  uint32_t max_burst_samples_per_minute = 12;
};

class BurstController {
 public:
  struct Stats {
    uint64_t bursts_started = 0;
    uint64_t burst_samples = 0;  // samples marked burst
    uint64_t capped_delays = 0;  // NextDelay() stretched by the per-minute cap
  };

  BurstController(BurstOptions options, const Clock& clock);
  BurstController(const BurstController&) = delete;
  BurstController& operator=(const BurstController&) = delete;

  // Feeds one reading. Returns whether the controller is in burst afterwards.
  bool Observe(const LoadSignal& signal);

  bool in_burst() const { return in_burst_; }

  // Call once per sampling tick, before the records are sent. Returns true when the tick is a
  // burst sample (set Record.burst on its records); it then counts against the cap.
  bool OnSample();

  // Delay until the next sampling tick (see the header comment).
  std::chrono::milliseconds NextDelay();

  const BurstOptions& options() const { return options_; }
  const Stats& stats() const { return stats_; }

 private:
  bool Above(const LoadSignal& signal) const;
  void PruneWindow(std::chrono::steady_clock::time_point now);

  BurstOptions options_;
  const Clock& clock_;
  bool in_burst_ = false;
  std::optional<std::chrono::steady_clock::time_point> calm_since_;
  std::deque<std::chrono::steady_clock::time_point> burst_samples_;  // last 60 s
  Stats stats_;
};

}  // namespace pgagent::system
