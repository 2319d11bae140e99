#include "collectord/system/system_collector.h"

#include <algorithm>
#include <utility>

namespace pgagent::system {
namespace {

constexpr uint64_t kSectorBytes = 512;

// Delta of a counter that only grows; a counter that went backwards counts 0.
uint64_t ClampedDelta(uint64_t now, uint64_t before) { return now >= before ? now - before : 0; }

double Percent(uint64_t part, uint64_t whole) {
  return whole == 0 ? 0.0 : 100.0 * static_cast<double>(part) / static_cast<double>(whole);
}

double Rate(uint64_t delta, double interval_s) {
  return interval_s > 0 ? static_cast<double>(delta) / interval_s : 0.0;
}

// Reads a required file and parses it; errors name the path.
template <typename T, typename Parser>
Result<T> ReadRequired(const ProcFs& fs, std::string_view path, Parser parse) {
  Result<std::string> text = fs.ReadFile(path);
  if (!text.ok()) {
    return UnavailableError("read " + std::string(path) + ": " + text.status().ToString());
  }
  return parse(*text);
}

// Deltas of one device between two samples. `before` is null for a device created during
// the interval; a device whose counters went backwards was reset: both count from zero.
struct DiskDelta {
  uint64_t reads = 0, writes = 0, sectors_read = 0, sectors_written = 0, read_ms = 0, write_ms = 0,
           io_ms = 0;
  bool reset = false;
};

DiskDelta ComputeDiskDelta(const DiskStat& now, const DiskStat* before) {
  DiskStat zero;
  const bool reset =
      before != nullptr &&
      (now.reads < before->reads || now.writes < before->writes ||
       now.sectors_read < before->sectors_read || now.sectors_written < before->sectors_written ||
       now.read_ms < before->read_ms || now.write_ms < before->write_ms ||
       now.io_ms < before->io_ms);
  const DiskStat& base = (before == nullptr || reset) ? zero : *before;
  DiskDelta d;
  d.reads = now.reads - base.reads;
  d.writes = now.writes - base.writes;
  d.sectors_read = now.sectors_read - base.sectors_read;
  d.sectors_written = now.sectors_written - base.sectors_written;
  d.read_ms = now.read_ms - base.read_ms;
  d.write_ms = now.write_ms - base.write_ms;
  d.io_ms = now.io_ms - base.io_ms;
  d.reset = reset;
  return d;
}

// Same rule as ComputeDiskDelta for one network interface.
NetDevStat ComputeNetDelta(const NetDevStat& now, const NetDevStat* before, bool& reset) {
  reset = before != nullptr &&
          (now.bytes_recv < before->bytes_recv || now.packets_recv < before->packets_recv ||
           now.errin < before->errin || now.dropin < before->dropin ||
           now.bytes_sent < before->bytes_sent || now.packets_sent < before->packets_sent ||
           now.errout < before->errout || now.dropout < before->dropout);
  if (before == nullptr || reset) return now;
  NetDevStat d = now;
  d.bytes_recv -= before->bytes_recv;
  d.packets_recv -= before->packets_recv;
  d.errin -= before->errin;
  d.dropin -= before->dropin;
  d.bytes_sent -= before->bytes_sent;
  d.packets_sent -= before->packets_sent;
  d.errout -= before->errout;
  d.dropout -= before->dropout;
  return d;
}

void FillDeviceDelta(const DiskDelta& d, double interval_s, pgagent::v1::DiskDeviceIo& dev) {
  const double interval_ms = interval_s * 1000.0;
  dev.set_read_count(d.reads);
  dev.set_write_count(d.writes);
  dev.set_read_bytes(d.sectors_read * kSectorBytes);
  dev.set_write_bytes(d.sectors_written * kSectorBytes);
  dev.set_read_time_ms(d.read_ms);
  dev.set_write_time_ms(d.write_ms);
  dev.set_busy_time_ms(d.io_ms);
  dev.set_busy_percent(
      interval_ms > 0 ? std::min(100.0, 100.0 * static_cast<double>(d.io_ms) / interval_ms) : 0.0);
  dev.set_read_bytes_per_s(Rate(dev.read_bytes(), interval_s));
  dev.set_write_bytes_per_s(Rate(dev.write_bytes(), interval_s));
  dev.set_read_iops(Rate(d.reads, interval_s));
  dev.set_write_iops(Rate(d.writes, interval_s));
}

void AddDeviceToTotals(const pgagent::v1::DiskDeviceIo& dev, pgagent::v1::DiskIoMetrics& io) {
  io.set_read_count(io.read_count() + dev.read_count());
  io.set_write_count(io.write_count() + dev.write_count());
  io.set_read_bytes(io.read_bytes() + dev.read_bytes());
  io.set_write_bytes(io.write_bytes() + dev.write_bytes());
  io.set_read_time_ms(io.read_time_ms() + dev.read_time_ms());
  io.set_write_time_ms(io.write_time_ms() + dev.write_time_ms());
}

void AddInterfaceDelta(const NetDevStat& d, pgagent::v1::NetInterfaceIo& row,
                       pgagent::v1::NetworkIoMetrics& net) {
  row.set_bytes_sent(d.bytes_sent);
  row.set_bytes_recv(d.bytes_recv);
  row.set_packets_sent(d.packets_sent);
  row.set_packets_recv(d.packets_recv);
  row.set_errin(d.errin);
  row.set_errout(d.errout);
  row.set_dropin(d.dropin);
  row.set_dropout(d.dropout);
  net.set_bytes_sent(net.bytes_sent() + d.bytes_sent);
  net.set_bytes_recv(net.bytes_recv() + d.bytes_recv);
  net.set_packets_sent(net.packets_sent() + d.packets_sent);
  net.set_packets_recv(net.packets_recv() + d.packets_recv);
  net.set_errin(net.errin() + d.errin);
  net.set_errout(net.errout() + d.errout);
  net.set_dropin(net.dropin() + d.dropin);
  net.set_dropout(net.dropout() + d.dropout);
}

void FillPressureLine(const PressureLineStat& in, pgagent::v1::PressureLine& out) {
  out.set_avg10(in.avg10);
  out.set_avg60(in.avg60);
  out.set_avg300(in.avg300);
  out.set_total_us(in.total_us);
}

}  // namespace

SystemCollector::SystemCollector(SystemOptions options, const ProcFs& fs, const Clock& clock)
    : options_(std::move(options)), fs_(fs), clock_(clock) {}

Status SystemCollector::Collect(pgagent::v1::Record& record) {
  const auto now = clock_.Monotonic();
  PGAGENT_ASSIGN_OR_RETURN(ProcStat stat, ReadRequired<ProcStat>(fs_, "/proc/stat", ParseProcStat));
  PGAGENT_ASSIGN_OR_RETURN(MemInfo mem, ReadRequired<MemInfo>(fs_, "/proc/meminfo", ParseMemInfo));
  PGAGENT_ASSIGN_OR_RETURN(LoadAvg load, ReadRequired<LoadAvg>(fs_, "/proc/loadavg", ParseLoadAvg));

  double interval_s = 0;
  if (previous_.has_value()) {
    interval_s = std::chrono::duration<double>(now - previous_->at).count();
    if (interval_s < 0) interval_s = 0;
  }
  pgagent::v1::SystemMetrics& out = *record.mutable_system();
  out.set_interval_s(interval_s);
  FillCpu(stat, load, interval_s, *out.mutable_cpu());
  FillMemory(mem, *out.mutable_memory());
  auto disks = FillDiskIo(interval_s, out);
  auto nets = FillNetworkIo(interval_s, out);
  FillDiskUsage(out);
  FillPressure(out);
  FillProcesses(stat, load, interval_s, out);

  previous_ = Previous{now, stat, std::move(disks), std::move(nets)};
  ++stats_.samples;
  return Status::Ok();
}

void SystemCollector::FillCpu(const ProcStat& stat, const LoadAvg& load, double interval_s,
                              pgagent::v1::CpuMetrics& out) const {
  const uint32_t cores = std::max<uint32_t>(stat.cpu_count, 1);
  out.set_core_count(cores);
  out.set_load_avg_1m(load.load1);
  out.set_load_avg_5m(load.load5);
  out.set_load_avg_15m(load.load15);
  out.set_load_per_core(load.load1 / cores);
  if (!previous_.has_value()) return;
  const CpuTimes& a = previous_->stat.total;
  const CpuTimes& b = stat.total;
  CpuTimes d;
  d.user = ClampedDelta(b.user, a.user);
  d.nice = ClampedDelta(b.nice, a.nice);
  d.system = ClampedDelta(b.system, a.system);
  d.idle = ClampedDelta(b.idle, a.idle);
  d.iowait = ClampedDelta(b.iowait, a.iowait);
  d.irq = ClampedDelta(b.irq, a.irq);
  d.softirq = ClampedDelta(b.softirq, a.softirq);
  d.steal = ClampedDelta(b.steal, a.steal);
  d.guest = ClampedDelta(b.guest, a.guest);
  const uint64_t total = d.Total();
  out.set_user(Percent(d.user, total));
  out.set_nice(Percent(d.nice, total));
  out.set_system(Percent(d.system, total));
  out.set_idle(Percent(d.idle, total));
  out.set_iowait(Percent(d.iowait, total));
  out.set_irq(Percent(d.irq, total));
  out.set_softirq(Percent(d.softirq, total));
  out.set_steal(Percent(d.steal, total));
  out.set_guest(Percent(d.guest, total));
  out.set_percent(total == 0 ? 0.0 : Percent(total - d.idle - d.iowait, total));
  out.set_ctxt_per_s(Rate(ClampedDelta(stat.ctxt, previous_->stat.ctxt), interval_s));
}

void FillMemory(const MemInfo& mem, pgagent::v1::MemoryMetrics& out) {
  const uint64_t available = std::min(mem.available, mem.total);
  const uint64_t swap_free = std::min(mem.swap_free, mem.swap_total);
  out.set_total(mem.total);
  out.set_available(available);
  out.set_used(mem.total - available);
  out.set_free(mem.free);
  out.set_buffers(mem.buffers);
  out.set_cached(mem.cached + mem.sreclaimable);
  out.set_percent(Percent(mem.total - available, mem.total));
  out.set_swap_total(mem.swap_total);
  out.set_swap_free(swap_free);
  out.set_swap_used(mem.swap_total - swap_free);
  out.set_swap_percent(Percent(mem.swap_total - swap_free, mem.swap_total));
  out.set_dirty(mem.dirty);
  out.set_shmem(mem.shmem);
}

std::optional<std::map<std::string, DiskStat>> SystemCollector::FillDiskIo(
    double interval_s, pgagent::v1::SystemMetrics& out) {
  Result<std::string> text = fs_.ReadFile("/proc/diskstats");
  if (!text.ok()) {
    AddError("disk_io", text.status(), out);
    return std::nullopt;
  }
  uint32_t skipped = 0;
  const std::vector<DiskStat> all = ParseDiskStats(*text, &skipped);
  stats_.malformed_lines += skipped;
  const std::map<std::string, DiskStat>* before =
      previous_.has_value() && previous_->disks.has_value() ? &*previous_->disks : nullptr;
  std::map<std::string, DiskStat> seen;
  pgagent::v1::DiskIoMetrics& io = *out.mutable_disk_io();
  for (const DiskStat& disk : all) {
    if (!options_.include_virtual_devices && IsVirtualDevice(disk.name)) continue;
    if (!options_.include_partitions && IsPartition(disk.name, all)) continue;
    seen.emplace(disk.name, disk);
    pgagent::v1::DiskDeviceIo& dev = *io.add_devices();
    dev.set_device(disk.name);
    dev.set_in_flight(disk.in_flight);
    if (before == nullptr) continue;  // baseline: no deltas yet
    const auto it = before->find(disk.name);
    const DiskDelta d = ComputeDiskDelta(disk, it == before->end() ? nullptr : &it->second);
    if (d.reset) ++stats_.counter_resets;
    FillDeviceDelta(d, interval_s, dev);
    if (!IsStackedDevice(disk.name)) AddDeviceToTotals(dev, io);
  }
  io.set_read_bytes_per_s(Rate(io.read_bytes(), interval_s));
  io.set_write_bytes_per_s(Rate(io.write_bytes(), interval_s));
  return seen;
}

std::optional<std::map<std::string, NetDevStat>> SystemCollector::FillNetworkIo(
    double interval_s, pgagent::v1::SystemMetrics& out) {
  Result<std::string> text = fs_.ReadFile("/proc/net/dev");
  if (!text.ok()) {
    AddError("network_io", text.status(), out);
    return std::nullopt;
  }
  uint32_t skipped = 0;
  std::vector<NetDevStat> all = ParseNetDev(*text, &skipped);
  stats_.malformed_lines += skipped;
  const std::map<std::string, NetDevStat>* before =
      previous_.has_value() && previous_->nets.has_value() ? &*previous_->nets : nullptr;
  std::map<std::string, NetDevStat> seen;
  pgagent::v1::NetworkIoMetrics& net = *out.mutable_network_io();
  for (NetDevStat& iface : all) {
    pgagent::v1::NetInterfaceIo& row = *net.add_interfaces();
    row.set_name(iface.name);
    if (before != nullptr) {
      const auto it = before->find(iface.name);
      bool reset = false;
      const NetDevStat d =
          ComputeNetDelta(iface, it == before->end() ? nullptr : &it->second, reset);
      if (reset) ++stats_.counter_resets;
      AddInterfaceDelta(d, row, net);
    }
    seen.emplace(iface.name, std::move(iface));
  }
  net.set_bytes_sent_per_s(Rate(net.bytes_sent(), interval_s));
  net.set_bytes_recv_per_s(Rate(net.bytes_recv(), interval_s));
  return seen;
}

void SystemCollector::FillDiskUsage(pgagent::v1::SystemMetrics& out) {
  const std::pair<std::string_view, std::string_view> targets[] = {
      {"data_directory", options_.data_directory},
      {"log_directory", options_.log_directory},
      {"root", "/"}};
  for (const auto& [label, path] : targets) {
    if (path.empty()) continue;
    Result<FsStats> st = fs_.StatFs(path);
    if (!st.ok()) {
      AddError("disk_usage " + std::string(label), st.status(), out);
      continue;
    }
    const uint64_t unit = st->fragment_size;
    const uint64_t used = (st->blocks - std::min(st->blocks_free, st->blocks)) * unit;
    const uint64_t free = st->blocks_avail * unit;
    pgagent::v1::DiskUsage& usage = *out.add_disk_usage();
    usage.set_label(std::string(label));
    usage.set_path(std::string(path));
    usage.set_total(st->blocks * unit);
    usage.set_used(used);
    usage.set_free(free);
    // As psutil and df: blocks reserved for root count neither as used nor as free.
    usage.set_percent(Percent(used, used + free));
  }
}

void SystemCollector::FillPressure(pgagent::v1::SystemMetrics& out) {
  struct Source {
    std::string_view path;
    pgagent::v1::Pressure* (pgagent::v1::PressureMetrics::*mutable_field)();
  };
  const Source sources[] = {
      {"/proc/pressure/cpu", &pgagent::v1::PressureMetrics::mutable_cpu},
      {"/proc/pressure/io", &pgagent::v1::PressureMetrics::mutable_io},
      {"/proc/pressure/memory", &pgagent::v1::PressureMetrics::mutable_memory}};
  for (const Source& source : sources) {
    Result<std::string> text = fs_.ReadFile(source.path);
    if (!text.ok()) {
      // No PSI in this kernel (or psi=0 on its command line): nothing to report.
      if (text.status().code() != StatusCode::kNotFound) {
        AddError(source.path, text.status(), out);
      }
      continue;
    }
    Result<PressureStat> parsed = ParsePressure(*text);
    if (!parsed.ok()) {
      AddError(source.path, parsed.status(), out);
      continue;
    }
    pgagent::v1::Pressure& p = *(out.mutable_pressure()->*source.mutable_field)();
    FillPressureLine(parsed->some, *p.mutable_some());
    if (parsed->full.has_value()) FillPressureLine(*parsed->full, *p.mutable_full());
  }
}

void SystemCollector::FillProcesses(const ProcStat& stat, const LoadAvg& load, double interval_s,
                                    pgagent::v1::SystemMetrics& out) {
  pgagent::v1::ProcessMetrics& p = *out.mutable_processes();
  p.set_threads(load.total_entities);
  p.set_running(stat.procs_running);
  p.set_blocked(stat.procs_blocked);
  if (previous_.has_value()) {
    p.set_forks_per_s(Rate(ClampedDelta(stat.processes, previous_->stat.processes), interval_s));
  }
  Result<std::vector<std::string>> names = fs_.ListDir("/proc");
  if (!names.ok()) {
    AddError("processes", names.status(), out);
    return;
  }
  p.set_processes(CountPidEntries(*names));
}

void SystemCollector::AddError(std::string_view source, const Status& status,
                               pgagent::v1::SystemMetrics& out) {
  ++stats_.optional_source_errors;
  out.add_errors(std::string(source) + ": " + status.ToString());
}

}  // namespace pgagent::system
