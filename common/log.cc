#include "common/log.h"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <mutex>

#include "common/json_util.h"

namespace pgagent::log {
namespace {

struct State {
  std::mutex mu;
  std::string component = "pgagent";
  std::function<void(const std::string&)> sink;
  std::shared_ptr<spdlog::logger> logger;
  bool journal = false;  // stderr is a journald stream: lines carry a "<N>" priority prefix
};

// systemd sets JOURNAL_STREAM=<device>:<inode> of the stream it connected to stderr
// (systemd.exec(5)); when stderr is still that stream, journald reads a leading "<N>" as the
// syslog priority of the line (SyslogLevelPrefix=yes, the default), so that
// `journalctl -p warning` shows warnings and errors.
bool StderrIsJournal() {
  const char* stream = std::getenv("JOURNAL_STREAM");
  if (stream == nullptr) return false;
  struct stat st {};
  if (::fstat(2, &st) != 0) return false;
  unsigned long long dev = 0, ino = 0;
  if (std::sscanf(stream, "%llu:%llu", &dev, &ino) != 2) return false;
  return static_cast<unsigned long long>(st.st_dev) == dev &&
         static_cast<unsigned long long>(st.st_ino) == ino;
}

State& GetState() {
  static State* state = [] {
    auto* s = new State();
    // stderr goes to journald under systemd; the JSON line is the whole message.
    s->logger = spdlog::stderr_logger_mt("pgagent");
    s->logger->set_pattern("%v");
    s->logger->set_level(spdlog::level::trace);
    s->logger->flush_on(spdlog::level::trace);
    s->journal = StderrIsJournal();
    return s;
  }();
  return *state;
}

std::atomic<int> g_min_level{static_cast<int>(Level::kInfo)};

std::string_view LevelName(Level level) {
  switch (level) {
    case Level::kDebug: return "debug";
    case Level::kInfo: return "info";
    case Level::kWarn: return "warn";
    case Level::kError: return "error";
    case Level::kOff: return "off";
  }
  return "info";
}

void AppendTimestamp(std::string& out, int64_t unix_ms) {
  std::time_t secs = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[96];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(unix_ms % 1000));
  out += buf;
}

void AppendValue(std::string& out, const Field::Value& v) {
  if (const auto* s = std::get_if<std::string>(&v)) {
    AppendJsonString(out, *s);
  } else if (const auto* i = std::get_if<int64_t>(&v)) {
    out += std::to_string(*i);
  } else if (const auto* u = std::get_if<uint64_t>(&v)) {
    out += std::to_string(*u);
  } else if (const auto* d = std::get_if<double>(&v)) {
    if (std::isfinite(*d)) {
      char buf[32];
      std::snprintf(buf, sizeof(buf), "%.6g", *d);
      out += buf;
    } else {
      out += "null";
    }
  } else if (const auto* b = std::get_if<bool>(&v)) {
    out += *b ? "true" : "false";
  }
}

}  // namespace

std::string JournalPriorityPrefix(Level level) {
  switch (level) {
    case Level::kDebug:
      return "<7>";  // LOG_DEBUG
    case Level::kInfo:
      return "<6>";  // LOG_INFO
    case Level::kWarn:
      return "<4>";  // LOG_WARNING
    case Level::kError:
      return "<3>";  // LOG_ERR
    case Level::kOff:
      break;
  }
  return "<6>";
}

Level ParseLevel(std::string_view name) {
  std::string n(name);
  std::transform(n.begin(), n.end(), n.begin(), [](unsigned char c) { return std::tolower(c); });
  if (n == "debug" || n == "trace") return Level::kDebug;
  if (n == "warn" || n == "warning") return Level::kWarn;
  if (n == "error") return Level::kError;
  if (n == "off") return Level::kOff;
  return Level::kInfo;
}

bool IsSecretKey(std::string_view key) {
  std::string k(key);
  std::transform(k.begin(), k.end(), k.begin(), [](unsigned char c) { return std::tolower(c); });
  for (std::string_view word : {"password", "passwd", "api_key", "apikey", "token", "secret",
                                "authorization", "credential"}) {
    if (k.find(word) != std::string::npos) return true;
  }
  return false;
}

void Init(std::string_view component, Level min_level) {
  State& s = GetState();
  std::lock_guard<std::mutex> lock(s.mu);
  s.component = std::string(component);
  g_min_level = static_cast<int>(min_level);
}

void SetLevel(Level min_level) { g_min_level = static_cast<int>(min_level); }

std::string FormatLine(Level level, std::string_view component, std::string_view event,
                       const Fields& fields, int64_t unix_ms) {
  std::string out = "{\"ts\":\"";
  AppendTimestamp(out, unix_ms);
  out += "\",\"level\":\"";
  out += LevelName(level);
  out += "\",\"component\":";
  AppendJsonString(out, component);
  out += ",\"event\":";
  AppendJsonString(out, event);
  for (const Field& f : fields) {
    out += ',';
    AppendJsonString(out, f.key);
    out += ':';
    if (IsSecretKey(f.key)) {
      out += "\"[redacted]\"";
    } else {
      AppendValue(out, f.value);
    }
  }
  out += '}';
  return out;
}

void Write(Level level, std::string_view event, const Fields& fields) {
  if (static_cast<int>(level) < g_min_level.load(std::memory_order_relaxed)) return;
  const auto unix_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count();
  State& s = GetState();
  std::lock_guard<std::mutex> lock(s.mu);
  std::string line = FormatLine(level, s.component, event, fields, unix_ms);
  if (s.sink) {
    s.sink(line);
  } else if (s.journal) {
    s.logger->info(JournalPriorityPrefix(level) + line);
  } else {
    s.logger->info(line);
  }
}

void SetSinkForTest(std::function<void(const std::string&)> sink) {
  State& s = GetState();
  std::lock_guard<std::mutex> lock(s.mu);
  s.sink = std::move(sink);
}

}  // namespace pgagent::log
