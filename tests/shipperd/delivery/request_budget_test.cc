#include "shipperd/delivery/request_budget.h"

#include <gtest/gtest.h>

#include <deque>

#include "tests/fakes/fake_clock.h"

namespace pgagent {
namespace {

using namespace std::chrono_literals;

TEST(RequestBudgetTest, AllowsUpToTheLimitWithinAMinute) {
  FakeClock clock;
  RequestBudget budget(80, clock);
  for (int i = 0; i < 80; ++i) ASSERT_TRUE(budget.TryAcquire()) << i;
  EXPECT_FALSE(budget.TryAcquire());
  EXPECT_EQ(budget.Available(), 0);
  EXPECT_EQ(budget.WaitTime(), std::chrono::steady_clock::duration(60s));
  clock.Advance(60s);
  EXPECT_TRUE(budget.TryAcquire());
}

TEST(RequestBudgetTest, RetryAfterPausesEverythingForExactlyThatLong) {
  FakeClock clock;
  RequestBudget budget(80, clock);
  budget.PauseFor(7s);
  EXPECT_FALSE(budget.TryAcquire());
  EXPECT_EQ(budget.WaitTime(), std::chrono::steady_clock::duration(7s));
  clock.Advance(6999ms);
  EXPECT_FALSE(budget.TryAcquire());
  clock.Advance(1ms);
  EXPECT_TRUE(budget.TryAcquire());
}

TEST(RequestBudgetTest, NeverExceedsTheLimitInAnyMinuteOverASimulatedHourOfBacklog) {
  FakeClock clock;
  RequestBudget budget(80, clock);
  std::deque<std::chrono::steady_clock::time_point> sent;
  size_t max_in_any_minute = 0;
  size_t total = 0;
  // A sender with an endless backlog that asks every 50 ms for an hour.
  for (int tick = 0; tick < 72000; ++tick) {
    clock.Advance(50ms);
    while (budget.TryAcquire()) {
      sent.push_back(clock.Monotonic());
      ++total;
    }
    while (!sent.empty() && clock.Monotonic() - sent.front() >= 60s) sent.pop_front();
    max_in_any_minute = std::max(max_in_any_minute, sent.size());
  }
  EXPECT_LE(max_in_any_minute, 80u);
  // And it uses the budget: 60 minutes x 80.
  EXPECT_GE(total, 80u * 60u - 80u);
  EXPECT_LE(total, 80u * 61u);
}

TEST(RequestBudgetTest, EveryFixedListenerWindowStaysUnderItsLimit) {
  FakeClock clock;
  RequestBudget budget(80, clock);
  std::map<long long, int> per_fixed_window;
  for (int tick = 0; tick < 36000; ++tick) {
    clock.Advance(100ms);
    while (budget.TryAcquire()) {
      const auto since_epoch = clock.Now().time_since_epoch();
      ++per_fixed_window[std::chrono::duration_cast<std::chrono::seconds>(since_epoch).count() / 60];
    }
  }
  for (const auto& [window, count] : per_fixed_window) EXPECT_LE(count, 100) << window;
}

}  // namespace
}  // namespace pgagent
