// The helpers next to Clock: millisecond and Unix-seconds readings of a Clock, and the random
// sources behind every jitter.
#include "common/clock.h"

#include <gtest/gtest.h>

#include "tests/fakes/fake_clock.h"

namespace pgagent {
namespace {

using namespace std::chrono_literals;

TEST(ClockHelpersTest, MonoMsFollowsTheMonotonicClockInMilliseconds) {
  FakeClock clock;
  const int64_t before = MonoMs(clock);
  clock.Advance(1500ms);
  EXPECT_EQ(MonoMs(clock) - before, 1500);
}

TEST(ClockHelpersTest, UnixNowIsTheWallClockInSeconds) {
  FakeClock clock;
  EXPECT_DOUBLE_EQ(UnixNow(clock), 1767225600.0);
  clock.Advance(250ms);
  EXPECT_DOUBLE_EQ(UnixNow(clock), 1767225600.25);
}

TEST(ClockHelpersTest, RandomSourcesStayInTheUnitInterval) {
  auto seeded = SeededRandom01(3);
  for (int i = 0; i < 1000; ++i) {
    const double a = Random01();
    const double b = seeded();
    EXPECT_GE(a, 0.0);
    EXPECT_LT(a, 1.0);
    EXPECT_GE(b, 0.0);
    EXPECT_LT(b, 1.0);
  }
}

TEST(ClockHelpersTest, TheSameSeedGivesTheSameSequence) {
  auto a = SeededRandom01(7);
  auto b = SeededRandom01(7);
  auto c = SeededRandom01(8);
  bool differs = false;
  for (int i = 0; i < 10; ++i) {
    const double x = a();
    EXPECT_EQ(x, b());
    differs |= x != c();
  }
  EXPECT_TRUE(differs);
}

}  // namespace
}  // namespace pgagent
