// CycleScheduler: cycle timing, burst cycles, skipped slots and which collectors a cycle
// runs, on a FakeClock.
#include "collectord/cycle_scheduler.h"

#include <gtest/gtest.h>

#include "tests/fakes/fake_clock.h"

namespace pgagent {
namespace {

using namespace std::chrono_literals;

system::LoadSignal Calm() { return system::LoadSignal{0.1, 1.0}; }
system::LoadSignal Loaded() { return system::LoadSignal{8.0, 90.0}; }

class CycleSchedulerTest : public ::testing::Test {
 protected:
  CycleSchedulerTest() {
    options_.normal_interval = 60s;
    options_.burst_interval = 5s;
    options_.hold_down = 60s;
    options_.max_burst_samples_per_minute = 12;
  }
  // One cycle that takes `duration`; returns whether it was a burst cycle.
  bool RunCycle(CycleScheduler& s, system::LoadSignal signal, std::chrono::milliseconds duration,
                int multiplier = 1) {
    const bool burst = s.Begin(signal);
    clock_.Advance(duration);
    s.End(multiplier);
    return burst;
  }

  FakeClock clock_;
  system::BurstOptions options_;
};

TEST_F(CycleSchedulerTest, TheFirstCycleIsDueAtOnce) {
  CycleScheduler s(options_, clock_);
  EXPECT_TRUE(s.Due());
}

TEST_F(CycleSchedulerTest, TheNextCycleIsDueOneIntervalAfterTheLastOneBegan) {
  CycleScheduler s(options_, clock_);
  const auto began = clock_.Monotonic();
  EXPECT_FALSE(RunCycle(s, Calm(), 2s));
  EXPECT_EQ(s.next_cycle(), began + 60s);
  clock_.Advance(57s);
  EXPECT_FALSE(s.Due());
  clock_.Advance(1s);
  EXPECT_TRUE(s.Due());
  EXPECT_EQ(s.skipped_cycles(), 0u);
}

TEST_F(CycleSchedulerTest, ACycleThatOverrunsItsSlotsSkipsThemInsteadOfOverlapping) {
  CycleScheduler s(options_, clock_);
  const auto began = clock_.Monotonic();
  RunCycle(s, Calm(), 130s);
  EXPECT_EQ(s.skipped_cycles(), 2u);
  EXPECT_EQ(s.next_cycle(), began + 180s);
  EXPECT_FALSE(s.Due());
}

TEST_F(CycleSchedulerTest, ACycleEndingExactlyOnItsNextSlotSkipsThatSlot) {
  CycleScheduler s(options_, clock_);
  const auto began = clock_.Monotonic();
  RunCycle(s, Calm(), 60s);
  EXPECT_EQ(s.skipped_cycles(), 1u);
  EXPECT_EQ(s.next_cycle(), began + 120s);
}

TEST_F(CycleSchedulerTest, UnderLoadCyclesFollowTheBurstIntervalAndAreCounted) {
  CycleScheduler s(options_, clock_);
  const auto began = clock_.Monotonic();
  EXPECT_TRUE(RunCycle(s, Loaded(), 100ms));
  EXPECT_EQ(s.next_cycle(), began + 5s);
  clock_.Advance(4900ms);
  EXPECT_TRUE(s.Due());
  EXPECT_TRUE(RunCycle(s, Loaded(), 100ms));
  EXPECT_EQ(s.burst_cycles(), 2u);
}

TEST_F(CycleSchedulerTest, SheddingWorkDoublesTheInterval) {
  CycleScheduler s(options_, clock_);
  const auto began = clock_.Monotonic();
  RunCycle(s, Calm(), 1s, /*multiplier=*/2);
  EXPECT_EQ(s.next_cycle(), began + 120s);
}

TEST_F(CycleSchedulerTest, StatementsRunEveryNormalCycleButOnlyOncePerIntervalDuringABurst) {
  CycleScheduler s(options_, clock_);
  EXPECT_TRUE(s.TakeStatements(/*burst=*/true));  // never ran: runs even in a burst
  clock_.Advance(5s);
  EXPECT_FALSE(s.TakeStatements(/*burst=*/true));
  EXPECT_TRUE(s.TakeStatements(/*burst=*/false));
  clock_.Advance(59s);
  EXPECT_FALSE(s.TakeStatements(/*burst=*/true));
  clock_.Advance(1s);
  EXPECT_TRUE(s.TakeStatements(/*burst=*/true));
}

TEST_F(CycleSchedulerTest, TheClusterCollectorKeepsTheNormalCadenceDuringABurst) {
  CycleScheduler s(options_, clock_);
  EXPECT_TRUE(s.TakeCluster(/*burst=*/true));
  clock_.Advance(30s);
  EXPECT_FALSE(s.TakeCluster(/*burst=*/true));
  clock_.Advance(30s);
  EXPECT_TRUE(s.TakeCluster(/*burst=*/true));
  EXPECT_TRUE(s.TakeCluster(/*burst=*/false));
}

TEST_F(CycleSchedulerTest, AReloadedSchedulerKeepsTheSkippedCount) {
  CycleScheduler before(options_, clock_);
  RunCycle(before, Calm(), 61s);
  CycleScheduler after(options_, clock_);
  after.CarryCountersFrom(before);
  EXPECT_EQ(after.skipped_cycles(), 1u);
  EXPECT_TRUE(after.Due());
}

}  // namespace
}  // namespace pgagent
