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
      cooldown_(BackoffOptions{options.cooldown, options.max_cooldown, 2.0, options.jitter,
                               BackoffJitter::kAround},
                std::move(random01)) {}

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
  cooldown_.Reset();
}

void CircuitBreaker::OnTransientFailure() {
  ++failures_;
  if (state_ == BreakerState::kHalfOpen) {
    cooldown_.Grow();
    Open();
    return;
  }
  if (state_ == BreakerState::kClosed && failures_ >= options_.failure_threshold) Open();
}

void CircuitBreaker::OnAuthFailure() {
  ++failures_;
  if (state_ == BreakerState::kHalfOpen) cooldown_.Grow();
  Open();
}

void CircuitBreaker::Open() {
  state_ = BreakerState::kOpen;
  probe_in_flight_ = false;
  ++opens_;
  // Jitter spreads probes but never past the configured maximum.
  open_until_ = clock_.Monotonic() + cooldown_.Delay();
}

std::chrono::steady_clock::duration CircuitBreaker::RemainingCooldown() const {
  if (state_ != BreakerState::kOpen) return std::chrono::steady_clock::duration::zero();
  const auto now = clock_.Monotonic();
  return now >= open_until_ ? std::chrono::steady_clock::duration::zero() : open_until_ - now;
}

}  // namespace pgagent
