#include "common/backoff.h"

#include <algorithm>

namespace pgagent {

Backoff::Backoff(BackoffOptions options, std::function<double()> random01)
    : options_(options),
      random01_(std::move(random01)),
      current_ms_(static_cast<double>(options.initial.count())) {
  if (options_.multiplier < 1.0) options_.multiplier = 1.0;
  options_.jitter = std::clamp(options_.jitter, 0.0, 1.0);
  if (!random01_) options_.jitter = 0.0;
  if (options_.max < options_.initial) options_.max = options_.initial;
}

std::chrono::milliseconds Backoff::NextDelay() {
  const auto delay = std::chrono::duration_cast<std::chrono::milliseconds>(Delay());
  Grow();
  return delay;
}

std::chrono::steady_clock::duration Backoff::Delay() {
  const double max_ms = static_cast<double>(options_.max.count());
  const double base = std::min(current_ms_, max_ms);
  double factor = 1.0;
  if (options_.jitter > 0.0) {
    const double u = random01_();
    factor = options_.jitter_mode == BackoffJitter::kBelow
                 ? 1.0 - options_.jitter * u
                 : std::max(0.0, 1.0 + options_.jitter * (2.0 * u - 1.0));
  }
  const std::chrono::duration<double, std::milli> delay(std::min(base * factor, max_ms));
  return std::chrono::duration_cast<std::chrono::steady_clock::duration>(delay);
}

void Backoff::Grow() {
  current_ms_ =
      std::min(current_ms_ * options_.multiplier, static_cast<double>(options_.max.count()));
  ++attempts_;
}

void Backoff::Reset() {
  current_ms_ = static_cast<double>(options_.initial.count());
  attempts_ = 0;
}

}  // namespace pgagent
