// common/daemon.h: the process's own usage read through the ProcFs edge.
#include "common/daemon.h"

#include <gtest/gtest.h>
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

}  // namespace
}  // namespace pgagent
