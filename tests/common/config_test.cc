#include "common/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <CLI/CLI.hpp>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "common/cli.h"
#include "common/exit_codes.h"

namespace pgagent {
namespace {

using ::testing::AllOf;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

// A temp directory removed with everything in it when the test ends.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "pgagent-config-XXXXXX").string();
    if (mkdtemp(tmpl.data()) == nullptr) std::abort();
    path_ = tmpl;
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }

  // Writes `content` to <dir>/<name> with `mode`; returns the full path.
  std::string Write(const std::string& name, const std::string& content, mode_t mode = 0600) {
    const std::string file = path_ + "/" + name;
    std::ofstream(file, std::ios::binary | std::ios::trunc) << content;
    chmod(file.c_str(), mode);
    return file;
  }

 private:
  std::string path_;
};

std::string ReplaceAll(std::string text, const std::string& from, const std::string& to) {
  for (size_t pos = text.find(from); pos != std::string::npos; pos = text.find(from, pos)) {
    text.replace(pos, from.size(), to);
    pos += to.size();
  }
  return text;
}

// Every key, each set to a valid value different from its default. @DIR@ is the temp dir.
constexpr const char* kFullIni = R"ini(; every key of pgagent
[database]
host = db.example.internal
port = 6432
name = app
user = monitor
password = ini-password-1
password_file = @DIR@/db_password
statement_timeout_ms = 7000
lock_timeout_ms = 2000
idle_in_transaction_timeout_ms = 20000
connect_timeout_s = 7
reconnect_max_backoff_s = 120
application_name = bitville-monitor-2
max_agent_sessions = 3
sslmode = verify-full
sslrootcert = /etc/ssl/pg-ca.pem

[collection]
interval_s = 30
log_path = /var/log/postgresql/postgresql-15-main.log
log_format = csvlog
log_line_prefix = "%m [%p] %q%u@%d %a "
log_start = beginning
log_max_line_bytes = 65536
log_batch_max_entries = 250
log_linger_ms = 500
log_multiline_flush_ms = 250
log_retry_max_backoff_s = 30
query_max_length = 2048
activity_max_rows = 500
statements_top_n = 50
statements_min_delta_calls = 500
statements_texts_per_cycle = 20
statements_recheck_cycles = 5
send_raw_query_text = true
data_directory = /var/lib/postgresql/15/main
include_partitions = yes
include_virtual_devices = on
burst_enabled = false
burst_interval_s = 10
burst_load_per_core = 1.5
burst_psi_cpu_some_avg10 = 25.5
burst_hold_down_s = 120
burst_max_extra_cycles_per_min = 6
cluster_enabled = false
schema_interval_s = 1200
databases = app_*,!app_test
objects_top_n = 20
include_own_statements = true
log_statements = summarize
log_slow_ms = 250
log_summary_interval_s = 30

[correlation]
application_name_pattern = ^app-([0-9a-f]{32})$
comment_pattern = /\* *cid=([0-9a-f]+) *\*/
extract_traceparent = true

[listener]
url = https://listener.example.com:9443/ingest/postgres
api_key = ini-api-key-1
api_key_file = @DIR@/api_key
project_id = shop-eu
ca_file = /etc/pgagent/ca.pem
insecure_skip_tls_verify = true
allow_plain_http = true
connect_timeout_s = 3
timeout_s = 20
requests_per_minute = 60
max_envelope_bytes = 524288
live_first = false
breaker_failure_threshold = 3
breaker_cooldown_s = 10
breaker_max_cooldown_s = 600
correlation_share = 0.4
live_share = 0.3
aggregate_interval_s = 20

[buffer]
path = /srv/pgagent/buffer
max_size_mb = 250
dead_letter_max_records = 500

[ipc]
runtime_dir = /run/pgagent-test
window_max_bytes = 8388608
window_max_records = 2000
ack_timeout_ms = 2000
heartbeat_interval_ms = 500
heartbeat_timeout_ms = 3000
max_message_bytes = 2097152

[agent]
state_dir = /srv/pgagent/state
log_level = debug
hostname = db1
max_rss_mb = 200
max_cpu_percent = 10
control_dir = /run/pgagent-ctl
ini_syntax = pgagent
metrics_address = 127.0.0.1:9187
)ini";

class ConfigTest : public ::testing::Test {
 protected:
  // Writes the INI as pgagent.ini (mode 0600) and loads it.
  Result<LoadedConfig> LoadText(const std::string& ini, const Environment& env = {},
                                ConfigRequirements requirements = {}) {
    dir_.Write("pgagent.ini", ini);
    return LoadConfig(path_, env, requirements);
  }

  // The error message of loading `ini`; fails the test when it loads.
  std::string ErrorOf(const std::string& ini, const Environment& env = {},
                      ConfigRequirements requirements = {}) {
    auto loaded = LoadText(ini, env, requirements);
    EXPECT_FALSE(loaded.ok()) << ini;
    if (loaded.ok()) return "";
    EXPECT_EQ(loaded.status().code(), StatusCode::kInvalidArgument);
    return loaded.status().message();
  }

  std::string FullIni() {
    dir_.Write("db_password", "file-password-1\n");
    dir_.Write("api_key", "file-api-key-1\r\n");
    return ReplaceAll(kFullIni, "@DIR@", dir_.path());
  }

  TempDir dir_;
  const std::string path_ = dir_.path() + "/pgagent.ini";
};

