#include "collectord/system/proc_parsers.h"

#include <gtest/gtest.h>

#include "tests/collectord/system/fixture.h"

namespace pgagent::system {
namespace {

using testing::Fixture;

TEST(ProcStatParserTest, ReadsAggregateCpuLineAndCountersFromCapturedFile) {
  Result<ProcStat> stat = ParseProcStat(Fixture("proc_stat"));
  ASSERT_TRUE(stat.ok()) << stat.status().ToString();
  EXPECT_EQ(stat->total.user, 3710u);
  EXPECT_EQ(stat->total.nice, 0u);
  EXPECT_EQ(stat->total.system, 2501u);
  EXPECT_EQ(stat->total.idle, 102534u);
  EXPECT_EQ(stat->total.iowait, 601u);
  EXPECT_EQ(stat->total.irq, 0u);
  EXPECT_EQ(stat->total.softirq, 41u);
  EXPECT_EQ(stat->total.steal, 7u);
  EXPECT_EQ(stat->total.Total(), 109394u);
  EXPECT_EQ(stat->cpu_count, 2u);
  EXPECT_EQ(stat->ctxt, 438660u);
  EXPECT_EQ(stat->processes, 9575u);
  EXPECT_EQ(stat->procs_running, 1u);
  EXPECT_EQ(stat->procs_blocked, 0u);
}

TEST(ProcStatParserTest, LeavesGuestTimeOutOfTheTotalBecauseUserAlreadyCountsIt) {
  Result<ProcStat> stat = ParseProcStat("cpu  100 10 20 300 5 1 2 3 40 4\ncpu0 1 2 3 4\n");
  ASSERT_TRUE(stat.ok());
  EXPECT_EQ(stat->total.guest, 40u);
  EXPECT_EQ(stat->total.guest_nice, 4u);
  EXPECT_EQ(stat->total.Total(), 100u + 10 + 20 + 300 + 5 + 1 + 2 + 3);
  EXPECT_EQ(stat->cpu_count, 1u);
}

TEST(ProcStatParserTest, AcceptsOldKernelsWithOnlyFourCpuFields) {
  Result<ProcStat> stat = ParseProcStat("cpu 1 2 3 4\n");
  ASSERT_TRUE(stat.ok());
  EXPECT_EQ(stat->total.Total(), 10u);
}

TEST(ProcStatParserTest, RejectsTextWithoutTheAggregateCpuLine) {
  Result<ProcStat> stat = ParseProcStat("cpu0 1 2 3 4\nctxt 5\n");
  ASSERT_FALSE(stat.ok());
  EXPECT_EQ(stat.status().code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(ParseProcStat("cpu 1 2 x 4\n").ok());
  EXPECT_FALSE(ParseProcStat("").ok());
}

TEST(LoadAvgParserTest, ReadsLoadsAndSchedulingEntitiesFromCapturedFile) {
  Result<LoadAvg> load = ParseLoadAvg(Fixture("proc_loadavg_2"));
  ASSERT_TRUE(load.ok());
  EXPECT_DOUBLE_EQ(load->load1, 0.06);
  EXPECT_DOUBLE_EQ(load->load5, 0.06);
  EXPECT_DOUBLE_EQ(load->load15, 0.01);
  EXPECT_EQ(load->runnable, 2u);
  EXPECT_EQ(load->total_entities, 96u);
}

TEST(LoadAvgParserTest, RejectsMalformedText) {
  EXPECT_FALSE(ParseLoadAvg("0.1 0.2\n").ok());
  EXPECT_FALSE(ParseLoadAvg("0.1 0.2 0.3 12 99\n").ok());
  EXPECT_FALSE(ParseLoadAvg("").ok());
}

TEST(MemInfoParserTest, ConvertsCapturedKilobytesToBytes) {
  Result<MemInfo> mem = ParseMemInfo(Fixture("proc_meminfo"));
  ASSERT_TRUE(mem.ok());
  EXPECT_EQ(mem->total, 24684092ull * 1024);
  EXPECT_EQ(mem->free, 24077388ull * 1024);
  EXPECT_EQ(mem->available, 24295712ull * 1024);
  EXPECT_EQ(mem->buffers, 207720ull * 1024);
  EXPECT_EQ(mem->cached, 159516ull * 1024);
  EXPECT_EQ(mem->sreclaimable, 134144ull * 1024);
  EXPECT_EQ(mem->shmem, 8856ull * 1024);
  EXPECT_EQ(mem->dirty, 72ull * 1024);
  EXPECT_EQ(mem->swap_total, 0u);
  EXPECT_EQ(mem->swap_free, 0u);
}

TEST(MemInfoParserTest, EstimatesAvailableOnKernelsWithoutMemAvailable) {
  Result<MemInfo> mem =
      ParseMemInfo("MemTotal: 1000 kB\nMemFree: 100 kB\nBuffers: 20 kB\nCached: 30 kB\n");
  ASSERT_TRUE(mem.ok());
  EXPECT_EQ(mem->available, 150u * 1024);
}

TEST(MemInfoParserTest, RejectsTextWithoutMemTotal) {
  Result<MemInfo> mem = ParseMemInfo("MemFree: 100 kB\n");
  ASSERT_FALSE(mem.ok());
  EXPECT_EQ(mem.status().code(), StatusCode::kInvalidArgument);
}

TEST(DiskStatsParserTest, ReadsEveryDeviceOfCapturedFile) {
  uint32_t skipped = 0;
  std::vector<DiskStat> disks = ParseDiskStats(Fixture("proc_diskstats"), &skipped);
  EXPECT_EQ(skipped, 0u);
  ASSERT_EQ(disks.size(), 10u);  // loop0..7, vda, zram0
  const DiskStat& vda = disks[8];
  EXPECT_EQ(vda.name, "vda");
  EXPECT_EQ(vda.major, 254u);
  EXPECT_EQ(vda.minor, 0u);
  EXPECT_EQ(vda.reads, 88780u);
  EXPECT_EQ(vda.reads_merged, 27111u);
  EXPECT_EQ(vda.sectors_read, 3530746u);
  EXPECT_EQ(vda.read_ms, 12760u);
  EXPECT_EQ(vda.writes, 17305u);
  EXPECT_EQ(vda.writes_merged, 15259u);
  EXPECT_EQ(vda.sectors_written, 1195424u);
  EXPECT_EQ(vda.write_ms, 5954u);
  EXPECT_EQ(vda.in_flight, 0u);
  EXPECT_EQ(vda.io_ms, 8200u);
  EXPECT_EQ(vda.weighted_io_ms, 19200u);
  EXPECT_EQ(disks[9].name, "zram0");
}

TEST(DiskStatsParserTest, SkipsAndCountsMalformedLines) {
  uint32_t skipped = 0;
  std::vector<DiskStat> disks = ParseDiskStats(
      "   8       0 sda 1 2 3 4 5 6 7 8 9 10 11\n"
      "   8       1 sda1 1 2 x\n"
      "garbage\n"
      "\n",
      &skipped);
  ASSERT_EQ(disks.size(), 1u);
  EXPECT_EQ(disks[0].name, "sda");
  EXPECT_EQ(disks[0].weighted_io_ms, 11u);
  EXPECT_EQ(skipped, 2u);
}

TEST(DiskStatsParserTest, TellsPartitionsFromWholeDisks) {
  std::vector<DiskStat> all;
  for (const char* name : {"sda", "sda1", "sda15", "nvme0n1", "nvme0n1p1", "mmcblk0", "mmcblk0p2",
                           "dm-1", "dm-10", "vda", "vda3", "md0"}) {
    DiskStat d;
    d.name = name;
    all.push_back(d);
  }
  EXPECT_FALSE(IsPartition("sda", all));
  EXPECT_TRUE(IsPartition("sda1", all));
  EXPECT_TRUE(IsPartition("sda15", all));
  EXPECT_FALSE(IsPartition("nvme0n1", all));
  EXPECT_TRUE(IsPartition("nvme0n1p1", all));
  EXPECT_FALSE(IsPartition("mmcblk0", all));
  EXPECT_TRUE(IsPartition("mmcblk0p2", all));
  EXPECT_FALSE(IsPartition("dm-1", all));
  EXPECT_FALSE(IsPartition("dm-10", all));  // dm-1 + "0" is not a partition
  EXPECT_TRUE(IsPartition("vda3", all));
  EXPECT_FALSE(IsPartition("md0", all));
}

TEST(DiskStatsParserTest, ClassifiesVirtualAndStackedDevices) {
  EXPECT_TRUE(IsVirtualDevice("loop7"));
  EXPECT_TRUE(IsVirtualDevice("ram0"));
  EXPECT_TRUE(IsVirtualDevice("zram0"));
  EXPECT_FALSE(IsVirtualDevice("vda"));
  EXPECT_TRUE(IsStackedDevice("dm-0"));
  EXPECT_TRUE(IsStackedDevice("md127"));
  EXPECT_FALSE(IsStackedDevice("mmcblk0"));
  EXPECT_FALSE(IsStackedDevice("sda"));
}

TEST(NetDevParserTest, ReadsEveryInterfaceOfCapturedFile) {
  uint32_t skipped = 0;
  std::vector<NetDevStat> nets = ParseNetDev(Fixture("proc_net_dev"), &skipped);
  EXPECT_EQ(skipped, 0u);
  ASSERT_EQ(nets.size(), 4u);
  EXPECT_EQ(nets[0].name, "lo");
  EXPECT_EQ(nets[0].bytes_recv, 3267u);
  EXPECT_EQ(nets[0].packets_recv, 29u);
  EXPECT_EQ(nets[0].bytes_sent, 3267u);
  EXPECT_EQ(nets[0].packets_sent, 29u);
  EXPECT_EQ(nets[1].name, "ifb0");
  EXPECT_EQ(nets[2].name, "ifb1");
  const NetDevStat& eth0 = nets[3];
  EXPECT_EQ(eth0.name, "eth0");
  EXPECT_EQ(eth0.bytes_recv, 51377909u);
  EXPECT_EQ(eth0.packets_recv, 1046u);
  EXPECT_EQ(eth0.bytes_sent, 52759u);
  EXPECT_EQ(eth0.packets_sent, 624u);
  EXPECT_EQ(eth0.errin + eth0.errout + eth0.dropin + eth0.dropout, 0u);
}

TEST(NetDevParserTest, ReadsErrorAndDropColumnsAndSkipsMalformedLines) {
  uint32_t skipped = 0;
  std::vector<NetDevStat> nets = ParseNetDev(
      "Inter-|   Receive\n face |bytes\n"
      "  eth1:100 2 3 4 0 0 0 0 200 5 6 7 0 0 0 0\n"
      "  bad: 1 2\n",
      &skipped);
  ASSERT_EQ(nets.size(), 1u);
  EXPECT_EQ(nets[0].name, "eth1");
  EXPECT_EQ(nets[0].bytes_recv, 100u);
  EXPECT_EQ(nets[0].errin, 3u);
  EXPECT_EQ(nets[0].dropin, 4u);
  EXPECT_EQ(nets[0].bytes_sent, 200u);
  EXPECT_EQ(nets[0].packets_sent, 5u);
  EXPECT_EQ(nets[0].errout, 6u);
  EXPECT_EQ(nets[0].dropout, 7u);
  EXPECT_EQ(skipped, 1u);
}

TEST(PressureParserTest, ReadsSomeAndFullLinesOfCapturedFiles) {
  Result<PressureStat> io = ParsePressure(Fixture("pressure_io"));
  ASSERT_TRUE(io.ok());
  EXPECT_DOUBLE_EQ(io->some.avg10, 0.51);
  EXPECT_DOUBLE_EQ(io->some.avg60, 2.13);
  EXPECT_DOUBLE_EQ(io->some.avg300, 0.97);
  EXPECT_EQ(io->some.total_us, 5979925u);
  ASSERT_TRUE(io->full.has_value());
  EXPECT_DOUBLE_EQ(io->full->avg60, 2.11);
  EXPECT_EQ(io->full->total_us, 5787385u);
  Result<PressureStat> cpu = ParsePressure(Fixture("pressure_cpu"));
  ASSERT_TRUE(cpu.ok());
  EXPECT_DOUBLE_EQ(cpu->some.avg10, 0.07);
  EXPECT_EQ(cpu->some.total_us, 5461368u);
}

TEST(PressureParserTest, AcceptsCpuPressureWithoutFullLineOfOlderKernels) {
  Result<PressureStat> cpu = ParsePressure("some avg10=12.50 avg60=3.00 avg300=1.00 total=42\n");
  ASSERT_TRUE(cpu.ok());
  EXPECT_DOUBLE_EQ(cpu->some.avg10, 12.5);
  EXPECT_FALSE(cpu->full.has_value());
}

TEST(PressureParserTest, RejectsMalformedOrMissingSomeLine) {
  EXPECT_FALSE(ParsePressure("full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n").ok());
  EXPECT_FALSE(ParsePressure("some avg10=x avg60=0.00 avg300=0.00 total=0\n").ok());
  EXPECT_FALSE(ParsePressure("some avg10=1.0\n").ok());
}

TEST(PidStatParserTest, ReadsCpuTicksStartTimeAndRssOfCapturedFile) {
  Result<PidStat> stat = ParsePidStat(Fixture("pid_stat_2"));
  ASSERT_TRUE(stat.ok()) << stat.status().ToString();
  EXPECT_EQ(stat->pid, 9659);
  EXPECT_EQ(stat->comm, "sh");
  EXPECT_EQ(stat->state, 'S');
  EXPECT_EQ(stat->utime_ticks, 19u);
  EXPECT_EQ(stat->stime_ticks, 0u);
  EXPECT_EQ(stat->start_time_ticks, 55623u);
  EXPECT_EQ(stat->rss_pages, 367u);
}

TEST(PidStatParserTest, KeepsSpacesAndParenthesesInsideTheCommandName) {
  Result<PidStat> stat = ParsePidStat(
      "42 (postgres: a) b) R 1 2 3 4 5 6 7 8 9 10 111 222 13 14 15 16 17 18 999 20 77 22\n");
  ASSERT_TRUE(stat.ok()) << stat.status().ToString();
  EXPECT_EQ(stat->pid, 42);
  EXPECT_EQ(stat->comm, "postgres: a) b");
  EXPECT_EQ(stat->state, 'R');
  EXPECT_EQ(stat->utime_ticks, 111u);
  EXPECT_EQ(stat->stime_ticks, 222u);
  EXPECT_EQ(stat->start_time_ticks, 999u);
  EXPECT_EQ(stat->rss_pages, 77u);
}

TEST(PidStatParserTest, RejectsCutOrMalformedLines) {
  EXPECT_FALSE(ParsePidStat("42 (sh) S 1 2 3\n").ok());
  EXPECT_FALSE(ParsePidStat("42 sh S 1 2 3\n").ok());
  EXPECT_FALSE(ParsePidStat("").ok());
  EXPECT_FALSE(
      ParsePidStat("42 (sh) S 1 2 3 4 5 6 7 8 9 10 x 222 13 14 15 16 17 18 999 20 77 22\n").ok());
}

TEST(PidIoParserTest, ReadsByteCountersOfCapturedFile) {
  Result<PidIo> io = ParsePidIo(Fixture("pid_io_2"));
  ASSERT_TRUE(io.ok());
  EXPECT_EQ(io->rchar, 35775u);
  EXPECT_EQ(io->wchar, 3891u);
  EXPECT_EQ(io->read_bytes, 4096u);
  EXPECT_EQ(io->write_bytes, 16384u);
  EXPECT_EQ(io->cancelled_write_bytes, 12288u);
}

TEST(PidIoParserTest, RejectsTextWithoutStorageByteCounters) {
  EXPECT_FALSE(ParsePidIo("rchar: 1\nwchar: 2\n").ok());
}

TEST(CountPidEntriesTest, CountsOnlyAllDigitNames) {
  EXPECT_EQ(CountPidEntries({"1", "10", "self", "stat", "1185", "thread-self", "9x"}), 3u);
}

}  // namespace
}  // namespace pgagent::system
