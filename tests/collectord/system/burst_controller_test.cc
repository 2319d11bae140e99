#include "collectord/system/burst_controller.h"

#include <gtest/gtest.h>

#include <chrono>

#include "tests/collectord/system/fake_load_signal_source.h"
#include "tests/fakes/fake_clock.h"

namespace pgagent::system {
namespace {

using namespace std::chrono_literals;
using testing::FakeLoadSignalSource;

LoadSignal Signal(std::optional<double> load_per_core, std::optional<double> psi) {
  LoadSignal s;
  s.load_per_core = load_per_core;
  s.psi_cpu_some_avg10 = psi;
  return s;
}

class BurstControllerTest : public ::testing::Test {
 protected:
  static BurstOptions Options() {
    BurstOptions o;
    o.load_per_core_threshold = 2.0;
    o.psi_cpu_some_avg10_threshold = 40.0;
    o.normal_interval = 60s;
    o.burst_interval = 5s;
    o.hold_down = 30s;
    o.max_burst_samples_per_minute = 12;
    return o;
  }

  // One scheduler tick: read the source, feed the controller, take the sample, wait.
  bool Tick(BurstController& controller) {
    controller.Observe(source_.Read().value_or(LoadSignal{}));
    const bool burst = controller.OnSample();
    clock_.Advance(controller.NextDelay());
    return burst;
  }

