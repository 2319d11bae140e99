// Remembers when a cumulative counter last grew, for "evictions / dead letters in the last
// hour" in status and /metrics. The first observation only sets the baseline: growth that
// happened before this process started is not an event of this process.
// Thread-safety: Observe() from one thread (shipperd's main loop); last_growth_unix_s() from
// any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>

namespace pgagent {

class GrowthWatch {
 public:
  void Observe(uint64_t value, double now_unix_s) {
    if (last_value_ && value > *last_value_) last_growth_unix_s_ = now_unix_s;
    last_value_ = value;
  }
  // 0 when the counter has not grown since the first observation.
  double last_growth_unix_s() const { return last_growth_unix_s_.load(); }

 private:
  std::optional<uint64_t> last_value_;
  std::atomic<double> last_growth_unix_s_{0};
};

}  // namespace pgagent
