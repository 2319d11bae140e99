#include "shipperd/delivery/request_budget.h"

#include <algorithm>
#include <cmath>

namespace pgagent {

namespace {
constexpr auto kWindow = std::chrono::seconds(60);

int Clamp1(int v) { return v < 1 ? 1 : v; }
}  // namespace

const char* RequestClassName(RequestClass c) {
  switch (c) {
    case RequestClass::kCorrelation: return "correlation";
    case RequestClass::kLive: return "live";
    case RequestClass::kBacklog: return "backlog";
  }
  return "unknown";
}

RequestBudget::RequestBudget(BudgetOptions options, const Clock& clock)
    : options_(options), clock_(clock), effective_limit_(Clamp1(options.per_minute)) {
  last_adjust_ = clock_.Monotonic();
}

void RequestBudget::set_options(const BudgetOptions& options) {
  options_ = options;
  effective_limit_ = std::min(effective_limit_, Clamp1(options.per_minute));
  if (effective_limit_ < 1) effective_limit_ = 1;
}

void RequestBudget::Expire() const {
  const auto now = clock_.Monotonic();
  while (!sent_.empty() && now - sent_.front().at >= kWindow) sent_.pop_front();
}

void RequestBudget::Recover() const {
  const auto now = clock_.Monotonic();
  const int limit = Clamp1(options_.per_minute);
  while (effective_limit_ < limit && now - last_adjust_ >= kWindow) {
    ++effective_limit_;
    last_adjust_ += kWindow;
  }
  if (effective_limit_ >= limit) {
    effective_limit_ = limit;
    last_adjust_ = now;
  }
}

int RequestBudget::Share(RequestClass c) const {
  const double limit = effective_limit_;
  const double corr = std::clamp(options_.correlation_share, 0.0, 1.0);
  const double live = std::clamp(options_.live_share, 0.0, 1.0 - corr);
  switch (c) {
    case RequestClass::kCorrelation: return static_cast<int>(std::floor(limit * corr));
    case RequestClass::kLive: return static_cast<int>(std::floor(limit * live));
    case RequestClass::kBacklog:
      return effective_limit_ - static_cast<int>(std::floor(limit * corr)) -
             static_cast<int>(std::floor(limit * live));
  }
  return 0;
}

int RequestBudget::SentInWindow() const {
  Expire();
  return static_cast<int>(sent_.size());
}

int RequestBudget::SentInWindow(RequestClass c) const {
  Expire();
  return static_cast<int>(
      std::count_if(sent_.begin(), sent_.end(), [c](const Sent& s) { return s.c == c; }));
}

int RequestBudget::Available() const {
  if (clock_.Monotonic() < paused_until_) return 0;
  Recover();
  return std::max(0, effective_limit_ - SentInWindow());
}

bool RequestBudget::Allows(RequestClass c,
                           const std::array<bool, kRequestClasses>& waiting) const {
  if (Available() <= 0) return false;
  const int used = SentInWindow();
  if (SentInWindow(c) < Share(c)) return true;
  int reserved = 0;
  for (size_t i = 0; i < kRequestClasses; ++i) {
    const auto other = static_cast<RequestClass>(i);
    if (other == c) continue;
    const int left = std::max(0, Share(other) - SentInWindow(other));
    if (waiting[i]) {
      reserved += left;
    } else if (other != RequestClass::kBacklog) {
      reserved += std::min(left, kIdleReserve);
    }
  }
  return used + reserved < effective_limit_;
}

void RequestBudget::Record(RequestClass c) {
  Expire();
  sent_.push_back({clock_.Monotonic(), c});
  ++acquired_;
}

std::chrono::steady_clock::duration RequestBudget::WaitTime() const {
  const auto now = clock_.Monotonic();
  auto wait = std::chrono::steady_clock::duration::zero();
  if (now < paused_until_) wait = paused_until_ - now;
  Recover();
  Expire();
  if (static_cast<int>(sent_.size()) >= effective_limit_) {
    // The oldest request that must leave the window before another fits.
    const auto& oldest = sent_[sent_.size() - static_cast<size_t>(effective_limit_)];
    wait = std::max(wait, std::chrono::steady_clock::duration(oldest.at + kWindow - now));
  }
  return wait;
}

void RequestBudget::OnRefused(std::chrono::steady_clock::duration retry_after) {
  const auto now = clock_.Monotonic();
  paused_until_ = std::max(paused_until_, now + retry_after);
  // The refused request is in the log already (Record() came first).
  const int sent = SentInWindow();
  if (sent <= effective_limit_) {
    effective_limit_ = std::max(std::min(kMinAdaptedLimit, Clamp1(options_.per_minute)),
                                sent - 1);
    last_adjust_ = now;
  }
}

std::vector<int64_t> RequestBudget::SentUnixMs() const {
  Expire();
  const auto now_mono = clock_.Monotonic();
  const auto now_wall = clock_.Now();
  std::vector<int64_t> out;
  out.reserve(sent_.size());
  for (const Sent& s : sent_) {
    const auto wall = now_wall - std::chrono::duration_cast<std::chrono::system_clock::duration>(
                                     now_mono - s.at);
    out.push_back(
        std::chrono::duration_cast<std::chrono::milliseconds>(wall.time_since_epoch()).count());
  }
  return out;
}

void RequestBudget::Restore(const std::vector<int64_t>& sent_unix_ms) {
  const auto now_mono = clock_.Monotonic();
  const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             clock_.Now().time_since_epoch())
                             .count();
  std::vector<int64_t> sorted = sent_unix_ms;
  std::sort(sorted.begin(), sorted.end());
  for (int64_t ms : sorted) {
    const int64_t age_ms = std::max<int64_t>(0, now_ms - ms);
    if (age_ms >= 60000) continue;
    // Restored sends count as backlog: they use the budget, not a kind's share.
    sent_.push_back({now_mono - std::chrono::milliseconds(age_ms), RequestClass::kBacklog});
  }
}

}  // namespace pgagent