  FakeClock clock_;
  FakeLoadSignalSource source_;
};

TEST_F(BurstControllerTest, CalmHostSamplesAtTheNormalInterval) {
  BurstController controller(Options(), clock_);
  source_.Set(Signal(0.5, 3.0));
  for (int i = 0; i < 5; ++i) EXPECT_FALSE(Tick(controller));
  EXPECT_FALSE(controller.in_burst());
  EXPECT_EQ(controller.NextDelay(), 60s);
  EXPECT_EQ(controller.stats().bursts_started, 0u);
}

TEST_F(BurstControllerTest, LoadPerCoreAboveThresholdStartsBurstAtFiveSeconds) {
  BurstController controller(Options(), clock_);
  source_.Set(Signal(2.5, 1.0));
  EXPECT_TRUE(controller.Observe(source_.Read().value()));
  EXPECT_TRUE(controller.OnSample());
  EXPECT_EQ(controller.NextDelay(), 5s);
  EXPECT_EQ(controller.stats().bursts_started, 1u);
}

TEST_F(BurstControllerTest, PsiAboveThresholdAloneStartsBurst) {
  BurstController controller(Options(), clock_);
  EXPECT_TRUE(controller.Observe(Signal(0.1, 55.0)));
}

TEST_F(BurstControllerTest, SignalExactlyAtThresholdDoesNotStartBurst) {
  BurstController controller(Options(), clock_);
  EXPECT_FALSE(controller.Observe(Signal(2.0, 40.0)));
}

TEST_F(BurstControllerTest, MissingPsiFallsBackToLoadAverage) {
  BurstController controller(Options(), clock_);
  EXPECT_FALSE(controller.Observe(Signal(1.0, std::nullopt)));
  EXPECT_TRUE(controller.Observe(Signal(3.0, std::nullopt)));
}

TEST_F(BurstControllerTest, DisabledSignalIsIgnored) {
  BurstOptions options = Options();
  options.psi_cpu_some_avg10_threshold = 0;
  BurstController controller(options, clock_);
  EXPECT_FALSE(controller.Observe(Signal(0.5, 99.0)));
}

TEST_F(BurstControllerTest, StaysInBurstUntilCalmForTheWholeHoldDown) {
  BurstController controller(Options(), clock_);
  controller.Observe(Signal(3.0, 0));
  clock_.Advance(5s);
  EXPECT_TRUE(controller.Observe(Signal(1.0, 0)));  // calm since now
  clock_.Advance(29s);
  EXPECT_TRUE(controller.Observe(Signal(1.0, 0)));
  clock_.Advance(1s);
  EXPECT_FALSE(controller.Observe(Signal(1.0, 0)));  // 30 s calm
  EXPECT_EQ(controller.NextDelay(), 60s);
}

TEST_F(BurstControllerTest, ASpikeDuringHoldDownRestartsIt) {
  BurstController controller(Options(), clock_);
  controller.Observe(Signal(3.0, 0));
  clock_.Advance(5s);
  controller.Observe(Signal(1.0, 0));
  clock_.Advance(25s);
  controller.Observe(Signal(1.0, 50.0));  // PSI spike
  clock_.Advance(5s);
  controller.Observe(Signal(1.0, 0));
  clock_.Advance(29s);
  EXPECT_TRUE(controller.Observe(Signal(1.0, 0)));
  clock_.Advance(1s);
  EXPECT_FALSE(controller.Observe(Signal(1.0, 0)));
  EXPECT_EQ(controller.stats().bursts_started, 1u);
}

TEST_F(BurstControllerTest, UnreadableSignalCountsAsCalmSoBurstCannotStick) {
  BurstController controller(Options(), clock_);
  source_.Set(Signal(5.0, 90.0));
  EXPECT_TRUE(Tick(controller));
  source_.SetError(UnavailableError("read /proc/loadavg: gone"));
  int ticks = 0;
  while (controller.in_burst() && ticks < 100) {
    Tick(controller);
    ++ticks;
  }
  EXPECT_FALSE(controller.in_burst());
  EXPECT_EQ(ticks, 7);  // 6 ticks of 5 s make the 30 s hold-down, the 7th ends it
}

TEST_F(BurstControllerTest, BurstSamplesPerMinuteAreCapped) {
  BurstOptions options = Options();
  options.burst_interval = 2s;
  options.max_burst_samples_per_minute = 10;
  BurstController controller(options, clock_);
  source_.Set(Signal(10.0, 100.0));
  const auto start = clock_.Monotonic();
  int burst_samples = 0;
  while (clock_.Monotonic() - start < 60s) {
    if (Tick(controller)) ++burst_samples;
  }
  EXPECT_EQ(burst_samples, 10);
  EXPECT_EQ(controller.stats().burst_samples, 10u);
  EXPECT_GE(controller.stats().capped_delays, 1u);
}

TEST_F(BurstControllerTest, CappedDelayWaitsUntilTheOldestSampleLeavesTheWindow) {
  BurstOptions options = Options();
  options.burst_interval = 5s;
  options.max_burst_samples_per_minute = 3;
  BurstController controller(options, clock_);
  controller.Observe(Signal(10.0, 0));
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(controller.OnSample());
    if (i < 2) {
      EXPECT_EQ(controller.NextDelay(), 5s);
      clock_.Advance(5s);
    }
  }
  // Samples at 0, 5, 10 s: the next slot frees at 60 s, 50 s from now.
  EXPECT_EQ(controller.NextDelay(), 50s);
  EXPECT_FALSE(controller.OnSample());  // a caller ignoring the delay gets an ordinary sample
  clock_.Advance(50s);
  EXPECT_TRUE(controller.OnSample());
}

TEST_F(BurstControllerTest, CappedDelayNeverExceedsTheNormalInterval) {
  BurstOptions options = Options();
  options.normal_interval = 10s;
  options.burst_interval = 1s;
  options.max_burst_samples_per_minute = 1;
  BurstController controller(options, clock_);
  controller.Observe(Signal(10.0, 0));
  EXPECT_TRUE(controller.OnSample());
  EXPECT_EQ(controller.NextDelay(), 10s);
}

TEST_F(BurstControllerTest, BurstIntervalIsClampedBetweenOneSecondAndTheNormalInterval) {
  BurstOptions options = Options();
  options.burst_interval = 0s;
  BurstController fast(options, clock_);
  EXPECT_EQ(fast.options().burst_interval, 1s);
  options.burst_interval = 600s;
  BurstController slow(options, clock_);
  EXPECT_EQ(slow.options().burst_interval, 60s);
  options.max_burst_samples_per_minute = 0;
  BurstController capped(options, clock_);
  EXPECT_EQ(capped.options().max_burst_samples_per_minute, 1u);
}

TEST_F(BurstControllerTest, SecondSpikeAfterCalmCountsAsANewBurst) {
  BurstController controller(Options(), clock_);
  source_.Set(Signal(3.0, 0));
  EXPECT_TRUE(Tick(controller));
  source_.Set(Signal(0.2, 0));
  for (int i = 0; i < 10; ++i) Tick(controller);
  EXPECT_FALSE(controller.in_burst());
  source_.Set(Signal(3.0, 0));
  EXPECT_TRUE(Tick(controller));
  EXPECT_EQ(controller.stats().bursts_started, 2u);
}

}  // namespace
}  // namespace pgagent::system
