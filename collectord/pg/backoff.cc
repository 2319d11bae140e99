#include "collectord/pg/backoff.h"

#include <algorithm>

namespace pgagent {

Backoff::Backoff(BackoffOptions options, uint64_t seed)
    : options_(options), rng_(seed), current_ms_(static_cast<double>(options.initial.count())) {
  if (options_.multiplier < 1.0) options_.multiplier = 1.0;
  options_.jitter = std::clamp(options_.jitter, 0.0, 1.0);
  if (options_.max < options_.initial) options_.max = options_.initial;
}

std::chrono::milliseconds Backoff::NextDelay() {
  double base = std::min(current_ms_, static_cast<double>(options_.max.count()));
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  double delay = base * (1.0 - options_.jitter * unit(rng_));
  current_ms_ =
      std::min(current_ms_ * options_.multiplier, static_cast<double>(options_.max.count()));
  ++attempts_;
  return std::chrono::milliseconds(static_cast<int64_t>(delay));
}

void Backoff::Reset() {
  current_ms_ = static_cast<double>(options_.initial.count());
  attempts_ = 0;
}

}  // namespace pgagent
