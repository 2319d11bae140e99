#include "shipperd/delivery/circuit_breaker.h"

#include <algorithm>

namespace pgagent {

std::string_view BreakerStateName(BreakerState state) {
  switch (state) {
    case BreakerState::kClosed: return "closed";
    case BreakerState::kOpen: return "open";
    case BreakerState::kHalfOpen: return "half_open";
  }
  return "closed";
}

CircuitBreaker::CircuitBreaker(BreakerOptions options, const Clock& clock,
                               std::function<double()> random01)
    : options_(options),
      clock_(clock),
      random01_(std::move(random01)),
      next_cooldown_(options.cooldown) {}

bool CircuitBreaker::AllowRequest() {
  switch (state_) {
    case BreakerState::kClosed:
      return true;
    case BreakerState::kOpen:
      if (clock_.Monotonic() < open_until_) return false;
      state_ = BreakerState::kHalfOpen;
      probe_in_flight_ = true;
      return true;
    case BreakerState::kHalfOpen:
      if (probe_in_flight_) return false;
      probe_in_flight_ = true;
      return true;
  }
  return false;
}

void CircuitBreaker::OnSuccess() {
  state_ = BreakerState::kClosed;
  failures_ = 0;
  probe_in_flight_ = false;
  next_cooldown_ = options_.cooldown;
}

void CircuitBreaker::OnTransientFailure() {
  ++failures_;
  if (state_ == BreakerState::kHalfOpen) {
    next_cooldown_ = std::min(next_cooldown_ * 2, options_.max_cooldown);
    Open();
    return;
  }
  if (state_ == BreakerState::kClosed && failures_ >= options_.failure_threshold) Open();
}

void CircuitBreaker::OnAuthFailure() {
  ++failures_;
  if (state_ == BreakerState::kHalfOpen) {
    next_cooldown_ = std::min(next_cooldown_ * 2, options_.max_cooldown);
  }
  Open();
}

void CircuitBreaker::Open() {
  state_ = BreakerState::kOpen;
  probe_in_flight_ = false;
  ++opens_;
  const double factor = 1.0 + options_.jitter * (2.0 * random01_() - 1.0);
  // Jitter spreads probes but never past the configured maximum.
  const auto cooldown = std::min(
      std::chrono::duration_cast<std::chrono::steady_clock::duration>(
          next_cooldown_ * std::max(0.0, factor)),
      std::chrono::duration_cast<std::chrono::steady_clock::duration>(options_.max_cooldown));
  open_until_ = clock_.Monotonic() + cooldown;
}

std::chrono::steady_clock::duration CircuitBreaker::RemainingCooldown() const {
  if (state_ != BreakerState::kOpen) return std::chrono::steady_clock::duration::zero();
  const auto now = clock_.Monotonic();
  return now >= open_until_ ? std::chrono::steady_clock::duration::zero() : open_until_ - now;
}

}  // namespace pgagent
