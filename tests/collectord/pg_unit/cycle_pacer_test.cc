#include "collectord/pg/cycle_pacer.h"

#include <gtest/gtest.h>

#include "tests/fakes/fake_clock.h"

namespace pgagent {
namespace {

using namespace std::chrono_literals;

class CyclePacerTest : public ::testing::Test {
 protected:
  FakeClock clock_;
  CyclePacer pacer_{clock_, 60s};
};

TEST_F(CyclePacerTest, FirstCycleIsDueImmediately) {
  EXPECT_TRUE(pacer_.Due());
  EXPECT_EQ(pacer_.TimeUntilDue(), 0ms);
}

TEST_F(CyclePacerTest, IntervalCompensatesForCycleDuration) {
  ASSERT_TRUE(pacer_.BeginCycle());
  clock_.Advance(10s);
  pacer_.EndCycle();
  EXPECT_EQ(pacer_.last_duration(), 10s);
  EXPECT_FALSE(pacer_.Due());
  EXPECT_EQ(pacer_.TimeUntilDue(), 50s);
  clock_.Advance(50s);
  EXPECT_TRUE(pacer_.Due());
  EXPECT_EQ(pacer_.skipped(), 0u);
}

TEST_F(CyclePacerTest, NeverOverlapsARunningCycle) {
  ASSERT_TRUE(pacer_.BeginCycle());
  clock_.Advance(61s);
  EXPECT_FALSE(pacer_.Due());
  EXPECT_FALSE(pacer_.BeginCycle());
  EXPECT_EQ(pacer_.overlaps_refused(), 1u);
}

TEST_F(CyclePacerTest, SlotThatPassedDuringALongCycleIsSkippedAndCounted) {
  ASSERT_TRUE(pacer_.BeginCycle());
  clock_.Advance(70s);
  pacer_.EndCycle();
  EXPECT_EQ(pacer_.skipped(), 1u);
  // Next slot is at 120 s from the start: 50 s from now.
  EXPECT_EQ(pacer_.TimeUntilDue(), 50s);
}

TEST_F(CyclePacerTest, CycleEndingExactlyOnTheSlotSkipsNothing) {
  ASSERT_TRUE(pacer_.BeginCycle());
  clock_.Advance(60s);
  pacer_.EndCycle();
  EXPECT_EQ(pacer_.skipped(), 0u);
  EXPECT_TRUE(pacer_.Due());
}

TEST_F(CyclePacerTest, LateWakeUpSkipsMissedSlotsButRunsTheCurrentOne) {
  ASSERT_TRUE(pacer_.BeginCycle());
  clock_.Advance(1s);
  pacer_.EndCycle();
  clock_.Advance(59s + 130s);  // slots at 60 s and 120 s missed, 180 s is current
  EXPECT_TRUE(pacer_.Due());
  ASSERT_TRUE(pacer_.BeginCycle());
  EXPECT_EQ(pacer_.skipped(), 2u);
  clock_.Advance(1s);
  pacer_.EndCycle();
  EXPECT_EQ(pacer_.TimeUntilDue(), 49s);  // back on the grid: 240 s (now 191 s)
}

TEST_F(CyclePacerTest, EndWithoutBeginIsANoOp) {
  pacer_.EndCycle();
  EXPECT_TRUE(pacer_.Due());
  EXPECT_EQ(pacer_.skipped(), 0u);
}

TEST_F(CyclePacerTest, TimeUntilDueWhileRunningIsTheInterval) {
  ASSERT_TRUE(pacer_.BeginCycle());
  EXPECT_EQ(pacer_.TimeUntilDue(), 60s);
}

}  // namespace
}  // namespace pgagent
