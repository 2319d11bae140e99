// Circuit breaker for listener delivery: a plain state machine fed outcomes and a Clock
// (STYLE.md section 5); the Dispatcher owns the loop that consults it.
//
//   closed --N consecutive transient failures--> open --cooldown--> half-open
//   half-open --probe succeeds--> closed;  half-open --probe fails--> open (cooldown x2)
// Cooldown starts at `cooldown`, doubles per failed probe up to `max_cooldown`, and is
// jittered by +-jitter so that many agents do not probe in lockstep (the jittered cooldown
// never exceeds max_cooldown). The defaults (5 s doubling to 30 s) probe a listener that is
// back within seconds of its return, at a cost of at most 2 requests per minute while it
// is down. An authentication
// failure (401/403) opens the breaker at once: nothing will succeed until the key is fixed.
// 429 is backpressure, not failure: it is handled by RequestBudget and never reaches here.
// Thread-safety: not thread-safe; owned by the Dispatcher's thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string_view>

#include "common/backoff.h"
#include "common/clock.h"

namespace pgagent {

struct BreakerOptions {
  int failure_threshold = 5;
  std::chrono::milliseconds cooldown{5000};
  std::chrono::milliseconds max_cooldown{30000};
  // Fraction of the cooldown added or removed at random (0.2 -> +-20%).
  double jitter = 0.2;
};

enum class BreakerState { kClosed, kOpen, kHalfOpen };
std::string_view BreakerStateName(BreakerState state);  // "closed", "open", "half_open"

class CircuitBreaker {
 public:
  // random01 returns a uniform number in [0, 1) (injectable for tests).
  // REQUIRES: clock outlives the breaker.
  CircuitBreaker(BreakerOptions options, const Clock& clock, std::function<double()> random01);

  // True when a request may be sent now. In open state, the first call after the cooldown
  // moves to half-open and allows exactly one probe; further calls return false until the
  // probe's outcome is reported.
  bool AllowRequest();
  void OnSuccess();
  // Connect errors, timeouts, 5xx, 408.
  void OnTransientFailure();
  // 401/403: open now with the current cooldown.
  void OnAuthFailure();

  BreakerState state() const { return state_; }
  // Time left until a probe is allowed (zero unless open).
  std::chrono::steady_clock::duration RemainingCooldown() const;
  uint64_t opens() const { return opens_; }
  int consecutive_failures() const { return failures_; }

 private:
  void Open();

  BreakerOptions options_;
  const Clock& clock_;
  BreakerState state_ = BreakerState::kClosed;
  int failures_ = 0;
  bool probe_in_flight_ = false;
  Backoff cooldown_;  // grows per failed probe, jittered around its value
  std::chrono::steady_clock::time_point open_until_{};
  uint64_t opens_ = 0;
};

}  // namespace pgagent