TEST_F(ConfigTest, AnEmptyFileGivesThePythonAgentsDefaults) {
  auto loaded = LoadText("");
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  const Config& c = loaded->config;
  EXPECT_EQ(c.database.host, "localhost");
  EXPECT_EQ(c.database.port, 5432);
  EXPECT_EQ(c.database.name, "postgres");
  EXPECT_EQ(c.database.user, "bitville_monitor");
  EXPECT_EQ(c.database.password, "");
  EXPECT_EQ(c.database.statement_timeout_ms, 5000);
  EXPECT_EQ(c.database.lock_timeout_ms, 1000);
  EXPECT_EQ(c.database.application_name, "bitville-monitor");
  EXPECT_EQ(c.collection.interval_s, 60);
  EXPECT_EQ(c.collection.log_path, "auto");  // new installs: found from the server
  EXPECT_EQ(c.collection.log_max_line_bytes, 1 << 20);
  EXPECT_EQ(c.collection.log_batch_max_entries, 500);
  EXPECT_EQ(c.collection.activity_max_rows, 1000);
  EXPECT_EQ(c.collection.statements_top_n, 100);
  EXPECT_EQ(c.collection.burst_interval_s, 5);
  EXPECT_FALSE(c.collection.send_raw_query_text);
  EXPECT_EQ(c.listener.url, "https://listener:8443/ingest/postgres");
  EXPECT_EQ(c.listener.api_key, "");
  EXPECT_EQ(c.listener.project_id, "default");
  EXPECT_FALSE(c.listener.insecure_skip_tls_verify);
  EXPECT_FALSE(c.listener.allow_plain_http);
  EXPECT_EQ(c.listener.requests_per_minute, 80);
  EXPECT_EQ(c.listener.breaker_failure_threshold, 5);
  EXPECT_EQ(c.buffer.path, "/var/lib/pgagent/buffer");
  EXPECT_EQ(c.buffer.max_size_mb, 100);
  EXPECT_EQ(c.ipc.window_max_bytes, 16 << 20);
  EXPECT_EQ(c.agent.state_dir, "/var/lib/pgagent/collectord");
  EXPECT_EQ(c.agent.log_level, "info");
  EXPECT_EQ(c, Config{});
  EXPECT_THAT(loaded->warnings, IsEmpty());
  EXPECT_EQ(loaded->path, path_);
}

TEST_F(ConfigTest, EveryKeyIsReadFromTheIniFile) {
  auto loaded = LoadText(FullIni());
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  const Config& c = loaded->config;
  EXPECT_EQ(c.database.host, "db.example.internal");
  EXPECT_EQ(c.database.port, 6432);
  EXPECT_EQ(c.database.name, "app");
  EXPECT_EQ(c.database.user, "monitor");
  EXPECT_EQ(c.database.password, "file-password-1");  // password_file beats the INI value
  EXPECT_EQ(c.database.password_file, dir_.path() + "/db_password");
  EXPECT_EQ(c.database.statement_timeout_ms, 7000);
  EXPECT_EQ(c.database.lock_timeout_ms, 2000);
  EXPECT_EQ(c.database.idle_in_transaction_timeout_ms, 20000);
  EXPECT_EQ(c.database.connect_timeout_s, 7);
  EXPECT_EQ(c.database.reconnect_max_backoff_s, 120);
  EXPECT_EQ(c.database.application_name, "bitville-monitor-2");
  EXPECT_EQ(c.database.max_agent_sessions, 3);
  EXPECT_EQ(c.database.sslmode, "verify-full");
  EXPECT_EQ(c.database.sslrootcert, "/etc/ssl/pg-ca.pem");
  EXPECT_EQ(c.collection.interval_s, 30);
  EXPECT_EQ(c.collection.log_path, "/var/log/postgresql/postgresql-15-main.log");
  EXPECT_EQ(c.collection.log_format, "csvlog");
  EXPECT_EQ(c.collection.log_line_prefix, "%m [%p] %q%u@%d %a ");
  EXPECT_EQ(c.collection.log_start, "beginning");
  EXPECT_EQ(c.collection.log_max_line_bytes, 65536);
  EXPECT_EQ(c.collection.log_batch_max_entries, 250);
  EXPECT_EQ(c.collection.log_linger_ms, 500);
  EXPECT_EQ(c.collection.log_multiline_flush_ms, 250);
  EXPECT_EQ(c.collection.log_retry_max_backoff_s, 30);
  EXPECT_EQ(c.collection.query_max_length, 2048);
  EXPECT_EQ(c.collection.activity_max_rows, 500);
  EXPECT_EQ(c.collection.statements_top_n, 50);
  EXPECT_EQ(c.collection.statements_min_delta_calls, 500);
  EXPECT_EQ(c.collection.statements_texts_per_cycle, 20);
  EXPECT_EQ(c.collection.statements_recheck_cycles, 5);
  EXPECT_TRUE(c.collection.send_raw_query_text);
  EXPECT_EQ(c.collection.data_directory, "/var/lib/postgresql/15/main");
  EXPECT_TRUE(c.collection.include_partitions);
  EXPECT_TRUE(c.collection.include_virtual_devices);
  EXPECT_FALSE(c.collection.burst_enabled);
  EXPECT_EQ(c.collection.burst_interval_s, 10);
  EXPECT_DOUBLE_EQ(c.collection.burst_load_per_core, 1.5);
  EXPECT_DOUBLE_EQ(c.collection.burst_psi_cpu_some_avg10, 25.5);
  EXPECT_EQ(c.collection.burst_hold_down_s, 120);
  EXPECT_EQ(c.collection.burst_max_extra_cycles_per_min, 6);
  EXPECT_FALSE(c.collection.cluster_enabled);
  EXPECT_EQ(c.collection.schema_interval_s, 1200);
  EXPECT_EQ(c.collection.databases, "app_*,!app_test");
  EXPECT_EQ(c.collection.objects_top_n, 20);
  EXPECT_TRUE(c.collection.include_own_statements);
  EXPECT_EQ(c.collection.log_statements, "summarize");
  EXPECT_EQ(c.collection.log_slow_ms, 250);
  EXPECT_EQ(c.collection.log_summary_interval_s, 30);
  EXPECT_EQ(c.correlation.application_name_pattern, "^app-([0-9a-f]{32})$");
  EXPECT_EQ(c.correlation.comment_pattern, R"(/\* *cid=([0-9a-f]+) *\*/)");
  EXPECT_TRUE(c.correlation.extract_traceparent);
  EXPECT_EQ(c.listener.url, "https://listener.example.com:9443/ingest/postgres");
  EXPECT_EQ(c.listener.api_key, "file-api-key-1");  // CR LF stripped
  EXPECT_EQ(c.listener.api_key_file, dir_.path() + "/api_key");
  EXPECT_EQ(c.listener.project_id, "shop-eu");
  EXPECT_EQ(c.listener.ca_file, "/etc/pgagent/ca.pem");
  EXPECT_TRUE(c.listener.insecure_skip_tls_verify);
  EXPECT_TRUE(c.listener.allow_plain_http);
  EXPECT_EQ(c.listener.connect_timeout_s, 3);
  EXPECT_EQ(c.listener.timeout_s, 20);
  EXPECT_EQ(c.listener.requests_per_minute, 60);
  EXPECT_EQ(c.listener.max_envelope_bytes, 524288);
  EXPECT_FALSE(c.listener.live_first);
  EXPECT_EQ(c.listener.breaker_failure_threshold, 3);
  EXPECT_EQ(c.listener.breaker_cooldown_s, 10);
  EXPECT_EQ(c.listener.breaker_max_cooldown_s, 600);
  EXPECT_DOUBLE_EQ(c.listener.correlation_share, 0.4);
  EXPECT_DOUBLE_EQ(c.listener.live_share, 0.3);
  EXPECT_EQ(c.listener.aggregate_interval_s, 20);
  EXPECT_EQ(c.buffer.path, "/srv/pgagent/buffer");
  EXPECT_EQ(c.buffer.max_size_mb, 250);
  EXPECT_EQ(c.buffer.dead_letter_max_records, 500);
  EXPECT_EQ(c.ipc.runtime_dir, "/run/pgagent-test");
  EXPECT_EQ(c.ipc.window_max_bytes, 8388608);
  EXPECT_EQ(c.ipc.window_max_records, 2000);
  EXPECT_EQ(c.ipc.ack_timeout_ms, 2000);
  EXPECT_EQ(c.ipc.heartbeat_interval_ms, 500);
  EXPECT_EQ(c.ipc.heartbeat_timeout_ms, 3000);
  EXPECT_EQ(c.ipc.max_message_bytes, 2097152);
  EXPECT_EQ(c.agent.state_dir, "/srv/pgagent/state");
  EXPECT_EQ(c.agent.log_level, "debug");
  EXPECT_EQ(c.agent.hostname, "db1");
  EXPECT_EQ(c.agent.max_rss_mb, 200);
  EXPECT_EQ(c.agent.max_cpu_percent, 10);
  EXPECT_EQ(c.agent.control_dir, "/run/pgagent-ctl");
  EXPECT_EQ(c.agent.ini_syntax, "pgagent");
  EXPECT_EQ(c.agent.metrics_address, "127.0.0.1:9187");
}

