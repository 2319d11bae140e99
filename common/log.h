// Structured logging for journald: one JSON object per line on stderr,
//   {"ts":"2026-11-27T10:00:00.123Z","level":"warn","component":"collectord",
//    "event":"db.reconnect","attempt":3,"error":"..."}
// Secrets are never logged: a field whose key names a secret (password, api_key, token,
// secret, authorization, credential) is written as "[redacted]" whatever its value.
// Log lines are for a system administrator; never log inside a hot loop.
// Thread-safety: every function here may be called from any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace pgagent::log {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3, kOff = 4 };

// Parses "debug", "info", "warn"/"warning", "error", "off". Unknown -> kInfo.
Level ParseLevel(std::string_view name);

// "<3>" (error), "<4>" (warn), "<6>" (info), "<7>" (debug): the syslog priority prefix put in
// front of each line when stderr is the journal stream systemd gave the daemon
// (JOURNAL_STREAM), so that journald files the line at that priority.
std::string JournalPriorityPrefix(Level level);

struct Field {
  using Value = std::variant<std::string, int64_t, uint64_t, double, bool>;
  Field(std::string_view k, std::string_view v) : key(k), value(std::string(v)) {}
  Field(std::string_view k, const std::string& v) : key(k), value(v) {}
  Field(std::string_view k, const char* v) : key(k), value(std::string(v ? v : "")) {}
  Field(std::string_view k, bool v) : key(k), value(v) {}
  Field(std::string_view k, double v) : key(k), value(v) {}
  Field(std::string_view k, int v) : key(k), value(static_cast<int64_t>(v)) {}
  Field(std::string_view k, long v) : key(k), value(static_cast<int64_t>(v)) {}
  Field(std::string_view k, long long v) : key(k), value(static_cast<int64_t>(v)) {}
  Field(std::string_view k, unsigned v) : key(k), value(static_cast<uint64_t>(v)) {}
  Field(std::string_view k, unsigned long v) : key(k), value(static_cast<uint64_t>(v)) {}
  Field(std::string_view k, unsigned long long v) : key(k), value(static_cast<uint64_t>(v)) {}
  std::string key;
  Value value;
};
using Fields = std::vector<Field>;

// Sets the component name and minimum level. Call once at start; safe to call again
// (e.g. after SIGHUP changed the level).
void Init(std::string_view component, Level min_level);
void SetLevel(Level min_level);

// Emits one line if level >= the minimum.
void Write(Level level, std::string_view event, const Fields& fields = {});
inline void Debug(std::string_view event, const Fields& fields = {}) { Write(Level::kDebug, event, fields); }
inline void Info(std::string_view event, const Fields& fields = {}) { Write(Level::kInfo, event, fields); }
inline void Warn(std::string_view event, const Fields& fields = {}) { Write(Level::kWarn, event, fields); }
inline void Error(std::string_view event, const Fields& fields = {}) { Write(Level::kError, event, fields); }

// Formats one line without emitting it (no trailing newline). Exposed for tests.
std::string FormatLine(Level level, std::string_view component, std::string_view event,
                       const Fields& fields, int64_t unix_ms);

// True when a field with this key is never written in clear.
bool IsSecretKey(std::string_view key);

// Routes lines to `sink` instead of stderr (tests). Pass nullptr to restore stderr.
void SetSinkForTest(std::function<void(const std::string&)> sink);

}  // namespace pgagent::log
