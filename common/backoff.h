// The one capped exponential backoff with jitter: PostgreSQL reconnects (PgConnection), log
// file retries (FileTailer) and the delivery breaker's cooldown (CircuitBreaker). A plain
// value class fed by its owner: time comes from the caller's Clock, randomness from an
// injected source (Random01 in production, SeededRandom01 or a fixed value in tests), so
// every delay is deterministic under test.
// Thread-safety: not thread-safe; owned by one thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>

namespace pgagent {

// How a delay is jittered by a random share `jitter` of it.
enum class BackoffJitter {
  kBelow,   // in (delay * (1 - jitter), delay]: never later than the undisturbed delay
  kAround,  // in [delay * (1 - jitter), delay * (1 + jitter)), never past `max`
};

struct BackoffOptions {
  std::chrono::milliseconds initial{1000};
  std::chrono::milliseconds max{60000};
  double multiplier = 2.0;
  // The random share of each delay, so that many agents restarted together do not retry in
  // lockstep; 0 disables jitter. A delay never exceeds `max`.
  double jitter = 0.2;
  BackoffJitter jitter_mode = BackoffJitter::kBelow;
};

class Backoff {
 public:
  // random01 returns a uniform number in [0, 1); it may be empty when options.jitter is 0.
  Backoff(BackoffOptions options, std::function<double()> random01);

  // The delay before the next attempt, then grows: Delay() followed by Grow().
  std::chrono::milliseconds NextDelay();
  // The current delay, jittered, without growing (the breaker reopens with it after an
  // authentication failure).
  std::chrono::steady_clock::duration Delay();
  // Multiplies the current delay by `multiplier`, up to `max`; counts one attempt.
  void Grow();
  // After a success: the next failure starts again at `initial`.
  void Reset();
  // Failed attempts (Grow() calls) since the last Reset().
  uint32_t attempts() const { return attempts_; }

 private:
  BackoffOptions options_;
  std::function<double()> random01_;
  double current_ms_;
  uint32_t attempts_ = 0;
};

}  // namespace pgagent
