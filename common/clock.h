// Wall time for timestamps, monotonic time for intervals and cooldowns. Every class that
// measures time takes a Clock& so that tests can use FakeClock (tests/fakes/fake_clock.h)
// instead of sleeping.
// Thread-safety: implementations are safe to call from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>

namespace pgagent {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual std::chrono::system_clock::time_point Now() const = 0;
  virtual std::chrono::steady_clock::time_point Monotonic() const = 0;
};

// The process's real clocks.
class SystemClock final : public Clock {
 public:
  std::chrono::system_clock::time_point Now() const override {
    return std::chrono::system_clock::now();
  }
  std::chrono::steady_clock::time_point Monotonic() const override {
    return std::chrono::steady_clock::now();
  }
  // A process-wide instance; it has no state, so sharing it is free.
  static SystemClock& Instance();
};

// The clock's monotonic time in milliseconds (arbitrary origin), for timestamps kept in atomics
// (the daemons' heartbeats).
int64_t MonoMs(const Clock& clock);
// The clock's wall time in seconds since the Unix epoch.
double UnixNow(const Clock& clock);

// The random source behind every jitter (Backoff, CircuitBreaker): a uniform number in [0, 1)
// from a per-thread generator seeded from std::random_device. Thread-safe.
double Random01();
// A deterministic source of the same distribution, for tests and seeded callers. The returned
// function is not thread-safe (it owns its generator).
std::function<double()> SeededRandom01(uint64_t seed);

}  // namespace pgagent
