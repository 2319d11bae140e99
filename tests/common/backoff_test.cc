#include "common/backoff.h"

#include <gtest/gtest.h>

#include "common/clock.h"

namespace pgagent {
namespace {

using std::chrono::milliseconds;

TEST(BackoffTest, DelaysGrowExponentiallyWithoutJitter) {
  Backoff b({milliseconds(100), milliseconds(10000), 2.0, 0.0}, SeededRandom01(1));
  EXPECT_EQ(b.NextDelay(), milliseconds(100));
  EXPECT_EQ(b.NextDelay(), milliseconds(200));
  EXPECT_EQ(b.NextDelay(), milliseconds(400));
  EXPECT_EQ(b.attempts(), 3u);
}

TEST(BackoffTest, DelaysAreCappedAtMax) {
  Backoff b({milliseconds(1000), milliseconds(5000), 3.0, 0.0}, SeededRandom01(1));
  for (int i = 0; i < 10; ++i) b.NextDelay();
  EXPECT_EQ(b.NextDelay(), milliseconds(5000));
}

TEST(BackoffTest, JitterStaysWithinItsShareAndNeverExceedsTheBase) {
  Backoff b({milliseconds(1000), milliseconds(1000), 2.0, 0.25}, SeededRandom01(42));
  bool saw_reduced = false;
  for (int i = 0; i < 200; ++i) {
    auto d = b.NextDelay();
    EXPECT_LE(d, milliseconds(1000));
    EXPECT_GE(d, milliseconds(750));
    saw_reduced |= d < milliseconds(999);
  }
  EXPECT_TRUE(saw_reduced);
}

TEST(BackoffTest, SameSeedGivesSameDelays) {
  Backoff a({milliseconds(100), milliseconds(60000), 2.0, 0.5}, SeededRandom01(7));
  Backoff b({milliseconds(100), milliseconds(60000), 2.0, 0.5}, SeededRandom01(7));
  for (int i = 0; i < 10; ++i) EXPECT_EQ(a.NextDelay(), b.NextDelay());
}

TEST(BackoffTest, ResetStartsAgainAtInitial) {
  Backoff b({milliseconds(100), milliseconds(10000), 2.0, 0.0}, SeededRandom01(1));
  b.NextDelay();
  b.NextDelay();
  b.Reset();
  EXPECT_EQ(b.attempts(), 0u);
  EXPECT_EQ(b.NextDelay(), milliseconds(100));
}

TEST(BackoffTest, WithoutJitterNoRandomSourceIsNeeded) {
  Backoff b({milliseconds(500), milliseconds(2000), 2.0, 0.0}, nullptr);
  EXPECT_EQ(b.NextDelay(), milliseconds(500));
  EXPECT_EQ(b.NextDelay(), milliseconds(1000));
  EXPECT_EQ(b.NextDelay(), milliseconds(2000));
  EXPECT_EQ(b.NextDelay(), milliseconds(2000));
}

TEST(BackoffTest, DelayDoesNotGrowUntilGrowIsCalled) {
  Backoff b({milliseconds(100), milliseconds(1000), 2.0, 0.0}, nullptr);
  EXPECT_EQ(b.Delay(), milliseconds(100));
  EXPECT_EQ(b.Delay(), milliseconds(100));
  b.Grow();
  EXPECT_EQ(b.Delay(), milliseconds(200));
  EXPECT_EQ(b.attempts(), 1u);
}

TEST(BackoffTest, JitterAroundSpreadsBothWaysButNeverPastMax) {
  double u = 0.0;
  BackoffOptions o{milliseconds(1000), milliseconds(1100), 2.0, 0.2, BackoffJitter::kAround};
  Backoff b(o, [&u] { return u; });
  EXPECT_EQ(b.Delay(), milliseconds(800));  // -20%
  u = 0.5;
  EXPECT_EQ(b.Delay(), milliseconds(1000));
  u = 0.999;
  EXPECT_EQ(b.Delay(), milliseconds(1100));  // +20% would be 1199.6: capped
}

}  // namespace
}  // namespace pgagent
