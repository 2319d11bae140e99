#include "collectord/system/burst_controller.h"

#include <algorithm>

namespace pgagent::system {
namespace {

constexpr std::chrono::seconds kCapWindow(60);

}  // namespace

BurstController::BurstController(BurstOptions options, const Clock& clock)
    : options_(options), clock_(clock) {
  using std::chrono::milliseconds;
  options_.normal_interval = std::max(options_.normal_interval, milliseconds(1000));
  options_.burst_interval =
      std::clamp(options_.burst_interval, milliseconds(1000), options_.normal_interval);
  options_.hold_down = std::max(options_.hold_down, milliseconds(0));
  options_.max_burst_samples_per_minute =
      std::max<uint32_t>(1, options_.max_burst_samples_per_minute);
}

bool BurstController::Above(const LoadSignal& signal) const {
  const bool load_above = options_.load_per_core_threshold > 0 &&
                          signal.load_per_core.has_value() &&
                          *signal.load_per_core > options_.load_per_core_threshold;
  const bool psi_above = options_.psi_cpu_some_avg10_threshold > 0 &&
                         signal.psi_cpu_some_avg10.has_value() &&
                         *signal.psi_cpu_some_avg10 > options_.psi_cpu_some_avg10_threshold;
  return load_above || psi_above;
}

bool BurstController::Observe(const LoadSignal& signal) {
  const auto now = clock_.Monotonic();
  if (Above(signal)) {
    if (!in_burst_) ++stats_.bursts_started;
    in_burst_ = true;
    calm_since_.reset();
    return true;
  }
  if (!in_burst_) return false;
  if (!calm_since_.has_value()) calm_since_ = now;
  if (now - *calm_since_ >= options_.hold_down) {
    in_burst_ = false;
    calm_since_.reset();
  }
  return in_burst_;
}

void BurstController::PruneWindow(std::chrono::steady_clock::time_point now) {
  while (!burst_samples_.empty() && now - burst_samples_.front() >= kCapWindow) {
    burst_samples_.pop_front();
  }
}

bool BurstController::OnSample() {
  if (!in_burst_) return false;
  const auto now = clock_.Monotonic();
  PruneWindow(now);
  // Over the cap only when the caller ignored NextDelay(): then this is an ordinary sample.
  if (burst_samples_.size() >= options_.max_burst_samples_per_minute) return false;
  burst_samples_.push_back(now);
  ++stats_.burst_samples;
  return true;
}

std::chrono::milliseconds BurstController::NextDelay() {
  if (!in_burst_) return options_.normal_interval;
  const auto now = clock_.Monotonic();
  PruneWindow(now);
  const auto next = now + options_.burst_interval;
  if (burst_samples_.size() < options_.max_burst_samples_per_minute) {
    return options_.burst_interval;
  }
  // Cap reached: wait until the oldest sample of the window leaves it, so that the sample
  // taken then is a burst sample again.
  const auto slot_free = burst_samples_.front() + kCapWindow;
  if (slot_free <= next) return options_.burst_interval;
  ++stats_.capped_delays;
  const auto wait = std::chrono::ceil<std::chrono::milliseconds>(slot_free - now);
  return std::min(wait, options_.normal_interval);
}

}  // namespace pgagent::system
