#include "collectord/system/backend_resources.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "tests/collectord/system/fixture.h"
#include "tests/fakes/fake_clock.h"
#include "tests/fakes/fake_proc_fs.h"

namespace pgagent::system {
namespace {

using namespace std::chrono_literals;
using testing::Fixture;

// /proc/<pid>/stat text with the fields the sampler reads.
std::string PidStatText(int pid, uint64_t utime, uint64_t stime, uint64_t start,
                        uint64_t rss_pages) {
  return std::to_string(pid) + " (postgres) S 1 1 1 0 -1 4194560 10 0 0 0 " +
         std::to_string(utime) + " " + std::to_string(stime) + " 0 0 20 0 1 0 " +
         std::to_string(start) + " 100000 " + std::to_string(rss_pages) + " 0 0 0\n";
}

std::string PidIoText(uint64_t read_bytes, uint64_t write_bytes) {
  return "rchar: 1\nwchar: 2\nsyscr: 3\nsyscw: 4\nread_bytes: " + std::to_string(read_bytes) +
         "\nwrite_bytes: " + std::to_string(write_bytes) + "\ncancelled_write_bytes: 0\n";
}

class BackendResourceSamplerTest : public ::testing::Test {
 protected:
  BackendResourceSamplerTest() : sampler_(fs_, clock_, Options()) {}

  static BackendSamplerOptions Options() {
    BackendSamplerOptions options;
    options.clock_ticks_per_s = 100;
    options.page_size = 4096;
    options.forget_after = 300s;
    return options;
  }

