#include "collectord/system/load_signal.h"

#include <gtest/gtest.h>

#include "tests/collectord/system/fixture.h"
#include "tests/fakes/fake_proc_fs.h"

namespace pgagent::system {
namespace {

using testing::Fixture;

TEST(ProcLoadSignalSourceTest, DividesLoadByCoresAndReadsPsiCpuSomeAvg10) {
  FakeProcFs fs;
  fs.SetFile("/proc/loadavg", "6.00 3.00 1.00 9/300 1234\n");
  fs.SetFile("/proc/pressure/cpu", Fixture("pressure_cpu"));
  ProcLoadSignalSource source(fs, 4);
  Result<LoadSignal> signal = source.Read();
  ASSERT_TRUE(signal.ok());
  ASSERT_TRUE(signal->load_per_core.has_value());
  EXPECT_DOUBLE_EQ(*signal->load_per_core, 1.5);
  ASSERT_TRUE(signal->psi_cpu_some_avg10.has_value());
  EXPECT_DOUBLE_EQ(*signal->psi_cpu_some_avg10, 0.07);
}

TEST(ProcLoadSignalSourceTest, KernelWithoutPsiGivesLoadOnly) {
  FakeProcFs fs;
  fs.SetFile("/proc/loadavg", Fixture("proc_loadavg"));
  ProcLoadSignalSource source(fs, 2);
  Result<LoadSignal> signal = source.Read();
  ASSERT_TRUE(signal.ok());
  EXPECT_DOUBLE_EQ(*signal->load_per_core, 0.03);
  EXPECT_FALSE(signal->psi_cpu_some_avg10.has_value());
}

TEST(ProcLoadSignalSourceTest, UnreadableLoadavgWithPsiStillGivesPsi) {
  FakeProcFs fs;
  fs.SetFile("/proc/pressure/cpu", "some avg10=42.00 avg60=1.00 avg300=0.50 total=9\n");
  ProcLoadSignalSource source(fs, 2);
  Result<LoadSignal> signal = source.Read();
  ASSERT_TRUE(signal.ok());
  EXPECT_FALSE(signal->load_per_core.has_value());
  EXPECT_DOUBLE_EQ(*signal->psi_cpu_some_avg10, 42.0);
}

TEST(ProcLoadSignalSourceTest, NothingReadableIsAnError) {
  FakeProcFs fs;
  ProcLoadSignalSource source(fs, 2);
  Result<LoadSignal> signal = source.Read();
  ASSERT_FALSE(signal.ok());
  EXPECT_EQ(signal.status().code(), StatusCode::kNotFound);
  fs.SetFile("/proc/loadavg", "garbage\n");
  EXPECT_EQ(source.Read().status().code(), StatusCode::kInvalidArgument);
}

TEST(ProcLoadSignalSourceTest, ZeroCoresIsTreatedAsOne) {
  FakeProcFs fs;
  fs.SetFile("/proc/loadavg", "3.00 3.00 1.00 9/300 1234\n");
  ProcLoadSignalSource source(fs, 0);
  EXPECT_DOUBLE_EQ(*source.Read()->load_per_core, 3.0);
}

}  // namespace
}  // namespace pgagent::system