TEST_F(ConfigTest, TheFullExampleSetsEveryKeyOfTheTableToANonDefaultValue) {
  auto loaded = LoadText(FullIni());
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  // One change line per key proves that each table entry reaches its own field.
  EXPECT_EQ(DescribeChanges(Config{}, loaded->config).size(), AllConfigKeys().size());
  for (const std::string& w : loaded->warnings) EXPECT_THAT(w, Not(HasSubstr("unknown")));
}

TEST_F(ConfigTest, EveryKeyCanBeSetByItsCanonicalEnvironmentVariable) {
  auto full = LoadText(FullIni());
  ASSERT_TRUE(full.ok()) << full.status().ToString();
  Environment env;
  for (const ConfigKeyInfo& key : AllConfigKeys()) {
    if (key.secret) continue;
    env[key.env_var] = *ConfigValueText(full->config, key.section, key.key);
  }
  env["BITVILLE_PG_DATABASE_PASSWORD"] = "env-password";
  env["BITVILLE_PG_LISTENER_API_KEY"] = "env-api-key";
  auto loaded = LoadText("[database]\n", env);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  for (const ConfigKeyInfo& key : AllConfigKeys()) {
    EXPECT_EQ(ConfigValueText(loaded->config, key.section, key.key),
              ConfigValueText(full->config, key.section, key.key))
        << key.env_var;
  }
  EXPECT_EQ(loaded->config.database.password, "env-password");
  EXPECT_EQ(loaded->config.listener.api_key, "env-api-key");
}

TEST_F(ConfigTest, EnvironmentBeatsTheIniFile) {
  auto loaded = LoadText(
      "[database]\nport = 5433\n[collection]\ninterval_s = 10\n",
      {{"BITVILLE_PG_DATABASE_PORT", "6000"}, {"BITVILLE_PG_COLLECTION_INTERVAL_S", " 15 "}});
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(loaded->config.database.port, 6000);
  EXPECT_EQ(loaded->config.collection.interval_s, 15);
}

