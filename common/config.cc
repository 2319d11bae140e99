// The key table and the functions that only read it. Loading is in config_load.cc.
#include "common/config.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdio>

#include "common/config_keys.h"

extern char** environ;

namespace pgagent {
namespace config_internal {
namespace {

constexpr int64_t kKiB = 1024;
constexpr int64_t kMiB = 1024 * kKiB;
constexpr int64_t kGiB = 1024 * kMiB;
constexpr int64_t kHourMs = 3600 * 1000;
constexpr int64_t kDayS = 24 * 3600;

// Section and key come from the member names, so the table can't name a field wrongly.
#define PGAGENT_KEY(sec, name) \
  .section = #sec, .key = #name, .field = [](Config& c) -> FieldPtr { return &c.sec.name; }

const KeySpec kKeys[] = {
    // [database]
    {PGAGENT_KEY(database, host),
     .description = "PostgreSQL host name, IP address or unix socket directory",
     .legacy_env = "BITVILLE_PG_DB_HOST", .check = StringCheck::kNonEmpty},
    {PGAGENT_KEY(database, port), .description = "PostgreSQL port",
     .legacy_env = "BITVILLE_PG_DB_PORT", .min_int = 1, .max_int = 65535},
    {PGAGENT_KEY(database, name), .description = "database to connect to",
     .legacy_env = "BITVILLE_PG_DB_NAME", .check = StringCheck::kNonEmpty},
    {PGAGENT_KEY(database, user), .description = "role to connect as (member of pg_monitor)",
     .legacy_env = "BITVILLE_PG_DB_USER", .check = StringCheck::kNonEmpty},
    {PGAGENT_KEY(database, password),
     .description =
         "password of the role; prefer password_file or the systemd credential db_password",
     .legacy_env = "BITVILLE_PG_DB_PASSWORD", .secret = true},
    {PGAGENT_KEY(database, password_file),
     .description = "file holding the password (trailing newline stripped)",
     .check = StringCheck::kOptionalAbsolutePath},
    {PGAGENT_KEY(database, statement_timeout_ms),
     .description = "statement_timeout of pgagent's session; values under 1000 are raised to 1000",
     .legacy_env = "BITVILLE_PG_STATEMENT_TIMEOUT_MS", .min_int = 0, .max_int = kHourMs},
    {PGAGENT_KEY(database, lock_timeout_ms), .description = "lock_timeout of pgagent's session",
     .min_int = 1, .max_int = kHourMs},
    {PGAGENT_KEY(database, idle_in_transaction_timeout_ms),
     .description = "idle_in_transaction_session_timeout of pgagent's session", .min_int = 1,
     .max_int = kHourMs},
    {PGAGENT_KEY(database, connect_timeout_s), .description = "libpq connect_timeout", .min_int = 1,
     .max_int = 300},
    {PGAGENT_KEY(database, reconnect_max_backoff_s),
     .description = "upper bound of the reconnect backoff", .min_int = 1, .max_int = 3600},
    {PGAGENT_KEY(database, application_name),
     .description = "application_name of pgagent's session",
     .check = StringCheck::kApplicationName},
    {PGAGENT_KEY(database, max_agent_sessions),
     .description = "do not connect when this many pgagent sessions are already connected",
     .min_int = 1, .max_int = 100},
    {PGAGENT_KEY(database, sslmode), .description = "libpq sslmode",
     .choices = "disable|allow|prefer|require|verify-ca|verify-full"},
    {PGAGENT_KEY(database, sslrootcert),
     .description = "libpq sslrootcert (CA of the server certificate)",
     .check = StringCheck::kOptionalAbsolutePath},
    // [collection]
    {PGAGENT_KEY(collection, interval_s), .description = "seconds between two sampling cycles",
     .min_int = 1, .max_int = kDayS},
    {PGAGENT_KEY(collection, log_path),
     .description = "PostgreSQL log file to tail, or auto (from the server's settings)",
     .legacy_env = "BITVILLE_PG_LOG_PATH", .check = StringCheck::kLogPath},
    {PGAGENT_KEY(collection, log_format),
     .description = "log format; auto follows log_destination / the file name (syslog: "
                    "log_path is then the file the syslog daemon writes)",
     .choices = "auto|stderr|csvlog|jsonlog|syslog"},
    {PGAGENT_KEY(collection, log_line_prefix),
     .description = "overrides the server's log_line_prefix for stderr logs (empty: ask the "
                    "server); put it in double quotes to keep a trailing space",
     .check = StringCheck::kQuotable},
    {PGAGENT_KEY(collection, log_start),
     .description = "where to start reading a log file without a saved offset",
     .choices = "end|beginning"},
    {PGAGENT_KEY(collection, log_max_line_bytes),
     .description = "longer log lines are truncated and flagged", .min_int = kKiB,
     .max_int = 64 * kMiB},
    {PGAGENT_KEY(collection, log_batch_max_entries),
     .description = "a pg_log batch is sent when it has this many entries", .min_int = 1,
     .max_int = 100000},
    {PGAGENT_KEY(collection, log_linger_ms),
     .description = "a pg_log batch is sent at the latest this long after its first entry",
     .min_int = 0, .max_int = 60000},
    {PGAGENT_KEY(collection, log_multiline_flush_ms),
     .description = "a pending multi-line log entry is flushed after this idle time", .min_int = 1,
     .max_int = 60000},
    {PGAGENT_KEY(collection, log_retry_max_backoff_s),
     .description = "upper bound of the retry backoff for a missing or unreadable log file",
     .min_int = 1, .max_int = 3600},
    {PGAGENT_KEY(collection, log_statements),
     .description = "all: ship every log line; summarize: fold fast statements without a "
                    "correlation id into per-interval summaries",
     .choices = "all|summarize"},
    {PGAGENT_KEY(collection, log_slow_ms),
     .description = "in summarize mode: statements at or over this duration (ms) are shipped as "
                    "lines",
     .min_int = 0, .max_int = kDayS * 1000},
    {PGAGENT_KEY(collection, log_summary_interval_s),
     .description = "in summarize mode: seconds covered by one summary", .min_int = 1,
     .max_int = 3600},
    {PGAGENT_KEY(collection, query_max_length),
     .description = "query texts are truncated to this many bytes", .min_int = 64, .max_int = kMiB},
    {PGAGENT_KEY(collection, activity_max_rows),
     .description = "maximum sessions per activity snapshot", .min_int = 1, .max_int = 100000},
    {PGAGENT_KEY(collection, statements_top_n),
     .description = "statements sent per cycle, by delta total time", .min_int = 1,
     .max_int = 100000},
    {PGAGENT_KEY(collection, statements_min_delta_calls),
     .description = "statements with more delta calls are sent as well (0: off)", .min_int = 0,
     .max_int = INT64_MAX},
    {PGAGENT_KEY(collection, statements_texts_per_cycle),
     .description = "query texts fetched per cycle for new queryids", .min_int = 0,
     .max_int = 100000},
    {PGAGENT_KEY(collection, statements_recheck_cycles),
     .description = "cycles between checks for pg_stat_statements", .min_int = 1,
     .max_int = 100000},
    {PGAGENT_KEY(collection, send_raw_query_text),
     .description = "send query texts with their literals (redaction off)"},
    {PGAGENT_KEY(collection, data_directory),
     .description = "PostgreSQL data directory for disk usage (empty: ask the server)",
     .check = StringCheck::kOptionalAbsolutePath},
    {PGAGENT_KEY(collection, include_partitions),
     .description = "report disk partitions, not only whole disks"},
    {PGAGENT_KEY(collection, include_virtual_devices),
     .description = "report loop and ram devices"},
    {PGAGENT_KEY(collection, burst_enabled),
     .description = "sample faster while the host is overloaded"},
    {PGAGENT_KEY(collection, burst_interval_s), .description = "seconds between burst samples",
     .min_int = 1, .max_int = 3600},
    {PGAGENT_KEY(collection, burst_load_per_core),
     .description = "burst starts when the 1 min load average per core exceeds this",
     .min_double = 0.01, .max_double = 10000},
    {PGAGENT_KEY(collection, burst_psi_cpu_some_avg10),
     .description = "burst starts when /proc/pressure/cpu some avg10 exceeds this (percent)",
     .min_double = 0.01, .max_double = 100},
    {PGAGENT_KEY(collection, burst_hold_down_s),
     .description = "burst ends after the signals stayed below the thresholds this long",
     .min_int = 0, .max_int = kDayS},
    {PGAGENT_KEY(collection, burst_max_extra_cycles_per_min),
     .description = "cap on extra sampling cycles per minute during a burst", .min_int = 0,
     .max_int = 3600},
    {PGAGENT_KEY(collection, cluster_enabled),
     .description = "sample cluster health (databases, checkpoints, WAL, replication, vacuum, "
                    "tables)"},
    {PGAGENT_KEY(collection, schema_interval_s),
     .description = "seconds between two visits of one database's tables and indexes",
     .min_int = 60, .max_int = kDayS},
    {PGAGENT_KEY(collection, databases),
     .description = "databases to visit: comma-separated names or globs, !name excludes "
                    "(empty: all)",
     .check = StringCheck::kPrintable},
    {PGAGENT_KEY(collection, objects_top_n),
     .description = "tables and indexes per list in a database visit", .min_int = 1,
     .max_int = 1000},
    {PGAGENT_KEY(collection, include_own_statements),
     .description = "send pgagent's own pg_stat_statements entries (default: counted only)"},
    // [correlation]
    {PGAGENT_KEY(correlation, application_name_pattern),
     .description = "regex on application_name; group 1 is the correlation id",
     .check = StringCheck::kRegexWithGroup},
    {PGAGENT_KEY(correlation, comment_pattern),
     .description = "regex on query texts; group 1 is the correlation id",
     .check = StringCheck::kRegexWithGroup},
    {PGAGENT_KEY(correlation, extract_traceparent),
     .description = "also extract a W3C traceparent from sqlcommenter comments"},
    // [listener]
    {PGAGENT_KEY(listener, url),
     .description = "Bitville listener endpoint (https://; http:// needs allow_plain_http)",
     .check = StringCheck::kUrl},
    {PGAGENT_KEY(listener, api_key),
     .description = "listener API key, required by pgagent-shipperd; prefer api_key_file or the "
                    "systemd credential api_key",
     .secret = true},
    {PGAGENT_KEY(listener, api_key_file),
     .description = "file holding the API key (trailing newline stripped)",
     .check = StringCheck::kOptionalAbsolutePath},
    {PGAGENT_KEY(listener, project_id),
     .description = "project sent with every envelope (1..50 characters)",
     .legacy_env = "BITVILLE_PG_PROJECT_ID", .check = StringCheck::kProjectId},
    {PGAGENT_KEY(listener, ca_file),
     .description = "CA bundle to verify the listener (empty: system bundle)",
     .check = StringCheck::kOptionalAbsolutePath},
    {PGAGENT_KEY(listener, insecure_skip_tls_verify),
     .description = "DANGEROUS: do not verify the listener's TLS certificate"},
    {PGAGENT_KEY(listener, allow_plain_http),
     .description = "allow an http:// url (the API key then travels in clear)"},
    {PGAGENT_KEY(listener, connect_timeout_s), .description = "HTTP connect timeout", .min_int = 1,
     .max_int = 300},
    {PGAGENT_KEY(listener, timeout_s), .description = "HTTP total request timeout", .min_int = 1,
     .max_int = 600},
    {PGAGENT_KEY(listener, requests_per_minute),
     .description = "request budget (the listener allows 100 per minute)", .min_int = 1,
     .max_int = 10000},
    {PGAGENT_KEY(listener, max_envelope_bytes),
     .description = "largest request body; coalesced log envelopes stay below it",
     .min_int = 4 * kKiB, .max_int = 256 * kMiB},
    {PGAGENT_KEY(listener, live_first),
     .description = "send live records before the backlog where order does not matter"},
    {PGAGENT_KEY(listener, breaker_failure_threshold),
     .description = "consecutive transient failures that open the circuit breaker", .min_int = 1,
     .max_int = 10000},
    {PGAGENT_KEY(listener, breaker_cooldown_s),
     .description = "first cooldown of an open breaker (doubles each time up to the maximum)",
     .min_int = 1, .max_int = kDayS},
    {PGAGENT_KEY(listener, breaker_max_cooldown_s),
     .description = "upper bound of the breaker cooldown", .min_int = 1, .max_int = kDayS},
    {PGAGENT_KEY(listener, correlation_share),
     .description = "share of requests_per_minute kept for correlation rows (one linked PHP "
                    "request each); what it leaves unused goes to the others",
     .min_double = 0, .max_double = 1},
    {PGAGENT_KEY(listener, live_share),
     .description = "share of requests_per_minute kept for live aggregates; the backlog gets "
                    "the rest",
     .min_double = 0, .max_double = 1},
    {PGAGENT_KEY(listener, aggregate_interval_s),
     .description = "live snapshots of one source are collected this long and sent as one "
                    "request",
     .min_int = 1, .max_int = 3600},
    // [buffer]
    {PGAGENT_KEY(buffer, path), .description = "LMDB buffer directory",
     .legacy_env = "BITVILLE_PG_BUFFER_PATH", .check = StringCheck::kAbsolutePath,
     .restart_required = true},
    {PGAGENT_KEY(buffer, max_size_mb),
     .description = "buffer size cap; the oldest records are evicted above it",
     .legacy_env = "BITVILLE_PG_BUFFER_MAX_SIZE_MB", .min_int = 1, .max_int = 1024 * 1024},
    {PGAGENT_KEY(buffer, dead_letter_max_records),
     .description = "cap of the dead-letter queue (oldest dropped)", .min_int = 0,
     .max_int = 10000000},
    // [ipc]
    {PGAGENT_KEY(ipc, runtime_dir),
     .description = "directory of the collectord -> shipperd socket ingest.sock",
     .check = StringCheck::kAbsolutePath, .restart_required = true},
    {PGAGENT_KEY(ipc, window_max_bytes),
     .description = "unacknowledged bytes collectord keeps for resending", .min_int = 64 * kKiB,
     .max_int = kGiB},
    {PGAGENT_KEY(ipc, window_max_records),
     .description = "unacknowledged records collectord keeps for resending", .min_int = 1,
     .max_int = 10000000},
    {PGAGENT_KEY(ipc, ack_timeout_ms),
     .description = "records are resent when not acknowledged within this time", .min_int = 100,
     .max_int = kHourMs},
    {PGAGENT_KEY(ipc, heartbeat_interval_ms), .description = "heartbeat period on the IPC socket",
     .min_int = 100, .max_int = 60000},
    {PGAGENT_KEY(ipc, heartbeat_timeout_ms),
     .description = "the peer is considered gone after this long without traffic", .min_int = 200,
     .max_int = 600000},
    {PGAGENT_KEY(ipc, max_message_bytes),
     .description = "largest IPC message accepted (ZMQ_MAXMSGSIZE)", .min_int = 64 * kKiB,
     .max_int = kGiB, .restart_required = true},
    // [agent]
    {PGAGENT_KEY(agent, state_dir), .description = "collectord's state (log offsets)",
     .check = StringCheck::kAbsolutePath, .restart_required = true},
    {PGAGENT_KEY(agent, log_level), .description = "minimum level of pgagent's own log",
     .choices = "debug|info|warn|warning|error|off"},
    {PGAGENT_KEY(agent, hostname),
     .description = "host name sent with every record (empty: the system's)",
     .check = StringCheck::kPrintable},
    {PGAGENT_KEY(agent, max_rss_mb),
     .description = "collectord sheds work above this resident memory", .min_int = 16,
     .max_int = 65536},
    {PGAGENT_KEY(agent, max_cpu_percent),
     .description = "collectord sheds work above this share of one CPU", .min_int = 1,
     .max_int = 100},
    {PGAGENT_KEY(agent, control_dir), .description = "directory of the pgagentctl control sockets",
     .check = StringCheck::kAbsolutePath, .restart_required = true},
    {PGAGENT_KEY(agent, ini_syntax),
     .description = "syntax of this file: pgagent (libinih: \" ;\" starts a comment) or "
                    "configparser (the Python agent's: no inline comments, %% is %, indented "
                    "continuation lines, [DEFAULT]); auto is configparser in /etc/bitville/",
     .choices = "auto|pgagent|configparser"},
    {PGAGENT_KEY(agent, metrics_address),
     .description = "pgagent-shipperd serves both daemons' Prometheus metrics at "
                    "http://ADDRESS/metrics, e.g. 127.0.0.1:9187 (loopback only; empty: off)",
     .check = StringCheck::kPrintable, .restart_required = true},
};

#undef PGAGENT_KEY

}  // namespace

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string Upper(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return out;
}

std::string FormatDouble(double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.15g", v);
  std::string s = buf;
  if (s.find_first_of(".eEn") == std::string::npos) s += ".0";
  return s;
}

// Strings quoted with C escapes, so that empty values and odd characters are visible.
std::string Quote(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

std::span<const KeySpec> AllKeySpecs() { return kKeys; }

const KeySpec* FindKeySpec(std::string_view section, std::string_view key) {
  const std::string s = Lower(section);
  const std::string k = Lower(key);
  for (const KeySpec& spec : kKeys) {
    if (spec.section == s && spec.key == k) return &spec;
  }
  return nullptr;
}

std::string CanonicalEnvName(const KeySpec& spec) {
  return "BITVILLE_PG_" + Upper(spec.section) + "_" + Upper(spec.key);
}

FieldPtr Field(Config& config, const KeySpec& spec) { return spec.field(config); }

std::string FormatValue(const Config& config, const KeySpec& spec) {
  // The accessor only takes the address; nothing is written through it here.
  FieldPtr field = spec.field(const_cast<Config&>(config));
  if (auto* s = std::get_if<std::string*>(&field)) {
    const std::string& v = **s;
    const bool needs_quotes =
        !v.empty() && (std::isspace(static_cast<unsigned char>(v.front())) ||
                       std::isspace(static_cast<unsigned char>(v.back())) ||
                       (v.size() >= 2 && v.front() == '"' && v.back() == '"'));
    if (spec.check == StringCheck::kQuotable && needs_quotes) return "\"" + v + "\"";
    return v;
  }
  if (auto* i = std::get_if<int64_t*>(&field)) return std::to_string(**i);
  if (auto* d = std::get_if<double*>(&field)) return FormatDouble(**d);
  return *std::get<bool*>(field) ? "true" : "false";
}

std::string ValueHint(const KeySpec& spec) {
  Config probe;
  FieldPtr field = spec.field(probe);
  if (std::holds_alternative<bool*>(field)) return "true|false";
  if (std::holds_alternative<int64_t*>(field)) {
    if (spec.max_int == INT64_MAX) return "integer >= " + std::to_string(spec.min_int);
    return "integer " + std::to_string(spec.min_int) + ".." + std::to_string(spec.max_int);
  }
  if (std::holds_alternative<double*>(field)) {
    return "number " + FormatDouble(spec.min_double) + ".." + FormatDouble(spec.max_double);
  }
  if (!spec.choices.empty()) return std::string(spec.choices);
  switch (spec.check) {
    case StringCheck::kAbsolutePath:
      return "absolute path";
    case StringCheck::kOptionalAbsolutePath:
      return "absolute path or empty";
    case StringCheck::kLogPath:
      return "absolute path or auto";
    case StringCheck::kUrl:
      return "https:// URL";
    case StringCheck::kProjectId:
      return "1..50 characters";
    case StringCheck::kApplicationName:
      return "1..63 ASCII characters";
    case StringCheck::kRegexWithGroup:
      return "ECMAScript regex with a capture group";
    case StringCheck::kNonEmpty:
      return "non-empty string";
    case StringCheck::kQuotable:
      return "string, may be in double quotes";
    case StringCheck::kPrintable:
    case StringCheck::kNone:
      break;
  }
  return "string";
}

}  // namespace config_internal

using config_internal::AllKeySpecs;
using config_internal::KeySpec;

Environment ProcessEnvironment() {
  Environment env;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    std::string_view text(*entry);
    const size_t eq = text.find('=');
    if (eq == std::string_view::npos) continue;
    env.emplace(std::string(text.substr(0, eq)), std::string(text.substr(eq + 1)));
  }
  return env;
}

Environment WithPackagedCredentials(Environment env, const std::string& dir) {
  auto set = env.find("CREDENTIALS_DIRECTORY");
  if (set != env.end() && !set->second.empty()) return env;
  if (::access(dir.c_str(), R_OK | X_OK) == 0) env["CREDENTIALS_DIRECTORY"] = dir;
  return env;
}

std::vector<ConfigKeyInfo> AllConfigKeys() {
  const Config defaults;
  std::vector<ConfigKeyInfo> keys;
  for (const KeySpec& spec : AllKeySpecs()) {
    ConfigKeyInfo info;
    info.section = spec.section;
    info.key = spec.key;
    info.env_var = config_internal::CanonicalEnvName(spec);
    info.legacy_env_var = spec.legacy_env;
    info.default_value = config_internal::FormatValue(defaults, spec);
    info.value_hint = config_internal::ValueHint(spec);
    info.description = spec.description;
    info.secret = spec.secret;
    info.restart_required = spec.restart_required;
    keys.push_back(std::move(info));
  }
  return keys;
}

std::optional<std::string> ConfigValueText(const Config& config, std::string_view section,
                                           std::string_view key) {
  const KeySpec* spec = config_internal::FindKeySpec(section, key);
  if (spec == nullptr) return std::nullopt;
  std::string value = config_internal::FormatValue(config, *spec);
  if (spec->secret) return value.empty() ? "(not set)" : "(set)";
  return value;
}

std::vector<std::string> DescribeChanges(const Config& before, const Config& after) {
  std::vector<std::string> lines;
  for (const KeySpec& spec : AllKeySpecs()) {
    const std::string old_value = config_internal::FormatValue(before, spec);
    const std::string new_value = config_internal::FormatValue(after, spec);
    if (old_value == new_value) continue;
    std::string line = "[" + std::string(spec.section) + "] " + std::string(spec.key) + ": ";
    // Read-only use of the accessors: they only take addresses.
    const config_internal::FieldPtr old_field = spec.field(const_cast<Config&>(before));
    const config_internal::FieldPtr new_field = spec.field(const_cast<Config&>(after));
    if (spec.secret) {
      line += "(changed)";
    } else if (std::holds_alternative<std::string*>(old_field)) {
      line += config_internal::Quote(*std::get<std::string*>(old_field)) + " -> " +
              config_internal::Quote(*std::get<std::string*>(new_field));
    } else {
      line += old_value + " -> " + new_value;
    }
    if (spec.restart_required) line += " (applies after restart)";
    lines.push_back(std::move(line));
  }
  return lines;
}

}  // namespace pgagent
