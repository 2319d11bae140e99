// common/daemon.h: the process's own usage read through the ProcFs edge, and the signal
// loop both main.cc files run (signals raised at the test's own thread, which SignalSet
// blocks, so they wait pending for sigtimedwait; no sleeps).
#include "common/daemon.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include "tests/fakes/fake_clock.h"
#include "tests/fakes/fake_proc_fs.h"

namespace pgagent {
namespace {

using namespace std::chrono_literals;

TEST(ReadSelfUsageTest, TakesTheResidentPagesFromStatmThroughTheProcFs) {
  FakeProcFs procfs;
  procfs.SetFile("/proc/self/statm", "5000 250 120 10 0 300 0\n");
  const SelfUsage usage = ReadSelfUsage(procfs);
  EXPECT_EQ(usage.rss_bytes, 250u * static_cast<uint64_t>(sysconf(_SC_PAGESIZE)));
  EXPECT_GT(usage.cpu_seconds, 0);
}

TEST(ReadSelfUsageTest, AnUnreadableStatmGivesNoRssRatherThanAnError) {
  FakeProcFs procfs;
  EXPECT_EQ(ReadSelfUsage(procfs).rss_bytes, 0u);
  procfs.SetFile("/proc/self/statm", "garbage");
  EXPECT_EQ(ReadSelfUsage(procfs).rss_bytes, 0u);
}

TEST(CpuShareTest, TheFirstSampleIsZeroAndLaterOnesUseTheInjectedClock) {
  FakeProcFs procfs;
  FakeClock clock;
  CpuShare share(procfs, clock);
  EXPECT_EQ(share.Sample(), 0);
  clock.Advance(1000s);
  const double percent = share.Sample();
  EXPECT_GE(percent, 0);
  EXPECT_LT(percent, 1);  // a few ms of CPU over 1000 s of the fake clock
}

class SignalLoopTest : public ::testing::Test {
 protected:
  SignalLoopTest() {
    config_.agent.log_level = "warn";
    hooks_.apply = [this](const Config& c) { applied_.push_back(c.agent.log_level); };
    hooks_.healthy = [] { return true; };
  }
  SignalSet signals_;  // blocks the signals in this thread before they are raised
  Config config_;
  SignalLoopHooks hooks_;
  std::vector<std::string> applied_;
};

TEST_F(SignalLoopTest, SighupAppliesTheReloadedConfigurationAndSigtermEndsTheLoop) {
  hooks_.reload = [] {
    LoadedConfig loaded;
    loaded.config.agent.log_level = "info";
    return Result<LoadedConfig>(loaded);
  };
  int ticks = 0;
  hooks_.tick = [&ticks] {
    ++ticks;
    return std::chrono::milliseconds(60000);
  };
  raise(SIGHUP);
  raise(SIGTERM);  // delivered after SIGHUP (lower numbers first)
  EXPECT_EQ(RunSignalLoop(signals_, config_, hooks_), SIGTERM);
  EXPECT_EQ(applied_, std::vector<std::string>{"info"});
  EXPECT_EQ(config_.agent.log_level, "info");
  EXPECT_EQ(ticks, 1);  // at start only: the next tick was a minute away
}

TEST_F(SignalLoopTest, ARejectedReloadKeepsThePreviousConfiguration) {
  hooks_.reload = [] {
    return Result<LoadedConfig>(InvalidArgumentError("pgagent.ini:3: bad value"));
  };
  raise(SIGHUP);
  raise(SIGINT);
  EXPECT_EQ(RunSignalLoop(signals_, config_, hooks_), SIGINT);
  EXPECT_TRUE(applied_.empty());
  EXPECT_EQ(config_.agent.log_level, "warn");
}

TEST_F(SignalLoopTest, ATickThatIsDueRunsWithoutASignal) {
  int ticks = 0;
  hooks_.tick = [&ticks] {
    if (++ticks == 3) raise(SIGTERM);
    return std::chrono::milliseconds(0);  // due again at once
  };
  EXPECT_EQ(RunSignalLoop(signals_, config_, hooks_), SIGTERM);
  EXPECT_EQ(ticks, 3);
}

}  // namespace
}  // namespace pgagent
