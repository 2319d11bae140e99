#include "common/clock.h"

#include <random>

namespace pgagent {

SystemClock& SystemClock::Instance() {
  static SystemClock clock;
  return clock;
}

int64_t MonoMs(const Clock& clock) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(clock.Monotonic().time_since_epoch())
      .count();
}

double UnixNow(const Clock& clock) {
  return std::chrono::duration<double>(clock.Now().time_since_epoch()).count();
}

double Random01() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return std::uniform_real_distribution<double>(0.0, 1.0)(rng);
}

std::function<double()> SeededRandom01(uint64_t seed) {
  return [rng = std::mt19937_64(seed)]() mutable {
    return std::uniform_real_distribution<double>(0.0, 1.0)(rng);
  };
}

}  // namespace pgagent
