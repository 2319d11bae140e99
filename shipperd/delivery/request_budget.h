// Keeps shipperd under the listener's rate limit: never more than `per_minute` requests in
// any 60 s span (a sliding log of send times, which also keeps every fixed 60 s window of
// the listener under the limit), and nothing at all until a 429's Retry-After has passed.
// Thread-safety: not thread-safe; owned by the Dispatcher's thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>

#include "common/clock.h"

namespace pgagent {

class RequestBudget {
 public:
  // REQUIRES: per_minute >= 1; clock outlives the budget.
  RequestBudget(int per_minute, const Clock& clock);

  // Records a request now and returns true when one is allowed; false otherwise.
  bool TryAcquire();
  // Requests that could be sent right now without waiting.
  int Available() const;
  // How long until the next request is allowed (zero when allowed now).
  std::chrono::steady_clock::duration WaitTime() const;
  // 429 Retry-After: no request until now + delay.
  void PauseFor(std::chrono::steady_clock::duration delay);
  void set_per_minute(int per_minute) { per_minute_ = per_minute < 1 ? 1 : per_minute; }
  uint64_t acquired() const { return acquired_; }

 private:
  void Expire() const;

  int per_minute_;
  const Clock& clock_;
  mutable std::deque<std::chrono::steady_clock::time_point> sent_;
  std::chrono::steady_clock::time_point paused_until_{};
  uint64_t acquired_ = 0;
};

}  // namespace pgagent