TEST_F(ConfigTest, ThePythonAgentsVariablesKeepWorking) {
  Environment env = {{"BITVILLE_PG_DB_HOST", "legacy-host"},
                     {"BITVILLE_PG_DB_PORT", "5999"},
                     {"BITVILLE_PG_DB_NAME", "legacy_db"},
                     {"BITVILLE_PG_DB_USER", "legacy_user"},
                     {"BITVILLE_PG_DB_PASSWORD", "legacy-pw"},
                     {"BITVILLE_PG_STATEMENT_TIMEOUT_MS", "3000"},
                     {"BITVILLE_PG_COLLECTION_INTERVAL_S", "20"},
                     {"BITVILLE_PG_LOG_PATH", "/var/log/pg.log"},
                     {"BITVILLE_PG_LISTENER_URL", "https://l.example/ingest/postgres"},
                     {"BITVILLE_PG_LISTENER_API_KEY", "legacy-key"},
                     {"BITVILLE_PG_PROJECT_ID", "legacy-project"},
                     {"BITVILLE_PG_BUFFER_PATH", "/srv/buf"},
                     {"BITVILLE_PG_BUFFER_MAX_SIZE_MB", "42"}};
  auto loaded = LoadText("[database]\nhost = ini-host\n", env);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  const Config& c = loaded->config;
  EXPECT_EQ(c.database.host, "legacy-host");
  EXPECT_EQ(c.database.port, 5999);
  EXPECT_EQ(c.database.name, "legacy_db");
  EXPECT_EQ(c.database.user, "legacy_user");
  EXPECT_EQ(c.database.password, "legacy-pw");
  EXPECT_EQ(c.database.statement_timeout_ms, 3000);
  EXPECT_EQ(c.collection.interval_s, 20);
  EXPECT_EQ(c.collection.log_path, "/var/log/pg.log");
  EXPECT_EQ(c.listener.url, "https://l.example/ingest/postgres");
  EXPECT_EQ(c.listener.api_key, "legacy-key");
  EXPECT_EQ(c.listener.project_id, "legacy-project");
  EXPECT_EQ(c.buffer.path, "/srv/buf");
  EXPECT_EQ(c.buffer.max_size_mb, 42);
  EXPECT_THAT(loaded->warnings, IsEmpty());
}

TEST_F(ConfigTest, TheCanonicalVariableWinsOverTheLegacyOneWithAWarning) {
  auto loaded =
      LoadText("", {{"BITVILLE_PG_DB_HOST", "legacy"}, {"BITVILLE_PG_DATABASE_HOST", "canonical"}});
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(loaded->config.database.host, "canonical");
  EXPECT_THAT(loaded->warnings, ElementsAre("environment variable BITVILLE_PG_DB_HOST ignored: "
                                            "BITVILLE_PG_DATABASE_HOST is set too and wins"));
}

TEST_F(ConfigTest, AnEmptyEnvironmentVariableCountsAsUnset) {
  auto loaded = LoadText("[database]\nport = 5433\n", {{"BITVILLE_PG_DB_PORT", ""}});
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(loaded->config.database.port, 5433);
}

TEST_F(ConfigTest, AnAggregateIntervalTheBudgetCannotCarryIsAWarningWithTheNumbers) {
  auto loaded = LoadText("[listener]\naggregate_interval_s = 2\n");
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  ASSERT_EQ(loaded->warnings.size(), 1u);
  EXPECT_THAT(loaded->warnings[0], HasSubstr("aggregate_interval_s = 2 needs 120 requests per "
                                             "minute for live data"));
  EXPECT_THAT(loaded->warnings[0], HasSubstr("leaves 40"));
  EXPECT_THAT(LoadText("[listener]\naggregate_interval_s = 15\n")->warnings, IsEmpty());
}

TEST_F(ConfigTest, BudgetSharesAboveOneAreRefused) {
  auto loaded = LoadText("[listener]\ncorrelation_share = 0.8\nlive_share = 0.3\n");
  ASSERT_FALSE(loaded.ok());
  EXPECT_THAT(loaded.status().message(), HasSubstr("correlation_share + live_share"));
}

TEST_F(ConfigTest, AStatementTimeoutUnder1000IsRaisedWithAWarning) {
  auto loaded = LoadText("[database]\nstatement_timeout_ms = 500\n");
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(loaded->config.database.statement_timeout_ms, 1000);
  EXPECT_THAT(loaded->warnings,
              ElementsAre(path_ + ":2: [database] statement_timeout_ms: 500 raised to the "
                                  "minimum of 1000"));

  auto from_env = LoadText("", {{"BITVILLE_PG_STATEMENT_TIMEOUT_MS", "0"}});
  ASSERT_TRUE(from_env.ok()) << from_env.status().ToString();
  EXPECT_EQ(from_env->config.database.statement_timeout_ms, 1000);
  EXPECT_THAT(from_env->warnings,
              ElementsAre(HasSubstr("environment variable BITVILLE_PG_STATEMENT_TIMEOUT_MS")));
}

TEST_F(ConfigTest, AnIntervalShorterThanTheBurstIntervalIsAccepted) {
  // One-second sampling (benchmarks, soak tests) is already faster than any burst.
  auto loaded = LoadText("[collection]\ninterval_s = 1\n");
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(loaded->config.collection.interval_s, 1);
}

TEST_F(ConfigTest, IniSyntaxFollowsPythonsConfigParserWhereItMatters) {
  auto loaded = LoadText(
      "# comment\n; comment\n[Database]\nHost: db1\nPORT = 5433 ; inline comment\n"
      "password = a;b#c\n\n[listener]\nproject_id=p1\n");
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(loaded->config.database.host, "db1");
  EXPECT_EQ(loaded->config.database.port, 5433);
  EXPECT_EQ(loaded->config.database.password, "a;b#c");
  EXPECT_EQ(loaded->config.listener.project_id, "p1");
}

TEST_F(ConfigTest, WindowsLineEndingsAndAByteOrderMarkAreAccepted) {
  auto loaded = LoadText(
      "\xEF\xBB\xBF[database]\r\nport = 5433\r\n\r\n[collection]\r\n"
      "interval_s = abc\r\n");
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().message(),
            path_ + ":5: [collection] interval_s: \"abc\" is not a number (1..86400)");
  auto good = LoadText("\xEF\xBB\xBF[database]\r\nport = 5433\r\n");
  ASSERT_TRUE(good.ok()) << good.status().ToString();
  EXPECT_EQ(good->config.database.port, 5433);
}

