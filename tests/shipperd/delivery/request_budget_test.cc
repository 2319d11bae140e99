#include "shipperd/delivery/request_budget.h"

#include <gtest/gtest.h>

#include <deque>
#include <map>

#include "tests/fakes/fake_clock.h"

namespace pgagent {
namespace {

using namespace std::chrono_literals;

constexpr std::array<bool, kRequestClasses> kAllWaiting = {true, true, true};
constexpr std::array<bool, kRequestClasses> kOnlyBacklog = {false, false, true};

// Sends as many requests of `c` as the budget allows now.
int Drain(RequestBudget& budget, RequestClass c, std::array<bool, kRequestClasses> waiting) {
  int sent = 0;
  while (budget.Allows(c, waiting)) {
    budget.Record(c);
    ++sent;
  }
  return sent;
}

TEST(RequestBudgetTest, AllowsUpToTheLimitWithinAMinute) {
  FakeClock clock;
  RequestBudget budget({80, 0.5, 0.25}, clock);
  EXPECT_EQ(Drain(budget, RequestClass::kBacklog, kOnlyBacklog),
            80 - RequestBudget::kIdleReserve * 2);
  EXPECT_EQ(Drain(budget, RequestClass::kCorrelation, kAllWaiting), 2 * RequestBudget::kIdleReserve);
  EXPECT_EQ(budget.Available(), 0);
  EXPECT_EQ(budget.WaitTime(), std::chrono::steady_clock::duration(60s));
  clock.Advance(60s);
  EXPECT_TRUE(budget.Allows(RequestClass::kLive, kAllWaiting));
}

TEST(RequestBudgetTest, EachWaitingKindKeepsItsShare) {
  FakeClock clock;
  RequestBudget budget({80, 0.5, 0.25}, clock);
  EXPECT_EQ(Drain(budget, RequestClass::kBacklog, kAllWaiting), 20);
  EXPECT_EQ(Drain(budget, RequestClass::kLive, kAllWaiting), 20);
  EXPECT_EQ(Drain(budget, RequestClass::kCorrelation, kAllWaiting), 40);
  EXPECT_EQ(budget.Available(), 0);
}

TEST(RequestBudgetTest, AShareLeftUnusedGoesToTheOthersBeyondASmallReserve) {
  FakeClock clock;
  RequestBudget budget({80, 0.5, 0.25}, clock);
  // Only the backlog has work: it borrows all but the idle kinds' reserves.
  EXPECT_EQ(Drain(budget, RequestClass::kBacklog, kOnlyBacklog), 70);
  // A PHP request seen now is linked at once, from the reserve.
  EXPECT_TRUE(budget.Allows(RequestClass::kCorrelation, kAllWaiting));
}

TEST(RequestBudgetTest, RetryAfterPausesEverythingForExactlyThatLong) {
  FakeClock clock;
  RequestBudget budget({80, 0.5, 0.25}, clock);
  budget.Record(RequestClass::kLive);
  budget.OnRefused(7s);
  EXPECT_FALSE(budget.Allows(RequestClass::kLive, kAllWaiting));
  EXPECT_EQ(budget.WaitTime(), std::chrono::steady_clock::duration(7s));
  clock.Advance(6999ms);
  EXPECT_FALSE(budget.Allows(RequestClass::kLive, kAllWaiting));
  clock.Advance(1ms);
  EXPECT_TRUE(budget.Allows(RequestClass::kLive, kAllWaiting));
}

TEST(RequestBudgetTest, ARefusalWithRoomLeftLowersTheLimitThenItGrowsBackEachMinute) {
  FakeClock clock;
  RequestBudget budget({80, 0.5, 0.25}, clock);
  for (int i = 0; i < 30; ++i) budget.Record(RequestClass::kBacklog);
  budget.OnRefused(1s);  // the 30th was refused: another sender shares this IP
  EXPECT_EQ(budget.effective_limit(), 29);
  clock.Advance(60s);
  EXPECT_EQ(budget.Available(), 30);  // recovered by one after a quiet minute
  clock.Advance(600s);
  EXPECT_EQ(budget.effective_limit(), 40);
}

TEST(RequestBudgetTest, NeverExceedsTheLimitInAnyMinuteOverASimulatedHourOfBacklog) {
  FakeClock clock;
  RequestBudget budget({80, 0.5, 0.25}, clock);
  std::deque<std::chrono::steady_clock::time_point> sent;
  size_t max_in_any_minute = 0, total = 0;
  for (int tick = 0; tick < 72000; ++tick) {  // asks every 50 ms for an hour
    clock.Advance(50ms);
    for (auto c : {RequestClass::kCorrelation, RequestClass::kLive, RequestClass::kBacklog}) {
      while (budget.Allows(c, kAllWaiting)) {
        budget.Record(c);
        sent.push_back(clock.Monotonic());
        ++total;
      }
    }
    while (!sent.empty() && clock.Monotonic() - sent.front() >= 60s) sent.pop_front();
    max_in_any_minute = std::max(max_in_any_minute, sent.size());
  }
  EXPECT_LE(max_in_any_minute, 80u);
  EXPECT_GE(total, 80u * 60u - 80u);  // and it uses the budget
}

TEST(RequestBudgetTest, EveryFixedListenerWindowStaysUnderItsLimit) {
  FakeClock clock;
  RequestBudget budget({80, 0.5, 0.25}, clock);
  std::map<long long, int> per_fixed_window;
  for (int tick = 0; tick < 36000; ++tick) {
    clock.Advance(100ms);
    while (budget.Allows(RequestClass::kBacklog, kAllWaiting)) {
      budget.Record(RequestClass::kBacklog);
      const auto since_epoch = clock.Now().time_since_epoch();
      ++per_fixed_window[std::chrono::duration_cast<std::chrono::seconds>(since_epoch).count() /
                         60];
    }
  }
  for (const auto& [window, count] : per_fixed_window) EXPECT_LE(count, 100) << window;
}

TEST(RequestBudgetTest, SendTimesSurviveARestartThroughTheRequestLog) {
  FakeClock clock;
  RequestBudget before({80, 0.5, 0.25}, clock);
  for (int i = 0; i < 80; ++i) before.Record(RequestClass::kBacklog);
  const std::vector<int64_t> saved = before.SentUnixMs();
  clock.Advance(20s);
  RequestBudget after({80, 0.5, 0.25}, clock);
  after.Restore(saved);
  EXPECT_EQ(after.Available(), 0);
  EXPECT_EQ(after.WaitTime(), std::chrono::steady_clock::duration(40s));
  clock.Advance(40s);
  EXPECT_EQ(after.Available(), 80);
}

}  // namespace
}  // namespace pgagent
