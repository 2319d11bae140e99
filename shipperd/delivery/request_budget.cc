#include "shipperd/delivery/request_budget.h"

#include <algorithm>

namespace pgagent {

namespace {
constexpr auto kWindow = std::chrono::seconds(60);
}

RequestBudget::RequestBudget(int per_minute, const Clock& clock)
    : per_minute_(per_minute < 1 ? 1 : per_minute), clock_(clock) {}

void RequestBudget::Expire() const {
  const auto now = clock_.Monotonic();
  while (!sent_.empty() && now - sent_.front() >= kWindow) sent_.pop_front();
}

int RequestBudget::Available() const {
  if (clock_.Monotonic() < paused_until_) return 0;
  Expire();
  return std::max(0, per_minute_ - static_cast<int>(sent_.size()));
}

bool RequestBudget::TryAcquire() {
  if (Available() <= 0) return false;
  sent_.push_back(clock_.Monotonic());
  ++acquired_;
  return true;
}

std::chrono::steady_clock::duration RequestBudget::WaitTime() const {
  const auto now = clock_.Monotonic();
  auto wait = std::chrono::steady_clock::duration::zero();
  if (now < paused_until_) wait = paused_until_ - now;
  Expire();
  if (static_cast<int>(sent_.size()) >= per_minute_) {
    // The oldest request that must leave the window before another fits.
    const auto& oldest = sent_[sent_.size() - static_cast<size_t>(per_minute_)];
    wait = std::max(wait, std::chrono::steady_clock::duration(oldest + kWindow - now));
  }
  return wait;
}

void RequestBudget::PauseFor(std::chrono::steady_clock::duration delay) {
  paused_until_ = std::max(paused_until_, clock_.Monotonic() + delay);
}

}  // namespace pgagent