TEST_F(ConfigTest, BooleansAcceptConfigParsersWords) {
  for (const char* word : {"1", "yes", "true", "on", "TRUE", "Yes"}) {
    auto loaded = LoadText(std::string("[collection]\nsend_raw_query_text = ") + word + "\n");
    ASSERT_TRUE(loaded.ok()) << word;
    EXPECT_TRUE(loaded->config.collection.send_raw_query_text) << word;
  }
  for (const char* word : {"0", "no", "false", "off", "Off"}) {
    auto loaded = LoadText(std::string("[listener]\nlive_first = ") + word + "\n");
    ASSERT_TRUE(loaded.ok()) << word;
    EXPECT_FALSE(loaded->config.listener.live_first) << word;
  }
}

struct BadValueCase {
  std::string ini;
  std::string message;  // after "<path>:"
};

TEST_F(ConfigTest, BadValuesNameTheFileLineKeyAndProblem) {
  const std::vector<BadValueCase> cases = {
      {"[database]\nport = abc\n", "2: [database] port: \"abc\" is not a number (1..65535)"},
      {"\n[database]\nport = 70000\n", "3: [database] port: 70000 is out of range (1..65535)"},
      {"[database]\nport = 99999999999999999999\n",
       "2: [database] port: \"99999999999999999999\" is out of range (1..65535)"},
      {"[database]\nport = 5432x\n", "2: [database] port: \"5432x\" is not a number (1..65535)"},
      {"[collection]\nsend_raw_query_text = maybe\n",
       "2: [collection] send_raw_query_text: \"maybe\" is not a boolean (true/false, yes/no, "
       "on/off, 1/0)"},
      {"[collection]\nburst_load_per_core = nan\n",
       "2: [collection] burst_load_per_core: \"nan\" is not a number (0.01..10000.0)"},
      {"[collection]\nlog_format = eventlog\n",
       "2: [collection] log_format: \"eventlog\" is not one of auto|stderr|csvlog|jsonlog|syslog"},
      {"[collection]\nlog_path = pg.log\n",
       "2: [collection] log_path: \"pg.log\" is neither \"auto\" nor an absolute path"},
      {"[buffer]\npath = buffer\n", "2: [buffer] path: \"buffer\" is not an absolute path"},
      {"[listener]\nurl = ftp://listener/ingest/postgres\n",
       "2: [listener] url: must start with https:// (or http:// with allow_plain_http = true)"},
      {"[listener]\nurl = http://listener:8080/ingest/postgres\n",
       "2: [listener] url: http:// would send the API key in clear text; use https:// or set "
       "[listener] allow_plain_http = true"},
      {"[listener]\nurl = https:///ingest/postgres\n", "2: [listener] url: has no host"},
      {"[listener]\nproject_id = " + std::string(51, 'p') + "\n",
       "2: [listener] project_id: must be 1..50 characters, not 51"},
      {"[listener]\nproject_id =\n", "2: [listener] project_id: must be 1..50 characters, not 0"},
      {"[correlation]\ncomment_pattern = correlation:[0-9a-f]+\n",
       "2: [correlation] comment_pattern: the regex has no capture group for the id"},
      {"[listener]\nbreaker_cooldown_s = 600\n",
       "2: [listener] breaker_cooldown_s: is greater than [listener] breaker_max_cooldown_s "
       "(600 > 30)"},
      {"[database]\nhost = a\nhost = b\n",
       "3: [database] host: set again (first at @PATH@:2; an indented line continues the "
       "previous key)"},
      {"[database]\nhost = a\n  continued\n",
       "3: [database] host: set again (first at @PATH@:2; an indented line continues the "
       "previous key)"},
      {"[Database]\nPort = 1\n[database]\n# c\n\nport = 2\n",
       "6: [database] port: set again (first at @PATH@:2; an indented line continues the "
       "previous key)"},
      {"[database]\nthis line has no equals sign\n",
       "2: syntax error: expected \"[section]\" or \"key = value\""},
      {"[database\nport = 1\n", "1: syntax error: expected \"[section]\" or \"key = value\""},
      {"[database]\nhost = " + std::string(200, 'h') + "\n",
       "2: line is longer than 198 characters"},
  };
  for (const BadValueCase& c : cases) {
    const std::string message = ErrorOf(c.ini);
    const std::string path = dir_.path() + "/pgagent.ini";
    EXPECT_EQ(message, path + ":" + ReplaceAll(c.message, "@PATH@", path)) << c.ini;
  }
}

TEST_F(ConfigTest, AValueThatIsNotUtf8IsRefusedNamingTheKeyWithoutEchoingIt) {
  const std::string path = dir_.path() + "/pgagent.ini";
  EXPECT_EQ(ErrorOf("[agent]\nhostname = db\xff"
                    "1\n"),
            path +
                ":2: [agent] hostname: is not valid UTF-8 (byte 3 of 4); write the value in "
                "UTF-8");
  // Overlong forms and surrogates are not UTF-8 either.
  EXPECT_NE(ErrorOf("[listener]\nproject_id = \xc0\xaf\n")
                .find("[listener] project_id: is not "
                      "valid UTF-8"),
            std::string::npos);
  EXPECT_NE(ErrorOf("[collection]\nlog_line_prefix = %m \xed\xa0\x80\n")
                .find("[collection] log_line_prefix: is not valid UTF-8"),
            std::string::npos);
  // A secret is checked too, and never echoed.
  const std::string secret = ErrorOf("[database]\npassword = s3cr\xe9t\n");
  EXPECT_NE(secret.find("[database] password: is not valid UTF-8"), std::string::npos) << secret;
  EXPECT_EQ(secret.find("s3cr"), std::string::npos) << secret;
  // The environment is checked like the file.
  auto env = LoadText("", {{"BITVILLE_PG_AGENT_HOSTNAME", "h\x80"}});
  ASSERT_FALSE(env.ok());
  EXPECT_NE(env.status().message().find("[agent] hostname: is not valid UTF-8"), std::string::npos)
      << env.status().message();
  // Valid multi-byte UTF-8 passes.
  auto ok = LoadText("[agent]\nhostname = h\xc3\xb6st-\xe2\x82\xac\n");
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(ok->config.agent.hostname, "h\xc3\xb6st-\xe2\x82\xac");
}

