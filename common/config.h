// The pgagent configuration: one INI file (parsed by libinih), overridden by environment
// variables, drop-in compatible with the Python agent it replaces.
//
// Precedence for every key: environment > INI file > built-in default.
//   * Every key has a canonical variable BITVILLE_PG_<SECTION>_<KEY> in upper case, e.g.
//     [collection] interval_s -> BITVILLE_PG_COLLECTION_INTERVAL_S.
//   * The Python agent's names keep working: BITVILLE_PG_DB_HOST, _DB_PORT, _DB_NAME,
//     _DB_USER, _DB_PASSWORD, BITVILLE_PG_STATEMENT_TIMEOUT_MS, BITVILLE_PG_LOG_PATH,
//     BITVILLE_PG_PROJECT_ID (the others are already canonical names).
//   * When both the canonical and the legacy variable are set, the canonical one wins and a
//     warning says the legacy one was ignored.
//   * A variable set to the empty string counts as unset (systemd's `Environment=X=`).
//   * Values are trimmed; a BITVILLE_PG_* variable that names no key is a warning.
//
// Secrets ([database] password, [listener] api_key) are taken from the first source that
// is present, in this order (the others are named in a warning):
//   1. the environment variable (BITVILLE_PG_DATABASE_PASSWORD / BITVILLE_PG_DB_PASSWORD,
//      BITVILLE_PG_LISTENER_API_KEY);
//   2. the systemd credential $CREDENTIALS_DIRECTORY/db_password or .../api_key;
//   3. the file named by password_file / api_key_file (itself settable by INI or env);
//   4. the value written in the INI file;
//   5. empty.
// Files holding secrets have trailing "\n" / "\r\n" stripped; an empty one is an error. A
// warning is returned when a file holding a secret (including the INI file itself) is
// readable by group or others.
//
// INI syntax is libinih's: "[section]", "key = value" or "key: value", comments start a line
// with ';' or '#', and " ;" (whitespace then ';') starts an inline comment. Section and key
// names are case-insensitive. Values are trimmed; log_line_prefix may be put in double
// quotes to keep a trailing space. Lines are limited to 198 characters (an error, never a silent
// truncation). A key set twice is an error. Unknown sections and keys are warnings, so older
// and newer configs load. The Python agent's files are read with configparser's rules instead
// (see ConfigFiles below).
//
// Values that are the Python example's placeholders ("<your-password-here>",
// "your_api_key_here", any "<...>" or "your_..._here") are an error: they are never right.
//
// Errors are one line for a system administrator: "<file>:<line>: [section] key: problem",
// or "environment variable <NAME>: [section] key: problem". Secret values are never part
// of a message. A daemon exits with kExitConfig (78) on any load error.
//
// Thread-safety: Config is a value type; every function here is reentrant.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace pgagent {

struct DatabaseConfig {
  std::string host = "localhost";
  int64_t port = 5432;
  std::string name = "postgres";
  std::string user = "bitville_monitor";
  std::string password;                 // secret
  std::string password_file;            // path of a file holding the password
  int64_t statement_timeout_ms = 5000;  // values under 1000 are raised to 1000
  int64_t lock_timeout_ms = 1000;
  int64_t idle_in_transaction_timeout_ms = 10000;
  int64_t connect_timeout_s = 5;
  int64_t reconnect_max_backoff_s = 60;
  std::string application_name = "bitville-monitor";
  int64_t max_agent_sessions = 2;  // refuse to connect when this many are already connected
  std::string sslmode = "prefer";  // disable|allow|prefer|require|verify-ca|verify-full
  std::string sslrootcert;
  bool operator==(const DatabaseConfig&) const = default;
};

