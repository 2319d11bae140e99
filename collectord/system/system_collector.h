// SystemCollector: one host sample per Collect() from /proc and statvfs, as
// pgagent.v1.SystemMetrics (field names of the Python agent: cpu.percent, cpu.load_avg_1m,
// memory.available, disk_io.read_bytes, network_io.bytes_sent, disk_usage).
//
// Counters (CPU ticks, disk and network counters, context switches, forks) are reported as
// deltas and rates against the previous Collect(). The first sample is a baseline: gauges
// (memory, load, PSI, disk usage, process counts, in-flight I/O) are filled, interval_s is 0
// and every delta, rate and CPU percentage is 0. No call blocks to wait for a second
// reading.
//
// Counter rules:
//  - a CPU field that went backwards (the kernel's iowait does) counts 0 for the interval;
//  - a disk or interface counter that went backwards was reset (driver reload, device
//    re-created): the device's deltas are its current values, counted from zero during the
//    interval, and stats().counter_resets grows; never a negative or wrapped-around value;
//  - a device or interface that appeared since the previous sample was created during the
//    interval: its deltas are its current values; one that disappeared is dropped.
//
// Devices: partitions, loop, ram and zram devices are skipped unless
// SystemOptions::include_partitions / include_virtual_devices. dm-* and md* devices are
// listed but kept out of disk_io totals (their I/O is also counted on the devices under
// them). Bytes = sectors * 512 (diskstats always counts 512-byte sectors).
//
// Process count = numeric entries of /proc (one getdents pass); thread count = the 4th field
// of /proc/loadavg ("running/total": total kernel scheduling entities, i.e. all threads),
// which costs nothing extra because /proc/loadavg is read anyway. Reading every
// /proc/<pid>/status for its Threads: line would cost one file per process.
//
// Errors: /proc/stat, /proc/meminfo and /proc/loadavg are required: when one cannot be read
// or parsed, Collect() returns kUnavailable (or kInvalidArgument for unparsable text) with
// the path in the message, and keeps its previous counters. Everything else is optional:
// /proc/pressure/* missing (kernel without PSI) leaves `pressure` unset silently; any other
// optional failure leaves its fields empty, adds "<source>: <reason>" to
// SystemMetrics.errors and grows stats().optional_source_errors.
//
// Thread-safety: not thread-safe. The Scheduler calls Collect() from its thread; stats() may
// be read from the same thread. The ProcFs and Clock must outlive the collector.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "collectord/collector.h"
#include "collectord/system/proc_fs.h"
#include "collectord/system/proc_parsers.h"
#include "common/clock.h"

namespace pgagent::system {

struct SystemOptions {
  // PostgreSQL data directory and log directory; reported in disk_usage with labels
  // "data_directory" / "log_directory" when not empty. "/" is always reported as "root".
  std::string data_directory;
  std::string log_directory;
  // Report partitions (sda1, nvme0n1p1) besides whole disks.
  bool include_partitions = false;
  // Report loop, ram and zram devices.
  bool include_virtual_devices = false;
};

class SystemCollector final : public Collector {
 public:
  struct Stats {
    uint64_t samples = 0;                 // successful Collect() calls
    uint64_t optional_source_errors = 0;  // optional sources that could not be read
    uint64_t malformed_lines = 0;         // diskstats / net/dev lines skipped
    uint64_t counter_resets = 0;          // devices/interfaces whose counters went backwards
  };

  SystemCollector(SystemOptions options, const ProcFs& fs, const Clock& clock);
  SystemCollector(const SystemCollector&) = delete;
  SystemCollector& operator=(const SystemCollector&) = delete;

  std::string_view Name() const override { return "system_metrics"; }
  // Fills record.mutable_system(); see the header comment for errors.
  Status Collect(pgagent::v1::Record& record) override;

  const Stats& stats() const { return stats_; }

 private:
  // What the previous successful Collect() saw.
  struct Previous {
    std::chrono::steady_clock::time_point at;
    ProcStat stat;
    std::optional<std::map<std::string, DiskStat>> disks;   // unset: diskstats unreadable
    std::optional<std::map<std::string, NetDevStat>> nets;  // unset: net/dev unreadable
  };

  void FillCpu(const ProcStat& stat, const LoadAvg& load, double interval_s,
               pgagent::v1::CpuMetrics& out) const;
  std::optional<std::map<std::string, DiskStat>> FillDiskIo(double interval_s,
                                                            pgagent::v1::SystemMetrics& out);
  std::optional<std::map<std::string, NetDevStat>> FillNetworkIo(double interval_s,
                                                                 pgagent::v1::SystemMetrics& out);
  void FillDiskUsage(pgagent::v1::SystemMetrics& out);
  void FillPressure(pgagent::v1::SystemMetrics& out);
  void FillProcesses(const ProcStat& stat, const LoadAvg& load, double interval_s,
                     pgagent::v1::SystemMetrics& out);
  void AddError(std::string_view source, const Status& status, pgagent::v1::SystemMetrics& out);

  const SystemOptions options_;
  const ProcFs& fs_;
  const Clock& clock_;
  std::optional<Previous> previous_;
  Stats stats_;
};

// Fills `out` from /proc/meminfo values (used = total - available, cached includes
// SReclaimable as in psutil).
void FillMemory(const MemInfo& mem, pgagent::v1::MemoryMetrics& out);

}  // namespace pgagent::system