TEST_F(ConfigTest, PlainHttpIsAcceptedOnlyWhenAllowedExplicitly) {
  auto loaded = LoadText(
      "[listener]\nurl = http://127.0.0.1:8080/ingest/postgres\n"
      "allow_plain_http = true\n");
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(loaded->config.listener.url, "http://127.0.0.1:8080/ingest/postgres");
}

TEST_F(ConfigTest, SkippingTlsVerificationAndAnOddPathAreWarnedAbout) {
  auto loaded = LoadText("[listener]\nurl = https://l/other\ninsecure_skip_tls_verify = on\n");
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_THAT(loaded->warnings, Contains(HasSubstr("does not end in /ingest/postgres")));
  EXPECT_THAT(loaded->warnings,
              Contains(path_ + ":3: [listener] insecure_skip_tls_verify = true: the listener's "
                               "TLS certificate is NOT verified"));
}

TEST_F(ConfigTest, BadEnvironmentValuesNameTheVariable) {
  EXPECT_EQ(ErrorOf("", {{"BITVILLE_PG_DB_PORT", "abc"}}),
            "environment variable BITVILLE_PG_DB_PORT: [database] port: \"abc\" is not a number "
            "(1..65535)");
  EXPECT_EQ(ErrorOf("", {{"BITVILLE_PG_LISTENER_PROJECT_ID", std::string(60, 'x')}}),
            "environment variable BITVILLE_PG_LISTENER_PROJECT_ID: [listener] project_id: must "
            "be 1..50 characters, not 60");
}

TEST_F(ConfigTest, SecretsNeverAppearInErrorsOrWarnings) {
  const std::string secret = "hunter2-SECRET";
  std::vector<std::string> messages = {
      ErrorOf("[listener]\napi_key = " + secret + " x\n"),
      ErrorOf("[database]\npassword = " + secret + "\npassword = " + secret + "\n"),
      ErrorOf("[database]\npassword = " + secret + std::string(200, 'x') + "\n"),
      ErrorOf("[database]\npassword " + secret + "\n"),
      ErrorOf("", {{"BITVILLE_PG_LISTENER_API_KEY", secret + "\tx"}}),
      ErrorOf("[listener]\nurl = https://user:" + secret + "@l/ingest/postgres\n"),
      ErrorOf("[listener]\nurl = http://user:" + secret + "@l/ingest/postgres\n"),
  };
  auto loaded = LoadText("[databse]\npassword = " + secret + "\n[database]\npasswrd = " + secret +
                             "\npassword = " + secret + "\n",
                         {{"BITVILLE_PG_DB_PASSWORD", secret}});
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  messages.insert(messages.end(), loaded->warnings.begin(), loaded->warnings.end());
  EXPECT_EQ(loaded->warnings.size(), 3u);
  for (const std::string& m : messages) {
    EXPECT_THAT(m, Not(HasSubstr("hunter2"))) << m;
    EXPECT_THAT(m, Not(IsEmpty()));
  }
}

TEST_F(ConfigTest, ThePasswordComesFromPasswordFileWithTheNewlineStripped) {
  const std::string pw = dir_.Write("pw", "s3cret\n");
  auto loaded = LoadText("[database]\npassword_file = " + pw + "\n");
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(loaded->config.database.password, "s3cret");
  EXPECT_THAT(loaded->warnings, IsEmpty());
}

TEST_F(ConfigTest, SecretSourcesFollowTheDocumentedPrecedence) {
  TempDir creds;
  creds.Write("db_password", "from-credential\n", 0400);
  creds.Write("api_key", "key-from-credential", 0400);
  const std::string pw = dir_.Write("pw", "from-file\n");
  const std::string ini = "[database]\npassword = from-ini\npassword_file = " + pw + "\n";

  auto ini_and_file = LoadText(ini);
  ASSERT_TRUE(ini_and_file.ok()) << ini_and_file.status().ToString();
  EXPECT_EQ(ini_and_file->config.database.password, "from-file");
  EXPECT_THAT(ini_and_file->warnings,
              Contains(AllOf(HasSubstr("[database] password: taken from [database] "
                                       "password_file " +
                                       pw),
                             HasSubstr(path_ + ":2 (ignored)"))));

  auto with_credentials = LoadText(ini, {{"CREDENTIALS_DIRECTORY", creds.path()}});
  ASSERT_TRUE(with_credentials.ok()) << with_credentials.status().ToString();
  EXPECT_EQ(with_credentials->config.database.password, "from-credential");
  EXPECT_EQ(with_credentials->config.listener.api_key, "key-from-credential");

  auto with_env = LoadText(
      ini, {{"CREDENTIALS_DIRECTORY", creds.path()}, {"BITVILLE_PG_DB_PASSWORD", "from-env"}});
  ASSERT_TRUE(with_env.ok()) << with_env.status().ToString();
  EXPECT_EQ(with_env->config.database.password, "from-env");
  EXPECT_THAT(with_env->warnings,
              Contains(HasSubstr("taken from environment variable BITVILLE_PG_DB_PASSWORD; "
                                 "also set by systemd credential " +
                                 creds.path() + "/db_password, [database] password_file " + pw +
                                 ", " + path_ + ":2 (ignored)")));
}