  FakeProcFs fs_;
  FakeClock clock_;
  BackendResourceSampler sampler_;
};

TEST_F(BackendResourceSamplerTest, FirstSampleOfAPidIsABaselineWithRss) {
  fs_.SetFile("/proc/9659/stat", Fixture("pid_stat"));
  fs_.SetFile("/proc/9659/io", Fixture("pid_io"));
  auto result = sampler_.Sample({9659});
  ASSERT_EQ(result.count(9659), 1u);
  const pgagent::v1::BackendResources& r = result.at(9659);
  EXPECT_EQ(r.interval_ms(), 0.0);
  EXPECT_EQ(r.cpu_user_ms(), 0.0);
  EXPECT_EQ(r.cpu_system_ms(), 0.0);
  EXPECT_EQ(r.rss_bytes(), 367u * 4096);
  ASSERT_TRUE(r.has_read_bytes());
  EXPECT_EQ(r.read_bytes(), 0u);
  EXPECT_EQ(r.write_bytes(), 0u);
}

TEST_F(BackendResourceSamplerTest, ReportsCapturedCpuAndIoDeltasSinceThePreviousSample) {
  fs_.SetFile("/proc/9659/stat", Fixture("pid_stat"));
  fs_.SetFile("/proc/9659/io", Fixture("pid_io"));
  (void)sampler_.Sample({9659});
  fs_.SetFile("/proc/9659/stat", Fixture("pid_stat_2"));
  fs_.SetFile("/proc/9659/io", Fixture("pid_io_2"));
  clock_.Advance(1500ms);
  auto result = sampler_.Sample({9659});
  ASSERT_EQ(result.count(9659), 1u);
  const pgagent::v1::BackendResources& r = result.at(9659);
  EXPECT_DOUBLE_EQ(r.interval_ms(), 1500.0);
  EXPECT_DOUBLE_EQ(r.cpu_user_ms(), 190.0);  // 19 ticks at 100 Hz
  EXPECT_DOUBLE_EQ(r.cpu_system_ms(), 0.0);
  EXPECT_EQ(r.read_bytes(), 4096u);
  EXPECT_EQ(r.write_bytes(), 16384u - 4096u);
  EXPECT_EQ(r.rss_bytes(), 367u * 4096);
}

TEST_F(BackendResourceSamplerTest, UnreadableIoLeavesBytesAbsentAndIsCountedOncePerPid) {
  fs_.SetFile("/proc/42/stat", PidStatText(42, 10, 5, 777, 100));
  fs_.SetError("/proc/42/io", PermissionDeniedError("open /proc/42/io: Permission denied"));
  for (int i = 0; i < 3; ++i) {
    auto result = sampler_.Sample({42});
    ASSERT_EQ(result.count(42), 1u);
    EXPECT_FALSE(result.at(42).has_read_bytes());
    EXPECT_FALSE(result.at(42).has_write_bytes());
    EXPECT_EQ(result.at(42).rss_bytes(), 100u * 4096);
    clock_.Advance(1s);
  }
  EXPECT_EQ(sampler_.stats().io_permission_denied_pids, 1u);
}

TEST_F(BackendResourceSamplerTest, UnreadableStatLeavesResourcesAbsentAndIsCountedOncePerPid) {
  fs_.SetError("/proc/42/stat", PermissionDeniedError("open /proc/42/stat: Permission denied"));
  fs_.SetError("/proc/43/stat", PermissionDeniedError("open /proc/43/stat: Permission denied"));
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(sampler_.Sample({42, 43}).empty());
    clock_.Advance(1s);
  }
  EXPECT_EQ(sampler_.stats().stat_permission_denied_pids, 2u);
}

TEST_F(BackendResourceSamplerTest, VanishedPidIsForgottenAndStartsAfreshIfItComesBack) {
  fs_.SetFile("/proc/42/stat", PidStatText(42, 10, 5, 777, 100));
  fs_.SetFile("/proc/42/io", PidIoText(0, 0));
  (void)sampler_.Sample({42});
  EXPECT_EQ(sampler_.stats().tracked_pids, 1u);
  fs_.RemoveFile("/proc/42/stat");
  fs_.RemoveFile("/proc/42/io");
  EXPECT_TRUE(sampler_.Sample({42}).empty());
  EXPECT_EQ(sampler_.stats().vanished_pids, 1u);
  EXPECT_EQ(sampler_.stats().tracked_pids, 0u);
}

TEST_F(BackendResourceSamplerTest, ReusedPidWithANewStartTimeIsABaselineNotADelta) {
  fs_.SetFile("/proc/42/stat", PidStatText(42, 500, 300, 777, 100));
  fs_.SetFile("/proc/42/io", PidIoText(1000000, 2000000));
  (void)sampler_.Sample({42});
  fs_.SetFile("/proc/42/stat", PidStatText(42, 3, 1, 9999, 50));
  fs_.SetFile("/proc/42/io", PidIoText(10, 20));
  clock_.Advance(5s);
  auto result = sampler_.Sample({42});
  ASSERT_EQ(result.count(42), 1u);
  EXPECT_EQ(result.at(42).interval_ms(), 0.0);
  EXPECT_EQ(result.at(42).cpu_user_ms(), 0.0);
  EXPECT_EQ(result.at(42).read_bytes(), 0u);
  EXPECT_EQ(result.at(42).rss_bytes(), 50u * 4096);
  clock_.Advance(1s);
  fs_.SetFile("/proc/42/stat", PidStatText(42, 13, 2, 9999, 50));
  result = sampler_.Sample({42});
  EXPECT_DOUBLE_EQ(result.at(42).cpu_user_ms(), 100.0);
  EXPECT_DOUBLE_EQ(result.at(42).cpu_system_ms(), 10.0);
  EXPECT_DOUBLE_EQ(result.at(42).interval_ms(), 1000.0);
}

TEST_F(BackendResourceSamplerTest, PidNotAskedForLongerThanForgetAfterIsForgotten) {
  fs_.SetFile("/proc/42/stat", PidStatText(42, 10, 5, 777, 100));
  fs_.SetFile("/proc/43/stat", PidStatText(43, 10, 5, 778, 100));
  (void)sampler_.Sample({42, 43});
  clock_.Advance(200s);
  (void)sampler_.Sample({43});
  EXPECT_EQ(sampler_.stats().tracked_pids, 2u);
  clock_.Advance(101s);
  (void)sampler_.Sample({43});
  EXPECT_EQ(sampler_.stats().tracked_pids, 1u);
}

TEST_F(BackendResourceSamplerTest, MissingIoFileGivesCpuWithoutBytesAndKeepsThePid) {
  // Kernels built without task I/O accounting have no /proc/<pid>/io.
  fs_.SetFile("/proc/42/stat", PidStatText(42, 10, 5, 777, 100));
  (void)sampler_.Sample({42});
  fs_.SetFile("/proc/42/stat", PidStatText(42, 15, 5, 777, 100));
  clock_.Advance(1s);
  auto result = sampler_.Sample({42});
  ASSERT_EQ(result.count(42), 1u);
  EXPECT_DOUBLE_EQ(result.at(42).cpu_user_ms(), 50.0);
  EXPECT_FALSE(result.at(42).has_read_bytes());
  EXPECT_EQ(sampler_.stats().vanished_pids, 0u);
  EXPECT_EQ(sampler_.stats().io_permission_denied_pids, 0u);
}

TEST_F(BackendResourceSamplerTest, MalformedStatIsCountedAndLeavesResourcesAbsent) {
  fs_.SetFile("/proc/42/stat", "42 (postgres) S 1 2\n");
  EXPECT_TRUE(sampler_.Sample({42}).empty());
  EXPECT_EQ(sampler_.stats().malformed, 1u);
}

TEST_F(BackendResourceSamplerTest, AttachSetsResourcesOnReadableSessionsOnly) {
  fs_.SetFile("/proc/42/stat", PidStatText(42, 10, 5, 777, 100));
  fs_.SetFile("/proc/42/io", PidIoText(4096, 8192));
  fs_.SetError("/proc/43/stat", PermissionDeniedError("denied"));
  pgagent::v1::ActivitySnapshot snapshot;
  snapshot.add_sessions()->set_pid(42);
  snapshot.add_sessions()->set_pid(43);
  snapshot.add_sessions()->set_pid(44);  // exited already
  sampler_.Attach(snapshot);
  clock_.Advance(2s);
  fs_.SetFile("/proc/42/stat", PidStatText(42, 30, 5, 777, 120));
  fs_.SetFile("/proc/42/io", PidIoText(4096 * 3, 8192));
  sampler_.Attach(snapshot);
  ASSERT_TRUE(snapshot.sessions(0).has_resources());
  EXPECT_DOUBLE_EQ(snapshot.sessions(0).resources().cpu_user_ms(), 200.0);
  EXPECT_EQ(snapshot.sessions(0).resources().read_bytes(), 8192u);
  EXPECT_EQ(snapshot.sessions(0).resources().write_bytes(), 0u);
  EXPECT_EQ(snapshot.sessions(0).resources().rss_bytes(), 120u * 4096);
  EXPECT_DOUBLE_EQ(snapshot.sessions(0).resources().interval_ms(), 2000.0);
  EXPECT_FALSE(snapshot.sessions(1).has_resources());
  EXPECT_FALSE(snapshot.sessions(2).has_resources());
}

}  // namespace
}  // namespace pgagent::system
