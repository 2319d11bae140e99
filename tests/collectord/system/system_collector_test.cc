#include "collectord/system/system_collector.h"

#include <gtest/gtest.h>

#include <chrono>

#include "tests/collectord/system/fixture.h"
#include "tests/fakes/fake_clock.h"
#include "tests/fakes/fake_proc_fs.h"

namespace pgagent::system {
namespace {

using namespace std::chrono_literals;
using testing::Fixture;

constexpr char kNetHeader[] =
    "Inter-|   Receive                                                |  Transmit\n"
    " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs "
    "drop fifo colls carrier compressed\n";

class SystemCollectorTest : public ::testing::Test {
 protected:
  SystemCollectorTest() {
    options_.data_directory = "/var/lib/postgresql/16/main";
    options_.log_directory = "/var/log/postgresql";
    LoadFirstCapture();
    fs_.SetFile("/proc/meminfo", Fixture("proc_meminfo"));
    fs_.SetFile("/proc/pressure/cpu", Fixture("pressure_cpu"));
    fs_.SetFile("/proc/pressure/io", Fixture("pressure_io"));
    fs_.SetFile("/proc/pressure/memory", Fixture("pressure_memory"));
    fs_.SetDir("/proc", {"1", "2", "17", "self", "stat", "9575", "net", "thread-self"});
    // 4 KiB fragments: 1000 blocks, 300 free of which 250 available to non-root users.
    fs_.SetStatFs("/", system::FsStats{4096, 1000, 300, 250});
    fs_.SetStatFs(options_.data_directory, system::FsStats{4096, 2000, 1000, 1000});
    fs_.SetStatFs(options_.log_directory, system::FsStats{1024, 100, 100, 90});
  }

  void LoadFirstCapture() {
    fs_.SetFile("/proc/stat", Fixture("proc_stat"));
    fs_.SetFile("/proc/loadavg", Fixture("proc_loadavg"));
    fs_.SetFile("/proc/diskstats", Fixture("proc_diskstats"));
    fs_.SetFile("/proc/net/dev", Fixture("proc_net_dev"));
  }
  void LoadSecondCapture() {
    fs_.SetFile("/proc/stat", Fixture("proc_stat_2"));
    fs_.SetFile("/proc/loadavg", Fixture("proc_loadavg_2"));
    fs_.SetFile("/proc/diskstats", Fixture("proc_diskstats_2"));
    fs_.SetFile("/proc/net/dev", Fixture("proc_net_dev_2"));
  }

  pgagent::v1::SystemMetrics CollectOk(SystemCollector& collector) {
    pgagent::v1::Record record;
    Status status = collector.Collect(record);
    EXPECT_TRUE(status.ok()) << status.ToString();
    EXPECT_TRUE(record.has_system());
    return record.system();
  }

  static const pgagent::v1::DiskDeviceIo* Device(const pgagent::v1::SystemMetrics& m,
                                                 const std::string& name) {
    for (const auto& d : m.disk_io().devices()) {
      if (d.device() == name) return &d;
    }
    return nullptr;
  }
  static const pgagent::v1::NetInterfaceIo* Interface(const pgagent::v1::SystemMetrics& m,
                                                      const std::string& name) {
    for (const auto& i : m.network_io().interfaces()) {
      if (i.name() == name) return &i;
    }
    return nullptr;
  }

