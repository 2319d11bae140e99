// Decides when the next sampling cycle runs. Cycles start on a fixed grid
// (start, start + interval, ...), so the interval compensates for the time a cycle took.
// A cycle never overlaps the previous one: grid slots that pass while a cycle is still
// running (or while the caller was not polling) are skipped and counted, and the next
// cycle starts on the next grid slot.
// Plain state machine, independent of libpq and threads: the scheduler asks Poll() and
// reports BeginCycle()/EndCycle(); time comes from the Clock it is given.
// Thread-safety: not thread-safe; use from the scheduler thread.
#pragma once

#include <chrono>
#include <cstdint>

#include "common/clock.h"

namespace pgagent {

class CyclePacer {
 public:
  // The first cycle is due immediately. `clock` must outlive the pacer.
  // REQUIRES: interval > 0.
  CyclePacer(const Clock& clock, std::chrono::milliseconds interval);
  CyclePacer(const CyclePacer&) = delete;
  CyclePacer& operator=(const CyclePacer&) = delete;

  // True when a cycle should start now (its slot has come and none is running).
  bool Due() const;
  // How long the scheduler may sleep before asking again (0 when due; the interval while
  // a cycle is running).
  std::chrono::milliseconds TimeUntilDue() const;

  // Starts a cycle. Returns false (and counts an overlap) when one is already running.
  // Slots missed since the planned start (late wake-up) are skipped and counted.
  bool BeginCycle();
  // Ends the running cycle; slots that passed while it ran are skipped and counted.
  // A no-op when no cycle is running.
  void EndCycle();

  bool running() const { return running_; }
  // Grid slots that were skipped because the previous cycle or the caller was late.
  uint64_t skipped() const { return skipped_; }
  // BeginCycle() calls refused because a cycle was running.
  uint64_t overlaps_refused() const { return overlaps_refused_; }
  std::chrono::milliseconds last_duration() const { return last_duration_; }
  std::chrono::steady_clock::time_point next_start() const { return next_start_; }

 private:
  // Moves next_start_ to the first grid slot after `now`, counting skipped slots.
  void SkipPassedSlots(std::chrono::steady_clock::time_point now);

  const Clock& clock_;
  std::chrono::steady_clock::duration interval_;
  std::chrono::steady_clock::time_point next_start_;
  std::chrono::steady_clock::time_point cycle_start_;
  std::chrono::milliseconds last_duration_{0};
  bool running_ = false;
  uint64_t skipped_ = 0;
  uint64_t overlaps_refused_ = 0;
};

}  // namespace pgagent