TEST_F(ConfigTest, ACommandRunByHandFindsThePackagedCredentialsWhenSystemdGaveNone) {
  const std::string creds = dir_.path() + "/credentials";
  ASSERT_EQ(::mkdir(creds.c_str(), 0700), 0);

  EXPECT_EQ(WithPackagedCredentials({}, creds).at("CREDENTIALS_DIRECTORY"), creds);
  EXPECT_EQ(
      WithPackagedCredentials({{"CREDENTIALS_DIRECTORY", ""}}, creds).at("CREDENTIALS_DIRECTORY"),
      creds);
  // systemd's own directory wins; a missing directory adds nothing.
  EXPECT_EQ(WithPackagedCredentials({{"CREDENTIALS_DIRECTORY", "/run/credentials/x"}}, creds)
                .at("CREDENTIALS_DIRECTORY"),
            "/run/credentials/x");
  EXPECT_EQ(WithPackagedCredentials({}, creds + "/missing").count("CREDENTIALS_DIRECTORY"), 0u);
}

TEST_F(ConfigTest, AnApiKeyFileIsReadLikeAPasswordFile) {
  const std::string key = dir_.Write("key", "k-123\r\n");
  auto loaded = LoadText("", {{"BITVILLE_PG_LISTENER_API_KEY_FILE", key}},
                         ConfigRequirements{.need_api_key = true});
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(loaded->config.listener.api_key, "k-123");
}

TEST_F(ConfigTest, AMissingOrEmptySecretFileIsAnError) {
  EXPECT_EQ(ErrorOf("[database]\npassword_file = /nonexistent/pw\n"),
            path_ +
                ":2: [database] password_file /nonexistent/pw: cannot read: No such file or "
                "directory");
  const std::string empty = dir_.Write("empty", "\n");
  EXPECT_EQ(ErrorOf("[listener]\napi_key_file = " + empty + "\n"),
            path_ + ":2: [listener] api_key_file " + empty + ": is empty");
}

TEST_F(ConfigTest, SecretFilesReadableByOthersAreWarnedAbout) {
  const std::string open_pw = dir_.Write("open_pw", "pw\n", 0644);
  auto loaded = LoadText("[database]\npassword_file = " + open_pw + "\n");
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_THAT(loaded->warnings,
              ElementsAre(open_pw + ": holds a secret and is readable by group or others (mode "
                                    "0644); chmod 600 it"));

  const std::string ini = dir_.Write("group.ini", "[listener]\napi_key = abc\n", 0640);
  auto ini_with_secret = LoadConfig(ini, {}, {});
  ASSERT_TRUE(ini_with_secret.ok()) << ini_with_secret.status().ToString();
  EXPECT_THAT(ini_with_secret->warnings,
              ElementsAre(HasSubstr(ini + ": holds a secret and is readable by group or others "
                                          "(mode 0640)")));

  const std::string no_secret = dir_.Write("public.ini", "[database]\nport = 5433\n", 0644);
  auto public_ini = LoadConfig(no_secret, {}, {});
  ASSERT_TRUE(public_ini.ok()) << public_ini.status().ToString();
  EXPECT_THAT(public_ini->warnings, IsEmpty());
}

TEST_F(ConfigTest, AMissingConfigFileIsAnError) {
  auto loaded = LoadConfig(dir_.path() + "/absent.ini", {}, {});
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(loaded.status().message(), HasSubstr(dir_.path() + "/absent.ini"));
}

TEST_F(ConfigTest, UnknownSectionsAndKeysAreWarningsSoOldConfigsLoad) {
  auto loaded = LoadText("orphan = 1\n[database]\nhostt = x\n[metrics]\na = 1\nb = 2\n");
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_THAT(loaded->warnings,
              ElementsAre(path_ + ":1: key \"orphan\" outside any section ignored",
                          path_ + ":3: unknown key [database] hostt ignored",
                          path_ + ":5: unknown section [metrics] ignored"));
}

TEST_F(ConfigTest, UnknownBitvilleVariablesAreWarningsNamingTheVariable) {
  auto loaded = LoadText("", {{"BITVILLE_PG_DB_HOTS", "x"},
                              {"BITVILLE_PG_CONFIG_PATH", "/etc/pgagent/pgagent.ini"},
                              {"PATH", "/usr/bin"}});
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_THAT(loaded->warnings, ElementsAre("environment variable BITVILLE_PG_DB_HOTS is not a "
                                            "pgagent setting (ignored)"));
}

TEST_F(ConfigTest, TheApiKeyIsRequiredOnlyWhenTheDaemonSaysSo) {
  EXPECT_TRUE(LoadText("").ok());
  EXPECT_EQ(ErrorOf("", {}, ConfigRequirements{.need_api_key = true}),
            path_ +
                ": [listener] api_key: required by pgagent-shipperd and not set (use "
                "api_key_file, the systemd credential api_key, BITVILLE_PG_LISTENER_API_KEY "
                "or api_key)");
  EXPECT_TRUE(LoadText("[listener]\napi_key = k\n", {}, {.need_api_key = true}).ok());
}

TEST_F(ConfigTest, DescribeChangesListsChangedKeysAndHidesSecrets) {
  Config before;
  Config after;
  after.collection.interval_s = 30;
  after.database.host = "db2";
  after.database.password = "new-secret";
  after.buffer.path = "/srv/buffer";
  after.collection.burst_load_per_core = 3;
  after.collection.log_line_prefix = "%m ";
  EXPECT_THAT(DescribeChanges(before, after),
              ElementsAre("[database] host: \"localhost\" -> \"db2\"",
                          "[database] password: (changed)", "[collection] interval_s: 60 -> 30",
                          "[collection] log_line_prefix: \"\" -> \"%m \"",
                          "[collection] burst_load_per_core: 2.0 -> 3.0",
                          "[buffer] path: \"/var/lib/pgagent/buffer\" -> \"/srv/buffer\" "
                          "(applies after restart)"));
  EXPECT_THAT(DescribeChanges(after, after), IsEmpty());
}