struct CollectionConfig {
  int64_t interval_s = 60;
  std::string log_path = "auto";                                     // or an absolute path
  std::string log_format = "auto";                                   // auto|stderr|csvlog|jsonlog|syslog
  std::string log_line_prefix;    // empty: read log_line_prefix from the server
  std::string log_start = "end";  // end|beginning, when there is no saved offset
  int64_t log_max_line_bytes = 1 << 20;
  int64_t log_batch_max_entries = 500;
  int64_t log_linger_ms = 1000;
  int64_t log_multiline_flush_ms = 500;
  int64_t log_retry_max_backoff_s = 60;
  // all: every log line is shipped; summarize: fast untagged statements are folded into
  // per-interval summaries (collectord/logs/statement_summarizer.h).
  std::string log_statements = "all";
  int64_t log_slow_ms = 1000;           // summarize: statements this slow are still shipped
  int64_t log_summary_interval_s = 60;  // summarize: length of one summary interval
  int64_t query_max_length = 4096;
  int64_t activity_max_rows = 1000;
  int64_t statements_top_n = 100;
  int64_t statements_min_delta_calls = 1000;  // 0: no threshold, top N only
  int64_t statements_texts_per_cycle = 100;
  int64_t statements_recheck_cycles = 10;
  bool send_raw_query_text = false;  // false: literals are redacted
  std::string data_directory;        // empty: ask the server
  bool include_partitions = false;
  bool include_virtual_devices = false;
  bool burst_enabled = true;
  int64_t burst_interval_s = 5;
  double burst_load_per_core = 2.0;
  double burst_psi_cpu_some_avg10 = 50.0;
  int64_t burst_hold_down_s = 60;
  int64_t burst_max_extra_cycles_per_min = 12;
  // Cluster health (collectord/pg/cluster_collector.h).
  bool cluster_enabled = true;
  int64_t schema_interval_s = 600;      // each database's tables/indexes at most this often
  std::string databases;                // names/globs, !excludes; empty: every database
  int64_t objects_top_n = 10;           // tables/indexes per list in a database visit
  bool include_own_statements = false;  // send pgagent's own pg_stat_statements entries
  bool operator==(const CollectionConfig&) const = default;
};

struct CorrelationConfig {
  // ECMAScript regexes; capture group 1 is the id (see collectord/sql/correlation.h).
  std::string application_name_pattern = "^bitville-([0-9a-fA-F-]{36})$";
  std::string comment_pattern = R"(/\*\s*correlation:([0-9a-fA-F-]{36})\s*\*/)";
  bool extract_traceparent = false;
  bool operator==(const CorrelationConfig&) const = default;
};

struct ListenerConfig {
  std::string url = "https://listener:8443/ingest/postgres";
  std::string api_key;                 // secret; required by shipperd
  std::string api_key_file;            // path of a file holding the API key
  std::string project_id = "default";  // 1..50 characters
  std::string ca_file;                 // empty: the system CA bundle
  bool insecure_skip_tls_verify = false;
  bool allow_plain_http = false;
  int64_t connect_timeout_s = 5;
  int64_t timeout_s = 10;
  int64_t requests_per_minute = 80;
  int64_t max_envelope_bytes = 1 << 20;
  bool live_first = true;
  int64_t breaker_failure_threshold = 5;
  int64_t breaker_cooldown_s = 5;
  int64_t breaker_max_cooldown_s = 30;
  // Shares of requests_per_minute (delivery/request_budget.h); backlog gets the rest.
  double correlation_share = 0.5;
  double live_share = 0.25;
  int64_t aggregate_interval_s = 15;
  bool operator==(const ListenerConfig&) const = default;
};

struct BufferConfig {
  std::string path = "/var/lib/pgagent/buffer";
  int64_t max_size_mb = 100;
  int64_t dead_letter_max_records = 10000;
  bool operator==(const BufferConfig&) const = default;
};

struct IpcConfig {
  std::string runtime_dir = "/run/pgagent";
  int64_t window_max_bytes = 16 << 20;
  int64_t window_max_records = 10000;
  int64_t ack_timeout_ms = 5000;
  int64_t heartbeat_interval_ms = 1000;
  int64_t heartbeat_timeout_ms = 5000;
  int64_t max_message_bytes = 4 << 20;
  bool operator==(const IpcConfig&) const = default;
};

struct AgentConfig {
  std::string state_dir = "/var/lib/pgagent/collectord";
  std::string log_level = "info";  // debug|info|warn|warning|error|off
  std::string hostname;            // empty: gethostname()
  int64_t max_rss_mb = 128;
  int64_t max_cpu_percent = 20;
  std::string control_dir = "/run/pgagent";
  std::string ini_syntax = "auto";  // auto|pgagent|configparser (see LoadConfig)
  std::string metrics_address;  // shipperd's Prometheus /metrics, e.g. 127.0.0.1:9187; empty: off
  bool operator==(const AgentConfig&) const = default;
};

