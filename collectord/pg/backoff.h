// Capped exponential backoff with jitter for reconnecting to PostgreSQL. A plain value
// class fed by its owner (PgConnection); time comes from the caller, randomness from a
// seeded generator so that tests are deterministic.
// Thread-safety: not thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <random>

namespace pgagent {

struct BackoffOptions {
  std::chrono::milliseconds initial{1000};
  std::chrono::milliseconds max{60000};
  double multiplier = 2.0;
  // Each delay is reduced by a random share in [0, jitter) so that many agents restarted
  // together do not reconnect in lockstep; a delay never exceeds `max`.
  double jitter = 0.2;
};

class Backoff {
 public:
  explicit Backoff(BackoffOptions options, uint64_t seed = std::random_device{}());

  // The delay before the next attempt; grows by `multiplier` per call up to `max`.
  std::chrono::milliseconds NextDelay();
  // After a success: the next failure starts again at `initial`.
  void Reset();
  // Failed attempts since the last Reset().
  uint32_t attempts() const { return attempts_; }

 private:
  BackoffOptions options_;
  std::mt19937_64 rng_;
  double current_ms_;
  uint32_t attempts_ = 0;
};

}  // namespace pgagent