TEST_F(ConfigTest, AllConfigKeysListsEnvNamesDefaultsAndLegacyNames) {
  const std::vector<ConfigKeyInfo> keys = AllConfigKeys();
  std::set<std::string> names;
  for (const ConfigKeyInfo& k : keys) {
    EXPECT_TRUE(names.insert(k.section + "." + k.key).second) << k.key;
    EXPECT_FALSE(k.description.empty()) << k.key;
    EXPECT_FALSE(k.value_hint.empty()) << k.key;
  }
  auto find = [&](const std::string& section, const std::string& key) {
    for (const ConfigKeyInfo& k : keys) {
      if (k.section == section && k.key == key) return k;
    }
    ADD_FAILURE() << section << "." << key;
    return ConfigKeyInfo{};
  };
  const ConfigKeyInfo port = find("database", "port");
  EXPECT_EQ(port.env_var, "BITVILLE_PG_DATABASE_PORT");
  EXPECT_EQ(port.legacy_env_var, "BITVILLE_PG_DB_PORT");
  EXPECT_EQ(port.default_value, "5432");
  EXPECT_EQ(port.value_hint, "integer 1..65535");
  const ConfigKeyInfo project = find("listener", "project_id");
  EXPECT_EQ(project.legacy_env_var, "BITVILLE_PG_PROJECT_ID");
  EXPECT_EQ(find("collection", "log_path").legacy_env_var, "BITVILLE_PG_LOG_PATH");
  EXPECT_EQ(find("database", "statement_timeout_ms").legacy_env_var,
            "BITVILLE_PG_STATEMENT_TIMEOUT_MS");
  EXPECT_EQ(find("collection", "interval_s").env_var, "BITVILLE_PG_COLLECTION_INTERVAL_S");
  EXPECT_TRUE(find("listener", "api_key").secret);
  EXPECT_EQ(find("listener", "insecure_skip_tls_verify").default_value, "false");
  EXPECT_EQ(ConfigValueText(Config{}, "database", "password"), "(not set)");
  EXPECT_EQ(ConfigValueText(Config{}, "database", "nope"), std::nullopt);
}

CommandLineOptions PathArgs(std::string flag, std::string positional) {
  CommandLineOptions options;
  options.config_flag = std::move(flag);
  options.config_positional = std::move(positional);
  return options;
}

TEST(ConfigPathTest, AnExplicitPathBeatsTheEnvironment) {
  const Environment env = {{"BITVILLE_PG_CONFIG_PATH", "/env.ini"}};
  EXPECT_EQ(*ResolveConfigPath(PathArgs("/flag.ini", ""), env), "/flag.ini");
  EXPECT_EQ(*ResolveConfigPath(PathArgs("", "/pos.ini"), env), "/pos.ini");
  EXPECT_EQ(*ResolveConfigPath({}, env), "/env.ini");
  EXPECT_EQ(*ResolveConfigPath(PathArgs("/a.ini", "/a.ini"), {}), "/a.ini");
}

TEST(ConfigPathTest, NoPathOrTwoDifferentPathsAreErrors) {
  auto none = ResolveConfigPath({}, {{"BITVILLE_PG_CONFIG_PATH", ""}});
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().message(),
            "no config file: pass --config PATH or PATH, or set BITVILLE_PG_CONFIG_PATH");
  auto both = ResolveConfigPath(PathArgs("/a.ini", "/b.ini"), {});
  ASSERT_FALSE(both.ok());
  EXPECT_THAT(both.status().message(), HasSubstr("given twice"));
}

TEST(CommandLineTest, StandardOptionsFillTheOptions) {
  CLI::App app{"test"};
  CommandLineOptions options;
  AddStandardOptions(app, options, /*with_once=*/true);
  const char* argv[] = {"pgagent-collectord", "--config", "/etc/x.ini", "--once"};
  EXPECT_EQ(ParseCommandLine(app, options, "pgagent-collectord", 4, argv), std::nullopt);
  EXPECT_EQ(options.config_flag, "/etc/x.ini");
  EXPECT_TRUE(options.once);

  CLI::App app2{"test"};
  CommandLineOptions positional;
  AddStandardOptions(app2, positional, /*with_once=*/false);
  const char* argv2[] = {"pgagent-shipperd", "/etc/y.ini"};
  EXPECT_EQ(ParseCommandLine(app2, positional, "pgagent-shipperd", 2, argv2), std::nullopt);
  EXPECT_EQ(positional.config_positional, "/etc/y.ini");
}

TEST(CommandLineTest, AnUnknownOptionIsAUsageError) {
  CLI::App app{"test"};
  CommandLineOptions options;
  AddStandardOptions(app, options, /*with_once=*/false);
  const char* argv[] = {"pgagent-shipperd", "--once"};
  testing::internal::CaptureStderr();
  EXPECT_EQ(ParseCommandLine(app, options, "pgagent-shipperd", 2, argv), kExitUsage);
  EXPECT_THAT(testing::internal::GetCapturedStderr(), HasSubstr("--once"));
}

TEST(CommandLineTest, LoadingFromTheCommandLineUsesTheResolvedPath) {
  TempDir dir;
  const std::string ini = dir.Write("a.ini", "[database]\nport = 5999\n");
  auto loaded = LoadConfigFromCommandLine({}, {{"BITVILLE_PG_CONFIG_PATH", ini}}, {});
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(loaded->config.database.port, 5999);
  EXPECT_FALSE(LoadConfigFromCommandLine({}, {}, {}).ok());
  EXPECT_EQ(VersionLine("pgagent-shipperd"), std::string("pgagent-shipperd ") + PGAGENT_VERSION);
}

}  // namespace
}  // namespace pgagent
