#include "collectord/system/backend_resources.h"

#include <unistd.h>

#include <string>

#include "collectord/system/proc_parsers.h"

namespace pgagent::system {
namespace {

uint64_t ClampedDelta(uint64_t now, uint64_t before) { return now >= before ? now - before : 0; }

}  // namespace

BackendSamplerOptions HostBackendSamplerOptions() {
  BackendSamplerOptions options;
  const long ticks = ::sysconf(_SC_CLK_TCK);
  const long page = ::sysconf(_SC_PAGESIZE);
  if (ticks > 0) options.clock_ticks_per_s = ticks;
  if (page > 0) options.page_size = page;
  return options;
}

BackendResourceSampler::BackendResourceSampler(const ProcFs& fs, const Clock& clock,
                                               BackendSamplerOptions options)
    : fs_(fs), clock_(clock), options_(options) {
  if (options_.clock_ticks_per_s <= 0) options_.clock_ticks_per_s = 100;
  if (options_.page_size <= 0) options_.page_size = 4096;
}

std::unordered_map<int32_t, pgagent::v1::BackendResources> BackendResourceSampler::Sample(
    const std::vector<int32_t>& pids) {
  const auto now = clock_.Monotonic();
  std::unordered_map<int32_t, pgagent::v1::BackendResources> out;
  for (int32_t pid : pids) {
    if (pid <= 0 || out.count(pid) != 0) continue;
    Entry& entry = entries_[pid];
    entry.last_asked = now;
    bool forget = false;
    std::optional<pgagent::v1::BackendResources> resources = SampleOne(pid, entry, now, forget);
    if (forget) {
      entries_.erase(pid);
      continue;
    }
    if (resources.has_value()) out.emplace(pid, std::move(*resources));
  }
  ForgetStale(now);
  return out;
}

std::optional<pgagent::v1::BackendResources> BackendResourceSampler::SampleOne(
    int32_t pid, Entry& entry, std::chrono::steady_clock::time_point now, bool& forget) {
  const std::string dir = "/proc/" + std::to_string(pid);
  Result<std::string> stat_text = fs_.ReadFile(dir + "/stat");
  if (!stat_text.ok()) {
    if (stat_text.status().code() == StatusCode::kPermissionDenied) {
      if (!entry.stat_denied_counted) ++stats_.stat_permission_denied_pids;
      entry.stat_denied_counted = true;
      return std::nullopt;
    }
    ++stats_.vanished_pids;
    forget = true;
    return std::nullopt;
  }
  Result<PidStat> stat = ParsePidStat(*stat_text);
  if (!stat.ok()) {
    ++stats_.malformed;
    return std::nullopt;
  }
  const std::optional<PidIo> io = ReadIo(dir, entry);
  // Deltas only against a reading of the same process (a reused pid has another start time).
  const bool baseline = !entry.have_reading || entry.start_time_ticks != stat->start_time_ticks;
  const double ms_per_tick = 1000.0 / static_cast<double>(options_.clock_ticks_per_s);
  pgagent::v1::BackendResources r;
  r.set_rss_bytes(stat->rss_pages * static_cast<uint64_t>(options_.page_size));
  if (!baseline) {
    r.set_interval_ms(std::chrono::duration<double, std::milli>(now - entry.read_at).count());
    r.set_cpu_user_ms(static_cast<double>(ClampedDelta(stat->utime_ticks, entry.utime_ticks)) *
                      ms_per_tick);
    r.set_cpu_system_ms(static_cast<double>(ClampedDelta(stat->stime_ticks, entry.stime_ticks)) *
                        ms_per_tick);
  }
  if (io.has_value()) {
    const bool io_baseline = baseline || !entry.have_io;
    r.set_read_bytes(io_baseline ? 0 : ClampedDelta(io->read_bytes, entry.read_bytes));
    r.set_write_bytes(io_baseline ? 0 : ClampedDelta(io->write_bytes, entry.write_bytes));
    entry.read_bytes = io->read_bytes;
    entry.write_bytes = io->write_bytes;
  }
  entry.have_io = io.has_value();
  entry.have_reading = true;
  entry.start_time_ticks = stat->start_time_ticks;
  entry.utime_ticks = stat->utime_ticks;
  entry.stime_ticks = stat->stime_ticks;
  entry.read_at = now;
  return r;
}

std::optional<PidIo> BackendResourceSampler::ReadIo(const std::string& dir, Entry& entry) {
  Result<std::string> text = fs_.ReadFile(dir + "/io");
  if (!text.ok()) {
    if (text.status().code() == StatusCode::kPermissionDenied) {
      if (!entry.io_denied_counted) ++stats_.io_permission_denied_pids;
      entry.io_denied_counted = true;
    }
    // Any other failure (a kernel without task I/O accounting has no io file; a process
    // exiting right now) leaves the bytes absent; a vanished pid is caught by its next stat.
    return std::nullopt;
  }
  Result<PidIo> parsed = ParsePidIo(*text);
  if (!parsed.ok()) {
    ++stats_.malformed;
    return std::nullopt;
  }
  return *parsed;
}

void BackendResourceSampler::ForgetStale(std::chrono::steady_clock::time_point now) {
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (now - it->second.last_asked >= options_.forget_after) {
      it = entries_.erase(it);
    } else {
      ++it;
    }
  }
}

void BackendResourceSampler::Attach(pgagent::v1::ActivitySnapshot& snapshot) {
  std::vector<int32_t> pids;
  pids.reserve(snapshot.sessions_size());
  for (const pgagent::v1::Session& s : snapshot.sessions()) pids.push_back(s.pid());
  std::unordered_map<int32_t, pgagent::v1::BackendResources> found = Sample(pids);
  for (pgagent::v1::Session& s : *snapshot.mutable_sessions()) {
    const auto it = found.find(s.pid());
    if (it == found.end()) {
      s.clear_resources();
    } else {
      *s.mutable_resources() = it->second;
    }
  }
}

BackendResourceSampler::Stats BackendResourceSampler::stats() const {
  Stats s = stats_;
  s.tracked_pids = entries_.size();
  return s;
}

}  // namespace pgagent::system
