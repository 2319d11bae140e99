// Wall time for timestamps, monotonic time for intervals and cooldowns. Every class that
// measures time takes a Clock& so that tests can use FakeClock (tests/fakes/fake_clock.h)
// instead of sleeping.
// Thread-safety: implementations are safe to call from any thread.
#pragma once

#include <chrono>

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

}  // namespace pgagent
