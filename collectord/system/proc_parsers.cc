#include "collectord/system/proc_parsers.h"

#include <charconv>
#include <cstring>

namespace pgagent::system {
namespace {

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// Takes the next line off `rest` (without its '\n').
std::string_view NextLine(std::string_view& rest) {
  const size_t end = rest.find('\n');
  std::string_view line = rest.substr(0, end);
  rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
  return line;
}

// Takes the next whitespace-separated token off `rest`; empty at the end.
std::string_view NextToken(std::string_view& rest) {
  size_t i = 0;
  while (i < rest.size() && IsSpace(rest[i])) ++i;
  size_t j = i;
  while (j < rest.size() && !IsSpace(rest[j])) ++j;
  std::string_view token = rest.substr(i, j - i);
  rest = rest.substr(j);
  return token;
}

template <typename T>
bool ParseNumber(std::string_view token, T& out) {
  if (token.empty()) return false;
  const char* end = token.data() + token.size();
  auto [ptr, ec] = std::from_chars(token.data(), end, out);
  return ec == std::errc() && ptr == end;
}

bool ParseU64Token(std::string_view& rest, uint64_t& out) {
  return ParseNumber(NextToken(rest), out);
}

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

bool AllDigits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

// "cpu  3632 0 2250 ..." after the label. Older kernels print fewer fields: missing
// trailing ones stay 0, but user..idle are required.
bool ParseCpuTimes(std::string_view rest, CpuTimes& out) {
  uint64_t* fields[] = {&out.user, &out.nice,    &out.system, &out.idle,  &out.iowait,
                        &out.irq,  &out.softirq, &out.steal,  &out.guest, &out.guest_nice};
  size_t parsed = 0;
  for (uint64_t* field : fields) {
    std::string_view token = NextToken(rest);
    if (token.empty()) break;
    if (!ParseNumber(token, *field)) return false;
    ++parsed;
  }
  return parsed >= 4;
}

bool ParseU32(std::string_view token, uint32_t& out) { return ParseNumber(token, out); }

}  // namespace

Result<ProcStat> ParseProcStat(std::string_view text) {
  ProcStat out;
  bool have_total = false;
  while (!text.empty()) {
    std::string_view line = NextLine(text);
    std::string_view rest = line;
    const std::string_view label = NextToken(rest);
    if (label == "cpu") {
      if (!ParseCpuTimes(rest, out.total)) {
        return InvalidArgumentError("/proc/stat: malformed cpu line: " + std::string(line));
      }
      have_total = true;
    } else if (StartsWith(label, "cpu") && AllDigits(label.substr(3))) {
      ++out.cpu_count;
    } else if (label == "ctxt") {
      ParseU64Token(rest, out.ctxt);
    } else if (label == "processes") {
      ParseU64Token(rest, out.processes);
    } else if (label == "procs_running") {
      ParseU32(NextToken(rest), out.procs_running);
    } else if (label == "procs_blocked") {
      ParseU32(NextToken(rest), out.procs_blocked);
    }
  }
  if (!have_total) return InvalidArgumentError("/proc/stat: no aggregate cpu line");
  return out;
}

Result<LoadAvg> ParseLoadAvg(std::string_view text) {
  LoadAvg out;
  std::string_view rest = text;
  const bool loads_ok = ParseNumber(NextToken(rest), out.load1) &&
                        ParseNumber(NextToken(rest), out.load5) &&
                        ParseNumber(NextToken(rest), out.load15);
  const std::string_view entities = NextToken(rest);
  const size_t slash = entities.find('/');
  if (!loads_ok || slash == std::string_view::npos ||
      !ParseU32(entities.substr(0, slash), out.runnable) ||
      !ParseU32(entities.substr(slash + 1), out.total_entities)) {
    return InvalidArgumentError("/proc/loadavg: malformed: " + std::string(text.substr(0, 80)));
  }
  return out;
}

Result<MemInfo> ParseMemInfo(std::string_view text) {
  MemInfo out;
  bool have_total = false;
  bool have_available = false;
  struct Field {
    std::string_view key;
    uint64_t* value;
  };
  const Field fields[] = {{"MemFree:", &out.free},         {"Buffers:", &out.buffers},
                          {"Cached:", &out.cached},        {"SReclaimable:", &out.sreclaimable},
                          {"Shmem:", &out.shmem},          {"Dirty:", &out.dirty},
                          {"SwapTotal:", &out.swap_total}, {"SwapFree:", &out.swap_free}};
  while (!text.empty()) {
    std::string_view rest = NextLine(text);
    const std::string_view key = NextToken(rest);
    uint64_t kb = 0;
    if (!ParseU64Token(rest, kb)) continue;
    const uint64_t bytes = kb * 1024;
    if (key == "MemTotal:") {
      out.total = bytes;
      have_total = true;
    } else if (key == "MemAvailable:") {
      out.available = bytes;
      have_available = true;
    } else {
      for (const Field& f : fields) {
        if (key == f.key) *f.value = bytes;
      }
    }
  }
  if (!have_total) return InvalidArgumentError("/proc/meminfo: no MemTotal line");
  if (!have_available) out.available = out.free + out.buffers + out.cached;
  return out;
}

std::vector<DiskStat> ParseDiskStats(std::string_view text, uint32_t* skipped_lines) {
  std::vector<DiskStat> out;
  while (!text.empty()) {
    std::string_view rest = NextLine(text);
    if (rest.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    DiskStat d;
    bool ok = ParseU32(NextToken(rest), d.major) && ParseU32(NextToken(rest), d.minor);
    d.name = std::string(NextToken(rest));
    uint64_t* fields[] = {&d.reads,     &d.reads_merged,  &d.sectors_read,    &d.read_ms,
                          &d.writes,    &d.writes_merged, &d.sectors_written, &d.write_ms,
                          &d.in_flight, &d.io_ms,         &d.weighted_io_ms};
    for (uint64_t* field : fields) ok = ok && ParseU64Token(rest, *field);
    if (!ok || d.name.empty()) {
      if (skipped_lines != nullptr) ++*skipped_lines;
      continue;
    }
    out.push_back(std::move(d));
  }
  return out;
}

bool IsPartition(std::string_view name, const std::vector<DiskStat>& all) {
  for (const DiskStat& disk : all) {
    const std::string_view base = disk.name;
    if (base.empty() || name.size() <= base.size() || !StartsWith(name, base)) continue;
    std::string_view suffix = name.substr(base.size());
    const bool base_ends_in_digit = base.back() >= '0' && base.back() <= '9';
    if (base_ends_in_digit) {
      if (suffix.front() != 'p') continue;
      suffix.remove_prefix(1);
    }
    if (AllDigits(suffix)) return true;
  }
  return false;
}

bool IsVirtualDevice(std::string_view name) {
  return StartsWith(name, "loop") || StartsWith(name, "ram") || StartsWith(name, "zram");
}

bool IsStackedDevice(std::string_view name) {
  return StartsWith(name, "dm-") || (StartsWith(name, "md") && AllDigits(name.substr(2)));
}

std::vector<NetDevStat> ParseNetDev(std::string_view text, uint32_t* skipped_lines) {
  std::vector<NetDevStat> out;
  while (!text.empty()) {
    std::string_view line = NextLine(text);
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;  // the two header lines have '|', no ':'
    std::string_view name = line.substr(0, colon);
    while (!name.empty() && IsSpace(name.front())) name.remove_prefix(1);
    std::string_view rest = line.substr(colon + 1);
    NetDevStat n;
    n.name = std::string(name);
    uint64_t fifo = 0, frame = 0, compressed = 0, multicast = 0;
    uint64_t* fields[] = {&n.bytes_recv, &n.packets_recv, &n.errin,    &n.dropin,
                          &fifo,         &frame,          &compressed, &multicast,
                          &n.bytes_sent, &n.packets_sent, &n.errout,   &n.dropout};
    bool ok = !name.empty();
    for (uint64_t* field : fields) ok = ok && ParseU64Token(rest, *field);
    if (!ok) {
      if (skipped_lines != nullptr) ++*skipped_lines;
      continue;
    }
    out.push_back(std::move(n));
  }
  return out;
}

namespace {

// "avg10=8.42 avg60=1.97 avg300=0.65 total=4978823" (after "some"/"full").
bool ParsePressureFields(std::string_view rest, PressureLineStat& out) {
  bool seen[4] = {false, false, false, false};
  for (std::string_view token = NextToken(rest); !token.empty(); token = NextToken(rest)) {
    const size_t eq = token.find('=');
    if (eq == std::string_view::npos) return false;
    const std::string_view key = token.substr(0, eq);
    const std::string_view value = token.substr(eq + 1);
    bool ok = true;
    if (key == "avg10") {
      ok = ParseNumber(value, out.avg10), seen[0] = true;
    } else if (key == "avg60") {
      ok = ParseNumber(value, out.avg60), seen[1] = true;
    } else if (key == "avg300") {
      ok = ParseNumber(value, out.avg300), seen[2] = true;
    } else if (key == "total") {
      ok = ParseNumber(value, out.total_us), seen[3] = true;
    }
    if (!ok) return false;
  }
  return seen[0] && seen[1] && seen[2] && seen[3];
}

}  // namespace

Result<PressureStat> ParsePressure(std::string_view text) {
  PressureStat out;
  bool have_some = false;
  while (!text.empty()) {
    std::string_view rest = NextLine(text);
    const std::string_view kind = NextToken(rest);
    PressureLineStat line;
    if (kind != "some" && kind != "full") continue;
    if (!ParsePressureFields(rest, line)) {
      return InvalidArgumentError("pressure: malformed " + std::string(kind) + " line");
    }
    if (kind == "some") {
      out.some = line;
      have_some = true;
    } else {
      out.full = line;
    }
  }
  if (!have_some) return InvalidArgumentError("pressure: no \"some\" line");
  return out;
}

Result<PidStat> ParsePidStat(std::string_view text) {
  PidStat out;
  const size_t open = text.find('(');
  const size_t close = text.rfind(')');
  std::string_view head = open == std::string_view::npos ? text : text.substr(0, open);
  if (open == std::string_view::npos || close == std::string_view::npos || close < open ||
      !ParseNumber(NextToken(head), out.pid)) {
    return InvalidArgumentError("pid stat: malformed header");
  }
  out.comm = std::string(text.substr(open + 1, close - open - 1));
  std::string_view rest = text.substr(close + 1);
  // Fields after comm, numbered as in proc(5): 3 state ... 14 utime, 15 stime, 22 starttime,
  // 24 rss.
  const std::string_view state = NextToken(rest);
  if (state.size() != 1) return InvalidArgumentError("pid stat: malformed state");
  out.state = state.front();
  for (int field = 4; field <= 24; ++field) {
    const std::string_view token = NextToken(rest);
    uint64_t* target = nullptr;
    if (field == 14) target = &out.utime_ticks;
    if (field == 15) target = &out.stime_ticks;
    if (field == 22) target = &out.start_time_ticks;
    if (field == 24) target = &out.rss_pages;
    if (token.empty()) return InvalidArgumentError("pid stat: line cut before field 24");
    if (target != nullptr && !ParseNumber(token, *target)) {
      return InvalidArgumentError("pid stat: malformed field " + std::to_string(field));
    }
  }
  return out;
}

Result<PidIo> ParsePidIo(std::string_view text) {
  PidIo out;
  bool have_read = false;
  bool have_write = false;
  while (!text.empty()) {
    std::string_view rest = NextLine(text);
    const std::string_view key = NextToken(rest);
    uint64_t value = 0;
    if (!ParseU64Token(rest, value)) continue;
    if (key == "rchar:") out.rchar = value;
    if (key == "wchar:") out.wchar = value;
    if (key == "cancelled_write_bytes:") out.cancelled_write_bytes = value;
    if (key == "read_bytes:") out.read_bytes = value, have_read = true;
    if (key == "write_bytes:") out.write_bytes = value, have_write = true;
  }
  if (!have_read || !have_write) {
    return InvalidArgumentError("pid io: read_bytes or write_bytes missing");
  }
  return out;
}

uint32_t CountPidEntries(const std::vector<std::string>& names) {
  uint32_t count = 0;
  for (const std::string& name : names) {
    if (AllDigits(name)) ++count;
  }
  return count;
}

}  // namespace pgagent::system
