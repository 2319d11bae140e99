// A Clock that moves only when told to. Thread-safe (atomics), so a test thread may
// Advance() while the unit under test reads it.
#pragma once

#include <atomic>
#include <chrono>

#include "common/clock.h"

namespace pgagent {

class FakeClock final : public Clock {
 public:
  // Starts at 2026-01-01T00:00:00Z wall time and an arbitrary monotonic origin.
  FakeClock() : wall_ns_(1767225600LL * 1000000000LL), mono_ns_(1000000000LL) {}

  std::chrono::system_clock::time_point Now() const override {
    return std::chrono::system_clock::time_point(
        std::chrono::duration_cast<std::chrono::system_clock::duration>(
            std::chrono::nanoseconds(wall_ns_.load())));
  }
  std::chrono::steady_clock::time_point Monotonic() const override {
    return std::chrono::steady_clock::time_point(
        std::chrono::duration_cast<std::chrono::steady_clock::duration>(
            std::chrono::nanoseconds(mono_ns_.load())));
  }

  // Moves both clocks forward by d.
  template <typename Rep, typename Period>
  void Advance(std::chrono::duration<Rep, Period> d) {
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
    wall_ns_ += ns;
    mono_ns_ += ns;
  }
  // Sets wall time only (monotonic time never jumps).
  void SetWall(std::chrono::system_clock::time_point t) {
    wall_ns_ = std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  }

 private:
  std::atomic<long long> wall_ns_;
  std::atomic<long long> mono_ns_;
};

}  // namespace pgagent
