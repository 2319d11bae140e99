#include "collectord/pg/cycle_pacer.h"

#include <cstdlib>

namespace pgagent {

using std::chrono::duration_cast;
using std::chrono::milliseconds;

CyclePacer::CyclePacer(const Clock& clock, milliseconds interval)
    : clock_(clock), interval_(interval), next_start_(clock.Monotonic()) {
  if (interval_.count() <= 0) std::abort();  // REQUIRES violated: a configuration bug
}

bool CyclePacer::Due() const { return !running_ && clock_.Monotonic() >= next_start_; }

milliseconds CyclePacer::TimeUntilDue() const {
  if (running_) return duration_cast<milliseconds>(interval_);
  auto now = clock_.Monotonic();
  if (now >= next_start_) return milliseconds(0);
  // Round up so that a caller sleeping this long is never woken just before the slot.
  auto left = next_start_ - now;
  auto ms = duration_cast<milliseconds>(left);
  if (ms < left) ++ms;
  return ms;
}

bool CyclePacer::BeginCycle() {
  if (running_) {
    ++overlaps_refused_;
    return false;
  }
  auto now = clock_.Monotonic();
  running_ = true;
  cycle_start_ = now;
  // The slot that is due now is the one we run; slots older than it were missed.
  if (now >= next_start_) {
    auto late_slots = (now - next_start_) / interval_;
    skipped_ += static_cast<uint64_t>(late_slots);
    next_start_ += (late_slots + 1) * interval_;
  }
  return true;
}

void CyclePacer::EndCycle() {
  if (!running_) return;
  running_ = false;
  auto now = clock_.Monotonic();
  last_duration_ = duration_cast<milliseconds>(now - cycle_start_);
  SkipPassedSlots(now);
}

void CyclePacer::SkipPassedSlots(std::chrono::steady_clock::time_point now) {
  if (now <= next_start_) return;
  // Slots in (next_start_, now]: the cycle ran over them; the next one starts after now.
  auto passed = (now - next_start_) / interval_ + 1;
  skipped_ += static_cast<uint64_t>(passed);
  next_start_ += passed * interval_;
}

}  // namespace pgagent