  SystemOptions options_;
  FakeProcFs fs_;
  FakeClock clock_;
};

TEST_F(SystemCollectorTest, FirstSampleIsABaselineWithGaugesButNoDeltas) {
  SystemCollector collector(options_, fs_, clock_);
  pgagent::v1::SystemMetrics m = CollectOk(collector);
  EXPECT_EQ(m.interval_s(), 0.0);
  EXPECT_EQ(m.cpu().percent(), 0.0);
  EXPECT_EQ(m.cpu().user(), 0.0);
  EXPECT_EQ(m.cpu().ctxt_per_s(), 0.0);
  EXPECT_EQ(m.cpu().core_count(), 2u);
  EXPECT_DOUBLE_EQ(m.cpu().load_avg_1m(), 0.06);
  EXPECT_DOUBLE_EQ(m.cpu().load_avg_5m(), 0.06);
  EXPECT_DOUBLE_EQ(m.cpu().load_avg_15m(), 0.01);
  EXPECT_DOUBLE_EQ(m.cpu().load_per_core(), 0.03);
  EXPECT_EQ(m.memory().available(), 24295712ull * 1024);
  ASSERT_EQ(m.disk_io().devices_size(), 1);
  EXPECT_EQ(m.disk_io().devices(0).device(), "vda");
  EXPECT_EQ(m.disk_io().devices(0).read_bytes(), 0u);
  EXPECT_EQ(m.disk_io().read_bytes(), 0u);
  EXPECT_EQ(m.network_io().interfaces_size(), 4);
  EXPECT_EQ(m.network_io().bytes_sent(), 0u);
  EXPECT_EQ(m.processes().forks_per_s(), 0.0);
  EXPECT_EQ(m.errors_size(), 0);
}

TEST_F(SystemCollectorTest, SecondSampleReportsCpuPercentagesFromCapturedStatDeltas) {
  SystemCollector collector(options_, fs_, clock_);
  CollectOk(collector);
  LoadSecondCapture();
  clock_.Advance(2s);
  pgagent::v1::SystemMetrics m = CollectOk(collector);
  // Captured deltas: user +4, system +7, idle +971, all else 0 -> 982 ticks.
  EXPECT_DOUBLE_EQ(m.interval_s(), 2.0);
  EXPECT_DOUBLE_EQ(m.cpu().user(), 100.0 * 4 / 982);
  EXPECT_DOUBLE_EQ(m.cpu().system(), 100.0 * 7 / 982);
  EXPECT_DOUBLE_EQ(m.cpu().idle(), 100.0 * 971 / 982);
  EXPECT_EQ(m.cpu().iowait(), 0.0);
  EXPECT_EQ(m.cpu().steal(), 0.0);
  EXPECT_DOUBLE_EQ(m.cpu().percent(), 100.0 * 11 / 982);
  EXPECT_DOUBLE_EQ(m.cpu().ctxt_per_s(), (439387.0 - 438660.0) / 2.0);
  EXPECT_DOUBLE_EQ(m.processes().forks_per_s(), (9635.0 - 9575.0) / 2.0);
  EXPECT_EQ(m.processes().running(), 2u);
  EXPECT_EQ(m.processes().blocked(), 0u);
  EXPECT_EQ(m.processes().threads(), 96u);
  EXPECT_EQ(m.processes().processes(), 4u);  // 1, 2, 17, 9575
}

TEST_F(SystemCollectorTest, SecondSampleReportsDiskDeltasInBytesAndRates) {
  SystemCollector collector(options_, fs_, clock_);
  CollectOk(collector);
  LoadSecondCapture();
  clock_.Advance(2s);
  pgagent::v1::SystemMetrics m = CollectOk(collector);
  const pgagent::v1::DiskDeviceIo* vda = Device(m, "vda");
  ASSERT_NE(vda, nullptr);
  EXPECT_EQ(vda->read_count(), 99u);
  EXPECT_EQ(vda->write_count(), 4u);
  EXPECT_EQ(vda->read_bytes(), 1160u * 512);
  EXPECT_EQ(vda->write_bytes(), 32u * 512);
  EXPECT_EQ(vda->read_time_ms(), 53u);
  EXPECT_EQ(vda->write_time_ms(), 1u);
  EXPECT_EQ(vda->busy_time_ms(), 12u);
  EXPECT_DOUBLE_EQ(vda->busy_percent(), 0.6);
  EXPECT_DOUBLE_EQ(vda->read_bytes_per_s(), 1160.0 * 512 / 2);
  EXPECT_DOUBLE_EQ(vda->write_bytes_per_s(), 32.0 * 512 / 2);
  EXPECT_DOUBLE_EQ(vda->read_iops(), 49.5);
  EXPECT_DOUBLE_EQ(vda->write_iops(), 2.0);
  EXPECT_EQ(m.disk_io().read_bytes(), 1160u * 512);
  EXPECT_EQ(m.disk_io().write_bytes(), 32u * 512);
  EXPECT_EQ(m.disk_io().read_count(), 99u);
  EXPECT_EQ(m.disk_io().write_count(), 4u);
  EXPECT_DOUBLE_EQ(m.disk_io().read_bytes_per_s(), 1160.0 * 512 / 2);
  // Loop and zram devices are skipped by default.
  EXPECT_EQ(m.disk_io().devices_size(), 1);
}

TEST_F(SystemCollectorTest, ReportsMemoryLikeThePythonAgent) {
  SystemCollector collector(options_, fs_, clock_);
  pgagent::v1::SystemMetrics m = CollectOk(collector);
  const uint64_t total = 24684092ull * 1024;
  const uint64_t available = 24295712ull * 1024;
  EXPECT_EQ(m.memory().total(), total);
  EXPECT_EQ(m.memory().available(), available);
  EXPECT_EQ(m.memory().used(), total - available);
  EXPECT_EQ(m.memory().free(), 24077388ull * 1024);
  EXPECT_EQ(m.memory().buffers(), 207720ull * 1024);
  EXPECT_EQ(m.memory().cached(), (159516ull + 134144ull) * 1024);
  EXPECT_DOUBLE_EQ(m.memory().percent(), 100.0 * (total - available) / total);
  EXPECT_EQ(m.memory().swap_total(), 0u);
  EXPECT_EQ(m.memory().swap_percent(), 0.0);
  EXPECT_EQ(m.memory().dirty(), 72ull * 1024);
  EXPECT_EQ(m.memory().shmem(), 8856ull * 1024);
}

TEST_F(SystemCollectorTest, ReportsDiskUsageOfDataLogAndRootDirectories) {
  SystemCollector collector(options_, fs_, clock_);
  pgagent::v1::SystemMetrics m = CollectOk(collector);
  ASSERT_EQ(m.disk_usage_size(), 3);
  EXPECT_EQ(m.disk_usage(0).label(), "data_directory");
  EXPECT_EQ(m.disk_usage(0).path(), "/var/lib/postgresql/16/main");
  EXPECT_EQ(m.disk_usage(0).total(), 2000u * 4096);
  EXPECT_EQ(m.disk_usage(0).used(), 1000u * 4096);
  EXPECT_DOUBLE_EQ(m.disk_usage(0).percent(), 50.0);
  EXPECT_EQ(m.disk_usage(1).label(), "log_directory");
  EXPECT_EQ(m.disk_usage(1).used(), 0u);
  EXPECT_EQ(m.disk_usage(1).free(), 90u * 1024);
  const pgagent::v1::DiskUsage& root = m.disk_usage(2);
  EXPECT_EQ(root.label(), "root");
  EXPECT_EQ(root.path(), "/");
  EXPECT_EQ(root.total(), 1000u * 4096);
  EXPECT_EQ(root.used(), 700u * 4096);
  EXPECT_EQ(root.free(), 250u * 4096);
  // Root-reserved blocks are neither used nor free, as in df.
  EXPECT_DOUBLE_EQ(root.percent(), 100.0 * 700 / 950);
}

TEST_F(SystemCollectorTest, MissingDataDirectoryIsReportedAsAnErrorWithoutFailingTheSample) {
  fs_.SetError(options_.data_directory, NotFoundError("statvfs: No such file or directory"));
  SystemCollector collector(options_, fs_, clock_);
  pgagent::v1::SystemMetrics m = CollectOk(collector);
  ASSERT_EQ(m.disk_usage_size(), 2);
  EXPECT_EQ(m.disk_usage(0).label(), "log_directory");
  ASSERT_EQ(m.errors_size(), 1);
  EXPECT_EQ(m.errors(0),
            "disk_usage data_directory: NOT_FOUND: statvfs: No such file or directory");
  EXPECT_EQ(collector.stats().optional_source_errors, 1u);
}

TEST_F(SystemCollectorTest, UnconfiguredDirectoriesAreNotReported) {
  options_.data_directory.clear();
  options_.log_directory.clear();
  SystemCollector collector(options_, fs_, clock_);
  pgagent::v1::SystemMetrics m = CollectOk(collector);
  ASSERT_EQ(m.disk_usage_size(), 1);
  EXPECT_EQ(m.disk_usage(0).label(), "root");
}

TEST_F(SystemCollectorTest, ReportsPressureOfAllThreeResources) {
  SystemCollector collector(options_, fs_, clock_);
  pgagent::v1::SystemMetrics m = CollectOk(collector);
  ASSERT_TRUE(m.has_pressure());
  ASSERT_TRUE(m.pressure().has_cpu());
  EXPECT_DOUBLE_EQ(m.pressure().cpu().some().avg10(), 0.07);
  EXPECT_DOUBLE_EQ(m.pressure().cpu().some().avg60(), 0.95);
  EXPECT_EQ(m.pressure().cpu().some().total_us(), 5461368u);
  EXPECT_TRUE(m.pressure().cpu().has_full());
  ASSERT_TRUE(m.pressure().has_io());
  EXPECT_DOUBLE_EQ(m.pressure().io().full().avg10(), 0.51);
  EXPECT_EQ(m.pressure().io().full().total_us(), 5787385u);
  ASSERT_TRUE(m.pressure().has_memory());
  EXPECT_EQ(m.pressure().memory().some().total_us(), 0u);
}

TEST_F(SystemCollectorTest, KernelWithoutPressureFilesLeavesPressureUnsetWithoutError) {
  fs_.RemoveFile("/proc/pressure/cpu");
  fs_.RemoveFile("/proc/pressure/io");
  fs_.RemoveFile("/proc/pressure/memory");
  SystemCollector collector(options_, fs_, clock_);
  pgagent::v1::SystemMetrics m = CollectOk(collector);
  EXPECT_FALSE(m.has_pressure());
  EXPECT_EQ(m.errors_size(), 0);
  EXPECT_EQ(collector.stats().optional_source_errors, 0u);
}

TEST_F(SystemCollectorTest, MalformedPressureFileIsAnErrorButOtherResourcesStay) {
  fs_.SetFile("/proc/pressure/io", "some avg10=garbage\n");
  SystemCollector collector(options_, fs_, clock_);
  pgagent::v1::SystemMetrics m = CollectOk(collector);
  EXPECT_TRUE(m.pressure().has_cpu());
  EXPECT_FALSE(m.pressure().has_io());
  EXPECT_TRUE(m.pressure().has_memory());
  ASSERT_EQ(m.errors_size(), 1);
  EXPECT_EQ(m.errors(0).rfind("/proc/pressure/io: INVALID_ARGUMENT", 0), 0u) << m.errors(0);
}

TEST_F(SystemCollectorTest, MissingRequiredFileFailsTheSampleAndNamesThePath) {
  fs_.RemoveFile("/proc/meminfo");
  SystemCollector collector(options_, fs_, clock_);
  pgagent::v1::Record record;
  Status status = collector.Collect(record);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.code(), StatusCode::kUnavailable);
  EXPECT_NE(status.message().find("/proc/meminfo"), std::string::npos) << status.ToString();
  EXPECT_EQ(collector.stats().samples, 0u);
}

TEST_F(SystemCollectorTest, UnparsableRequiredFileFailsTheSampleAsInvalidArgument) {
  fs_.SetFile("/proc/stat", "intr 1 2 3\n");
  SystemCollector collector(options_, fs_, clock_);
  pgagent::v1::Record record;
  Status status = collector.Collect(record);
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
}

TEST_F(SystemCollectorTest, FailedSampleKeepsThePreviousCountersForTheNextDelta) {
  SystemCollector collector(options_, fs_, clock_);
  CollectOk(collector);
  fs_.RemoveFile("/proc/loadavg");
  clock_.Advance(1s);
  pgagent::v1::Record failed;
  EXPECT_FALSE(collector.Collect(failed).ok());
  LoadSecondCapture();
  clock_.Advance(1s);
  pgagent::v1::SystemMetrics m = CollectOk(collector);
  EXPECT_DOUBLE_EQ(m.interval_s(), 2.0);
  EXPECT_EQ(Device(m, "vda")->read_count(), 99u);
}

TEST_F(SystemCollectorTest, MissingDiskstatsAndNetDevLeaveSectionsEmptyWithErrors) {
  fs_.RemoveFile("/proc/diskstats");
  fs_.SetError("/proc/net/dev", PermissionDeniedError("open /proc/net/dev: Permission denied"));
  SystemCollector collector(options_, fs_, clock_);
  pgagent::v1::SystemMetrics m = CollectOk(collector);
  EXPECT_EQ(m.disk_io().devices_size(), 0);
  EXPECT_EQ(m.network_io().interfaces_size(), 0);
  ASSERT_EQ(m.errors_size(), 2);
  EXPECT_EQ(m.errors(0).rfind("disk_io: NOT_FOUND", 0), 0u) << m.errors(0);
  EXPECT_EQ(m.errors(1), "network_io: PERMISSION_DENIED: open /proc/net/dev: Permission denied");
  EXPECT_EQ(collector.stats().optional_source_errors, 2u);
}

TEST_F(SystemCollectorTest, DiskstatsReturningAfterAnOutageStartsFromABaseline) {
  SystemCollector collector(options_, fs_, clock_);
  CollectOk(collector);
  fs_.RemoveFile("/proc/diskstats");
  clock_.Advance(1s);
  CollectOk(collector);
  LoadSecondCapture();
  clock_.Advance(1s);
  pgagent::v1::SystemMetrics m = CollectOk(collector);
  ASSERT_NE(Device(m, "vda"), nullptr);
  EXPECT_EQ(Device(m, "vda")->read_count(), 0u);
  EXPECT_EQ(m.disk_io().read_bytes(), 0u);
}

TEST_F(SystemCollectorTest, DiskCounterThatWentBackwardsCountsFromZeroNotAsAHugeDelta) {
  fs_.SetFile("/proc/diskstats", "   8 0 sda 1000 0 80000 500 2000 0 160000 900 0 1200 0\n");
  SystemCollector collector(options_, fs_, clock_);
  CollectOk(collector);
  // The device was re-created: its counters restarted and reached these values.
  fs_.SetFile("/proc/diskstats", "   8 0 sda 10 0 800 5 20 0 1600 9 1 12 0\n");
  clock_.Advance(10s);
  pgagent::v1::SystemMetrics m = CollectOk(collector);
  const pgagent::v1::DiskDeviceIo* sda = Device(m, "sda");
  ASSERT_NE(sda, nullptr);
  EXPECT_EQ(sda->read_count(), 10u);
  EXPECT_EQ(sda->write_count(), 20u);
  EXPECT_EQ(sda->read_bytes(), 800u * 512);
  EXPECT_EQ(sda->write_bytes(), 1600u * 512);
  EXPECT_EQ(sda->busy_time_ms(), 12u);
  EXPECT_EQ(sda->in_flight(), 1u);
  EXPECT_EQ(collector.stats().counter_resets, 1u);
}

TEST_F(SystemCollectorTest, ThirtyTwoBitWrapOfANetworkCounterNeverYieldsAHugeValue) {
  fs_.SetFile("/proc/net/dev",
              std::string(kNetHeader) + "  eth0: 4294967000 10 0 0 0 0 0 0 5000 20 0 0 0 0 0 0\n");
  SystemCollector collector(options_, fs_, clock_);
  CollectOk(collector);
  fs_.SetFile("/proc/net/dev",
              std::string(kNetHeader) + "  eth0: 704 12 0 0 0 0 0 0 5600 25 0 0 0 0 0 0\n");
  clock_.Advance(1s);
  pgagent::v1::SystemMetrics m = CollectOk(collector);
  const pgagent::v1::NetInterfaceIo* eth0 = Interface(m, "eth0");
  ASSERT_NE(eth0, nullptr);
  EXPECT_EQ(eth0->bytes_recv(), 704u);
  EXPECT_EQ(eth0->packets_recv(), 12u);
  EXPECT_EQ(eth0->bytes_sent(), 5600u);
  EXPECT_EQ(eth0->packets_sent(), 25u);
  EXPECT_EQ(collector.stats().counter_resets, 1u);
}

TEST_F(SystemCollectorTest, ReportsNetworkDeltasTotalsAndRatesPerInterface) {
  fs_.SetFile("/proc/net/dev", std::string(kNetHeader) +
                                   "    lo: 100 1 0 0 0 0 0 0 100 1 0 0 0 0 0 0\n"
                                   "  eth0: 1000 10 1 2 0 0 0 0 2000 20 3 4 0 0 0 0\n");
  SystemCollector collector(options_, fs_, clock_);
  CollectOk(collector);
  fs_.SetFile("/proc/net/dev", std::string(kNetHeader) +
                                   "    lo: 300 3 0 0 0 0 0 0 300 3 0 0 0 0 0 0\n"
                                   "  eth0: 5000 50 2 4 0 0 0 0 10000 70 6 8 0 0 0 0\n");
  clock_.Advance(4s);
  pgagent::v1::SystemMetrics m = CollectOk(collector);
  const pgagent::v1::NetInterfaceIo* eth0 = Interface(m, "eth0");
  ASSERT_NE(eth0, nullptr);
  EXPECT_EQ(eth0->bytes_recv(), 4000u);
  EXPECT_EQ(eth0->bytes_sent(), 8000u);
  EXPECT_EQ(eth0->packets_recv(), 40u);
  EXPECT_EQ(eth0->packets_sent(), 50u);
  EXPECT_EQ(eth0->errin(), 1u);
  EXPECT_EQ(eth0->dropin(), 2u);
  EXPECT_EQ(eth0->errout(), 3u);
  EXPECT_EQ(eth0->dropout(), 4u);
  EXPECT_EQ(m.network_io().bytes_recv(), 4200u);
  EXPECT_EQ(m.network_io().bytes_sent(), 8200u);
  EXPECT_EQ(m.network_io().packets_sent(), 52u);
  EXPECT_EQ(m.network_io().errout(), 3u);
  EXPECT_DOUBLE_EQ(m.network_io().bytes_sent_per_s(), 2050.0);
  EXPECT_DOUBLE_EQ(m.network_io().bytes_recv_per_s(), 1050.0);
}

TEST_F(SystemCollectorTest, InterfaceAppearingCountsItsTrafficAndOneDisappearingIsDropped) {
  fs_.SetFile("/proc/net/dev", std::string(kNetHeader) +
                                   "  eth0: 1000 10 0 0 0 0 0 0 2000 20 0 0 0 0 0 0\n"
                                   "  veth1: 50 1 0 0 0 0 0 0 60 1 0 0 0 0 0 0\n");
  SystemCollector collector(options_, fs_, clock_);
  CollectOk(collector);
  fs_.SetFile("/proc/net/dev", std::string(kNetHeader) +
                                   "  eth0: 1500 15 0 0 0 0 0 0 2500 25 0 0 0 0 0 0\n"
                                   "  wg0: 70 2 0 0 0 0 0 0 80 2 0 0 0 0 0 0\n");
  clock_.Advance(1s);
  pgagent::v1::SystemMetrics m = CollectOk(collector);
  ASSERT_EQ(m.network_io().interfaces_size(), 2);
  EXPECT_EQ(Interface(m, "veth1"), nullptr);
  ASSERT_NE(Interface(m, "wg0"), nullptr);
  EXPECT_EQ(Interface(m, "wg0")->bytes_recv(), 70u);
  EXPECT_EQ(m.network_io().bytes_recv(), 570u);
  EXPECT_EQ(m.network_io().bytes_sent(), 580u);
  EXPECT_EQ(collector.stats().counter_resets, 0u);
}

TEST_F(SystemCollectorTest, DiskAppearingCountsItsIoAndOneDisappearingIsDropped) {
  fs_.SetFile("/proc/diskstats",
              "   8 0 sda 100 0 1000 10 200 0 2000 20 0 30 0\n"
              "   8 16 sdb 5 0 50 1 5 0 50 1 0 2 0\n");
  SystemCollector collector(options_, fs_, clock_);
  CollectOk(collector);
  fs_.SetFile("/proc/diskstats",
              "   8 0 sda 110 0 1100 11 210 0 2100 21 0 31 0\n"
              "   8 32 sdc 3 0 24 1 0 0 0 0 0 1 0\n");
  clock_.Advance(1s);
  pgagent::v1::SystemMetrics m = CollectOk(collector);
  ASSERT_EQ(m.disk_io().devices_size(), 2);
  EXPECT_EQ(Device(m, "sdb"), nullptr);
  ASSERT_NE(Device(m, "sdc"), nullptr);
  EXPECT_EQ(Device(m, "sdc")->read_bytes(), 24u * 512);
  EXPECT_EQ(m.disk_io().read_count(), 13u);
  EXPECT_EQ(m.disk_io().read_bytes(), (100u + 24u) * 512);
  EXPECT_EQ(m.disk_io().write_bytes(), 100u * 512);
}

TEST_F(SystemCollectorTest, PartitionsAreSkippedUnlessConfigured) {
  const std::string diskstats =
      "   8 0 sda 100 0 1000 10 200 0 2000 20 0 30 0\n"
      "   8 1 sda1 90 0 900 9 190 0 1900 19 0 29 0\n"
      " 259 0 nvme0n1 1 0 8 1 1 0 8 1 0 1 0\n"
      " 259 1 nvme0n1p1 1 0 8 1 1 0 8 1 0 1 0\n";
  fs_.SetFile("/proc/diskstats", diskstats);
  {
    SystemCollector collector(options_, fs_, clock_);
    pgagent::v1::SystemMetrics m = CollectOk(collector);
    ASSERT_EQ(m.disk_io().devices_size(), 2);
    EXPECT_EQ(m.disk_io().devices(0).device(), "sda");
    EXPECT_EQ(m.disk_io().devices(1).device(), "nvme0n1");
  }
  options_.include_partitions = true;
  SystemCollector collector(options_, fs_, clock_);
  pgagent::v1::SystemMetrics m = CollectOk(collector);
  EXPECT_EQ(m.disk_io().devices_size(), 4);
}

TEST_F(SystemCollectorTest, VirtualDevicesAreReportedOnlyWhenConfigured) {
  options_.include_virtual_devices = true;
  SystemCollector collector(options_, fs_, clock_);
  pgagent::v1::SystemMetrics m = CollectOk(collector);
  EXPECT_EQ(m.disk_io().devices_size(), 10);  // loop0..7, vda, zram0
  EXPECT_NE(Device(m, "zram0"), nullptr);
}

TEST_F(SystemCollectorTest, StackedDevicesAreListedButNotAddedToTotalsTwice) {
  fs_.SetFile("/proc/diskstats",
              "   8 0 sda 0 0 0 0 0 0 0 0 0 0 0\n"
              " 253 0 dm-0 0 0 0 0 0 0 0 0 0 0 0\n");
  SystemCollector collector(options_, fs_, clock_);
  CollectOk(collector);
  fs_.SetFile("/proc/diskstats",
              "   8 0 sda 10 0 80 1 0 0 0 0 0 1 0\n"
              " 253 0 dm-0 10 0 80 1 0 0 0 0 0 1 0\n");
  clock_.Advance(1s);
  pgagent::v1::SystemMetrics m = CollectOk(collector);
  ASSERT_NE(Device(m, "dm-0"), nullptr);
  EXPECT_EQ(Device(m, "dm-0")->read_bytes(), 80u * 512);
  EXPECT_EQ(m.disk_io().read_bytes(), 80u * 512);
  EXPECT_EQ(m.disk_io().read_count(), 10u);
}

TEST_F(SystemCollectorTest, CpuFieldGoingBackwardsCountsZeroNotNegative) {
  fs_.SetFile("/proc/stat", "cpu  100 0 100 1000 50 0 0 0 0 0\ncpu0 1 1 1 1\n");
  SystemCollector collector(options_, fs_, clock_);
  CollectOk(collector);
  // iowait can go backwards on some kernels.
  fs_.SetFile("/proc/stat", "cpu  150 0 150 1100 40 0 0 0 0 0\ncpu0 1 1 1 1\n");
  clock_.Advance(1s);
  pgagent::v1::SystemMetrics m = CollectOk(collector);
  EXPECT_EQ(m.cpu().iowait(), 0.0);
  EXPECT_DOUBLE_EQ(m.cpu().user(), 25.0);
  EXPECT_DOUBLE_EQ(m.cpu().system(), 25.0);
  EXPECT_DOUBLE_EQ(m.cpu().idle(), 50.0);
  EXPECT_DOUBLE_EQ(m.cpu().percent(), 50.0);
  EXPECT_EQ(m.cpu().core_count(), 1u);
}

TEST_F(SystemCollectorTest, IdenticalStatBetweenSamplesGivesZeroPercentNotNaN) {
  SystemCollector collector(options_, fs_, clock_);
  CollectOk(collector);
  clock_.Advance(1s);
  pgagent::v1::SystemMetrics m = CollectOk(collector);
  EXPECT_EQ(m.cpu().percent(), 0.0);
  EXPECT_EQ(m.cpu().idle(), 0.0);
}

TEST_F(SystemCollectorTest, UnlistableProcLeavesProcessCountEmptyWithAnError) {
  fs_.SetError("/proc", PermissionDeniedError("opendir /proc: Permission denied"));
  SystemCollector collector(options_, fs_, clock_);
  pgagent::v1::SystemMetrics m = CollectOk(collector);
  EXPECT_EQ(m.processes().processes(), 0u);
  EXPECT_EQ(m.processes().threads(), 96u);
  ASSERT_EQ(m.errors_size(), 1);
  EXPECT_EQ(m.errors(0), "processes: PERMISSION_DENIED: opendir /proc: Permission denied");
}

TEST_F(SystemCollectorTest, MalformedDiskstatsLinesAreSkippedAndCounted) {
  fs_.SetFile("/proc/diskstats", "   8 0 sda 1 2 3 4 5 6 7 8 9 10 11\nnot a disk line\n");
  SystemCollector collector(options_, fs_, clock_);
  pgagent::v1::SystemMetrics m = CollectOk(collector);
  EXPECT_EQ(m.disk_io().devices_size(), 1);
  EXPECT_EQ(collector.stats().malformed_lines, 1u);
}

}  // namespace
}  // namespace pgagent::system
