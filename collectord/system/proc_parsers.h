// Pure parsers for the /proc text that collectord/system reads. Each takes the whole file
// content and returns plain structs; none touches the file system, so tests feed them
// fixture text. Units are the kernel's (clock ticks, sectors, kB) unless a field says
// otherwise; conversion to bytes/percent happens in SystemCollector.
// Thread-safety: free functions without state; safe from any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace pgagent::system {

// One "cpu" line of /proc/stat, in clock ticks. user includes guest and nice includes
// guest_nice (the kernel counts them twice), so Total() leaves guest fields out.
struct CpuTimes {
  uint64_t user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0,
           guest = 0, guest_nice = 0;
  uint64_t Total() const { return user + nice + system + idle + iowait + irq + softirq + steal; }
};

struct ProcStat {
  CpuTimes total;          // the aggregate "cpu" line
  uint32_t cpu_count = 0;  // number of "cpuN" lines = online cores
  uint64_t ctxt = 0;       // context switches since boot
  uint64_t processes = 0;  // forks since boot
  uint32_t procs_running = 0;
  uint32_t procs_blocked = 0;
};
// kInvalidArgument when the aggregate "cpu" line is missing or malformed.
Result<ProcStat> ParseProcStat(std::string_view text);

// /proc/loadavg: "0.07 0.05 0.01 1/97 9136". total_entities counts every kernel scheduling
// entity (all threads of all processes, kernel threads included).
struct LoadAvg {
  double load1 = 0, load5 = 0, load15 = 0;
  uint32_t runnable = 0;
  uint32_t total_entities = 0;
};
// kInvalidArgument when any of the first four fields is malformed.
Result<LoadAvg> ParseLoadAvg(std::string_view text);

// /proc/meminfo, converted to bytes. available is MemAvailable, or on kernels without it
// (< 3.14) the estimate free + buffers + cached.
struct MemInfo {
  uint64_t total = 0, free = 0, available = 0, buffers = 0, cached = 0, sreclaimable = 0, shmem = 0,
           dirty = 0, swap_total = 0, swap_free = 0;
};
// kInvalidArgument when MemTotal is missing.
Result<MemInfo> ParseMemInfo(std::string_view text);

// One line of /proc/diskstats (fields 4..14; later fields are not used).
struct DiskStat {
  uint32_t major = 0, minor = 0;
  std::string name;
  uint64_t reads = 0, reads_merged = 0, sectors_read = 0, read_ms = 0;
  uint64_t writes = 0, writes_merged = 0, sectors_written = 0, write_ms = 0;
  uint64_t in_flight = 0, io_ms = 0, weighted_io_ms = 0;
};
// Malformed lines are skipped and counted in *skipped_lines (when not null); never fails.
std::vector<DiskStat> ParseDiskStats(std::string_view text, uint32_t* skipped_lines = nullptr);

// Classification used to skip devices by default.
// A partition is a device whose name is another listed device's name plus a number
// ("sda" -> "sda1", "vda" -> "vda2") or plus "p" and a number when the disk name ends in a
// digit ("nvme0n1" -> "nvme0n1p1", "mmcblk0" -> "mmcblk0p1"). Names only: no sysfs read.
bool IsPartition(std::string_view name, const std::vector<DiskStat>& all);
// loop*, ram*, zram*: memory- or file-backed, not storage.
bool IsVirtualDevice(std::string_view name);
// dm-*, md*: stacked on other devices, whose I/O they repeat; listed per device but kept
// out of the totals so no I/O is counted twice.
bool IsStackedDevice(std::string_view name);

// One interface of /proc/net/dev.
struct NetDevStat {
  std::string name;
  uint64_t bytes_recv = 0, packets_recv = 0, errin = 0, dropin = 0;
  uint64_t bytes_sent = 0, packets_sent = 0, errout = 0, dropout = 0;
};
// The two header lines and malformed lines are skipped (malformed ones counted in
// *skipped_lines when not null); never fails.
std::vector<NetDevStat> ParseNetDev(std::string_view text, uint32_t* skipped_lines = nullptr);

// /proc/pressure/<resource>.
struct PressureLineStat {
  double avg10 = 0, avg60 = 0, avg300 = 0;
  uint64_t total_us = 0;
};
struct PressureStat {
  PressureLineStat some;
  std::optional<PressureLineStat> full;  // absent for cpu before Linux 5.13
};
// kInvalidArgument when the "some" line is missing or malformed.
Result<PressureStat> ParsePressure(std::string_view text);

// /proc/<pid>/stat. comm may hold spaces and parentheses; parsing anchors on the last ')'.
struct PidStat {
  int32_t pid = 0;
  std::string comm;
  char state = '?';
  uint64_t utime_ticks = 0, stime_ticks = 0;
  uint64_t start_time_ticks = 0;  // since boot: tells a reused pid from the old process
  uint64_t rss_pages = 0;
};
// kInvalidArgument when the line is cut or malformed.
Result<PidStat> ParsePidStat(std::string_view text);

// /proc/<pid>/io (bytes).
struct PidIo {
  uint64_t rchar = 0, wchar = 0, read_bytes = 0, write_bytes = 0, cancelled_write_bytes = 0;
};
// kInvalidArgument when read_bytes or write_bytes is missing.
Result<PidIo> ParsePidIo(std::string_view text);

// Number of entries of a /proc listing that are all digits (= processes).
uint32_t CountPidEntries(const std::vector<std::string>& names);

}  // namespace pgagent::system