struct Config {
  DatabaseConfig database;
  CollectionConfig collection;
  CorrelationConfig correlation;
  ListenerConfig listener;
  BufferConfig buffer;
  IpcConfig ipc;
  AgentConfig agent;
  bool operator==(const Config&) const = default;
};

// Environment variables by name. Injected so tests never call setenv.
using Environment = std::map<std::string, std::string, std::less<>>;

// A copy of this process's environment.
Environment ProcessEnvironment();

// Where the Debian package's units load the secrets from (LoadCredential=): db_password and
// api_key, in <instance>/ for the template units.
inline constexpr const char* kPackageCredentialsDir = "/etc/pgagent/credentials";
// `env` plus CREDENTIALS_DIRECTORY=`dir` when that is unset (or empty) and `dir` is a readable
// directory: what a command run by an administrator outside systemd (pgagentctl,
// pgagent-collectord --once) needs to find the secrets where the units would hand them over.
// Pure apart from one access(2) on `dir`.
Environment WithPackagedCredentials(Environment env, const std::string& dir);

// What the calling daemon needs beyond a valid file.
struct ConfigRequirements {
  bool need_api_key = false;  // pgagent-shipperd
};

struct LoadedConfig {
  Config config;
  std::string path;
  // For the caller to log, one line each (the loader logs nothing).
  std::vector<std::string> warnings;
};

// Reads the INI file at `path`, applies `env` and resolves secrets.
// Errors: kNotFound / kPermissionDenied when the file can't be read, kInvalidArgument for
// any invalid value (message as described at the top of this file).
Result<LoadedConfig> LoadConfig(const std::string& path, const Environment& env,
                                const ConfigRequirements& requirements);

// The files of one load, lowest precedence first: the Python agent's INI, then pgagent's.
struct ConfigFiles {
  // pgagent's INI file. When it does not exist (or is empty) and the settings are elsewhere
  // (EnvironmentCarriesSettings(), or python_agent_path exists), it is skipped with a warning.
  std::string path;
  // The Python agent's INI (e.g. /etc/bitville/postgres-agent.ini), always read with
  // Python configparser's rules; skipped when empty or missing. A key set in both files is
  // taken from `path` (a warning names both places).
  std::string python_agent_path;
};
// True when BITVILLE_PG_* variables carry settings of their own, enough to run without an
// INI file: any non-empty one except BITVILLE_PG_CONFIG_PATH and the directories a template
// unit sets for its instance (IPC_RUNTIME_DIR, AGENT_CONTROL_DIR, AGENT_STATE_DIR,
// BUFFER_PATH), which alone configure nothing.
bool EnvironmentCarriesSettings(const Environment& env);

// Precedence: environment > path > python_agent_path > default.
// Syntax per file: Python configparser's rules (common/ini_configparser.h) for
// python_agent_path, for files under /etc/bitville/, and when [agent] ini_syntax (in the file,
// or BITVILLE_PG_AGENT_INI_SYNTAX) is "configparser"; libinih's otherwise. Each key the other
// syntax would read differently is a warning (without the value).
Result<LoadedConfig> LoadConfig(const ConfigFiles& files, const Environment& env,
                                const ConfigRequirements& requirements);

// One key of the table that drives parsing, env overrides and this listing.
struct ConfigKeyInfo {
  std::string section;
  std::string key;
  std::string env_var;         // canonical BITVILLE_PG_<SECTION>_<KEY>
  std::string legacy_env_var;  // the Python agent's name, or empty
  std::string default_value;   // as written in an INI file
  std::string value_hint;      // e.g. "integer 1..65535", "true|false", "absolute path"
  std::string description;
  bool secret = false;
  bool restart_required = false;  // a SIGHUP can't apply a change of this key
};

// Every key, in section order.
std::vector<ConfigKeyInfo> AllConfigKeys();

// The value of one key as written in an INI file; secrets as "(set)" or "(not set)".
// nullopt for an unknown section/key.
std::optional<std::string> ConfigValueText(const Config& config, std::string_view section,
                                           std::string_view key);

// One line per changed key, for the SIGHUP log: `[collection] interval_s: 60 -> 30`,
// strings quoted, secrets as `[database] password: (changed)`, and keys that need a
// restart suffixed with " (applies after restart)".
std::vector<std::string> DescribeChanges(const Config& before, const Config& after);

}  // namespace pgagent
