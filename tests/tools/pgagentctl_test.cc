// pgagentctl, the built binary, against a shipperd control server over a real LMDB buffer
// in this process, with the daemons down, and against real PostgreSQL and the HTTPS test
// listener.
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/control_socket.h"
#include "shared/buffer/lmdb_buffer.h"
#include "shared/control/shipper_control.h"
#include "tests/common_control/control_test_util.h"
#include "tests/harness/pg_cluster.h"
#include "tests/harness/subprocess.h"
#include "tests/harness/test_listener.h"

namespace pgagent {
namespace {

using namespace std::chrono_literals;
using pgagent::testing::ControlTempDir;
using pgagent::testing::ControlTestRecord;
using pgagent::testing::RunOutput;
using pgagent::v1::RECORD_KIND_ACTIVITY;
using pgagent::v1::RECORD_KIND_LOG;

const std::string kCtl = std::string(PGAGENT_BINARY_DIR) + "/tools/pgagentctl/pgagentctl";

template <typename Message>
Message ParseJson(const std::string& text) {
  Message message;
  auto status = google::protobuf::util::JsonStringToMessage(text, &message);
  EXPECT_TRUE(status.ok()) << status.ToString() << "\n" << text;
  return message;
}

double NowUnixS() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

class PgagentctlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(mkdir(run_dir_.c_str(), 0755), 0);
    WriteConfig("");
  }

  // A config with the test's control dir and buffer; `extra` appended as is.
  void WriteConfig(const std::string& extra) {
    std::ofstream out(config_path_, std::ios::trunc);
    out << "[agent]\ncontrol_dir = " << run_dir_ << "\n"
        << "[buffer]\npath = " << buffer_path_ << "\n"
        << extra;
    out.close();
    chmod(config_path_.c_str(), 0600);
  }

  RunOutput Ctl(std::vector<std::string> args) {
    args.insert(args.begin(), {kCtl, "--config", config_path_});
    pgagent::testing::RunOptions options;
    options.timeout = 60s;
    auto run = pgagent::testing::RunProcess(args, options);
    EXPECT_TRUE(run.ok()) << run.status().ToString();
    return run.ok() ? *run : RunOutput{};
  }

  void OpenBuffer() {
    LmdbBufferOptions options;
    options.path = buffer_path_;
    options.max_size_mb = 10;
    auto buffer = LmdbBuffer::Open(options);
    ASSERT_TRUE(buffer.ok()) << buffer.status().ToString();
    buffer_ = std::move(*buffer);
  }

  void Fill(int logs, int activities) {
    std::vector<pgagent::v1::Record> records;
    for (int i = 0; i < logs; ++i) records.push_back(ControlTestRecord(++seq_, RECORD_KIND_LOG));
    for (int i = 0; i < activities; ++i) {
      records.push_back(ControlTestRecord(++seq_, RECORD_KIND_ACTIVITY));
    }
    ASSERT_TRUE(buffer_->Append(records).ok());
  }

  void AddDeadLetter() {
    DeadLetter letter;
    letter.http_status = 400;
    letter.envelope_json = R"({"source":"pg_log"})";
    letter.response_body = "data.entries: invalid";
    letter.records = {ControlTestRecord(++seq_, RECORD_KIND_LOG)};
    ASSERT_TRUE(buffer_->AddDeadLetter(letter).ok());
  }

  // shipperd's control server over the buffer, and a collectord one answering status.
  void StartDaemons() {
    shipper_health_.set_component("shipperd");
    shipper_health_.set_breaker_state("closed");
    shipper_health_.set_requests_sent(7);
    shipper_health_.set_delivery_last_status(200);
    collector_health_.set_db_state("connected");
    collector_health_.set_log_state("following");
    ShipperStatusSources sources;
    sources.health = [this] { return shipper_health_; };
    handler_ = std::make_unique<ShipperControlHandler>(*buffer_, SystemClock::Instance(), sources);
    ControlServerOptions shipper_options;
    shipper_options.path = ControlSocketPath(run_dir_, "shipperd");
    shipper_options.handler = handler_->AsHandler();
    auto shipper = ControlServer::Start(shipper_options);
    ASSERT_TRUE(shipper.ok()) << shipper.status().ToString();
    shipper_server_ = std::move(*shipper);
    ControlServerOptions collector_options;
    collector_options.path = ControlSocketPath(run_dir_, "collectord");
    collector_options.handler = [this](const pgagent::v1::ControlRequest&) {
      pgagent::v1::ControlResponse response;
      response.set_ok(true);
      auto* status = response.mutable_status();
      status->set_component("collectord");
      status->set_version("9.9.9");
      status->set_uptime_s(3725);
      status->set_pid(4242);
      status->set_last_cycle_unix_s(NowUnixS() - 5);
      *status->mutable_health() = collector_health_;
      return response;
    };
    auto collector = ControlServer::Start(collector_options);
    ASSERT_TRUE(collector.ok()) << collector.status().ToString();
    collector_server_ = std::move(*collector);
  }

  ControlTempDir dir_;
  std::string run_dir_ = dir_.File("run");
  std::string buffer_path_ = dir_.File("buffer");
  std::string config_path_ = dir_.File("pgagent.ini");
  std::unique_ptr<LmdbBuffer> buffer_;
  std::unique_ptr<ShipperControlHandler> handler_;
  std::unique_ptr<ControlServer> shipper_server_;
  std::unique_ptr<ControlServer> collector_server_;
  // What the fake daemons report (set before StartDaemons() or between calls: the servers
  // answer on their own threads, one request at a time, after the test thread wrote them).
  pgagent::v1::AgentHealth shipper_health_;
  pgagent::v1::AgentHealth collector_health_;
  uint64_t seq_ = 0;
};

// ---------------------------------------------------------------------------------------
// With the daemons running

TEST_F(PgagentctlTest, StatusShowsBothDaemonsUpAndExitsZero) {
  OpenBuffer();
  Fill(3, 0);
  StartDaemons();
  RunOutput run = Ctl({"status"});
  EXPECT_EQ(run.exit_code, 0) << run.out << run.err;
  EXPECT_TRUE(Contains(run.out, "collectord: up (pid 4242, version 9.9.9, uptime 1 h 02 min)"))
      << run.out;
  EXPECT_TRUE(Contains(run.out, "database: connected")) << run.out;
  EXPECT_TRUE(Contains(run.out, "shipperd: up (pid " + std::to_string(getpid()))) << run.out;
  EXPECT_TRUE(Contains(run.out, "breaker: closed; requests sent 7")) << run.out;
  EXPECT_TRUE(Contains(run.out, "buffer: 3 records")) << run.out;
}

TEST_F(PgagentctlTest, StatusJsonParsesAsAStatusReport) {
  OpenBuffer();
  Fill(2, 0);
  StartDaemons();
  RunOutput run = Ctl({"status", "--json"});
  EXPECT_EQ(run.exit_code, 0) << run.err;
  auto report = ParseJson<pgagent::v1::StatusReport>(run.out);
  ASSERT_EQ(report.daemons_size(), 2);
  EXPECT_EQ(report.daemons(0).component(), "collectord");
  EXPECT_EQ(report.daemons(0).state(), "up");
  EXPECT_EQ(report.daemons(1).state(), "up");
  EXPECT_EQ(report.daemons(1).status().queue().records(), 2u);
  EXPECT_EQ(report.daemons(1).status().health().requests_sent(), 7u);
}

TEST_F(PgagentctlTest, StatusIsHealthyOnlyWhenNothingIsWrongAndSaysSo) {
  OpenBuffer();
  Fill(1, 0);
  StartDaemons();
  RunOutput run = Ctl({"status"});
  EXPECT_EQ(run.exit_code, 0) << run.out;
  EXPECT_TRUE(Contains(run.out, "  log: following")) << run.out;
  EXPECT_TRUE(Contains(run.out, "health: healthy\n")) << run.out;
  auto report = ParseJson<pgagent::v1::StatusReport>(Ctl({"status", "--json"}).out);
  EXPECT_EQ(report.health(), "healthy");
  EXPECT_EQ(report.reasons_size(), 0);
}

TEST_F(PgagentctlTest, StatusIsDegradedWithTheBreakerOpenAndSaysWhyInTextAndJson) {
  OpenBuffer();
  StartDaemons();
  shipper_health_.set_breaker_state("open");
  shipper_health_.set_delivery_last_status(503);
  shipper_health_.set_delivery_last_error("HTTP 503");
  RunOutput run = Ctl({"status"});
  EXPECT_EQ(run.exit_code, 1) << run.out;
  EXPECT_TRUE(Contains(run.out, "health: degraded\n")) << run.out;
  EXPECT_TRUE(Contains(run.out, "  - shipperd: circuit breaker open (last error: HTTP 503)"))
      << run.out;
  EXPECT_TRUE(Contains(run.out, "  - shipperd: delivery failing: the last request got HTTP 503"))
      << run.out;
  RunOutput json = Ctl({"status", "--json"});
  EXPECT_EQ(json.exit_code, 1);
  auto report = ParseJson<pgagent::v1::StatusReport>(json.out);
  EXPECT_EQ(report.health(), "degraded");
  ASSERT_EQ(report.reasons_size(), 2);
  EXPECT_EQ(report.reasons(0), "shipperd: circuit breaker open (last error: HTTP 503)");
}

TEST_F(PgagentctlTest, StatusIsDegradedWhenTheDatabaseIsInBackoffOrTheLogIsNotFollowed) {
  OpenBuffer();
  StartDaemons();
  collector_health_.set_db_state("backoff");
  collector_health_.set_log_state("not following: /var/log/postgresql/x.log: permission denied");
  collector_health_.set_privilege_problem("role \"m\" lacks pg_monitor / pg_read_all_stats");
  RunOutput run = Ctl({"status"});
  EXPECT_EQ(run.exit_code, 1) << run.out;
  EXPECT_TRUE(Contains(run.out, "  - collectord: database unreachable (backoff)")) << run.out;
  EXPECT_TRUE(Contains(run.out, "  - collectord: log not following: /var/log/postgresql/x.log"))
      << run.out;
  EXPECT_TRUE(Contains(run.out, "  - collectord: role \"m\" lacks pg_monitor")) << run.out;
  EXPECT_TRUE(Contains(run.out, "  privileges: role \"m\" lacks pg_monitor")) << run.out;
}

TEST_F(PgagentctlTest, StatusIsDegradedAfterEvictionsOrDeadLettersInTheLastHourOnly) {
  OpenBuffer();
  StartDaemons();
  shipper_health_.set_last_eviction_unix_s(NowUnixS() - 120);
  shipper_health_.set_last_dead_letter_unix_s(NowUnixS() - 7200);  // over an hour ago
  RunOutput run = Ctl({"status"});
  EXPECT_EQ(run.exit_code, 1) << run.out;
  EXPECT_TRUE(Contains(run.out, "  - shipperd: buffer evicted records 120 s ago")) << run.out;
  EXPECT_FALSE(Contains(run.out, "dead letters added")) << run.out;
  shipper_health_.set_last_eviction_unix_s(0);
  shipper_health_.set_last_dead_letter_unix_s(NowUnixS() - 30);
  run = Ctl({"status"});
  EXPECT_EQ(run.exit_code, 1) << run.out;
  EXPECT_TRUE(Contains(run.out, "  - shipperd: dead letters added 30 s ago")) << run.out;
}

TEST_F(PgagentctlTest, StatusSaysWhichDaemonIsDownAndExitsTwo) {
  OpenBuffer();
  StartDaemons();
  collector_server_->Stop();
  RunOutput run = Ctl({"status"});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_TRUE(Contains(run.out, "collectord: down (no control socket at " +
                                    ControlSocketPath(run_dir_, "collectord") + ")"))
      << run.out;
  EXPECT_TRUE(Contains(run.out, "shipperd: up")) << run.out;
}

TEST_F(PgagentctlTest, QueueStatsComeFromShipperd) {
  OpenBuffer();
  Fill(3, 2);
  AddDeadLetter();
  StartDaemons();
  RunOutput run = Ctl({"queue", "stats"});
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_TRUE(Contains(run.out, "buffer: 5 records")) << run.out;
  EXPECT_TRUE(Contains(run.out, "dead letters: 1")) << run.out;
  EXPECT_FALSE(Contains(run.out, "note:")) << run.out;
  auto json = ParseJson<pgagent::v1::ControlResponse>(Ctl({"queue", "stats", "--json"}).out);
  EXPECT_TRUE(json.ok());
  EXPECT_EQ(json.source(), "shipperd");
  EXPECT_EQ(json.queue_stats().records(), 5u);
}

TEST_F(PgagentctlTest, QueuePeekPrintsDecodedRecordsOfTheAskedKind) {
  OpenBuffer();
  Fill(3, 2);
  StartDaemons();
  RunOutput run = Ctl({"queue", "peek", "1", "--kind", "activity"});
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_TRUE(Contains(run.out, "--- record 4: activity from db1")) << run.out;
  EXPECT_TRUE(Contains(run.out, "\"kind\": \"RECORD_KIND_ACTIVITY\"")) << run.out;
  EXPECT_TRUE(Contains(run.out, "more records match")) << run.out;
  auto json = ParseJson<pgagent::v1::ControlResponse>(
      Ctl({"queue", "peek", "10", "--kind", "activity", "--json"}).out);
  ASSERT_EQ(json.queue_peek().records_size(), 2);
  EXPECT_EQ(json.queue_peek().records(1).record().activity().count(), 5u);
}

TEST_F(PgagentctlTest, QueuePeekRejectsAnUnknownKindAsAUsageError) {
  RunOutput run = Ctl({"queue", "peek", "--kind", "nonsense"});
  EXPECT_EQ(run.exit_code, 64);
  EXPECT_TRUE(Contains(run.err, "unknown record kind 'nonsense'")) << run.err;
}

TEST_F(PgagentctlTest, QueuePurgeNeedsYesThenEmptiesTheBuffer) {
  OpenBuffer();
  Fill(4, 0);
  StartDaemons();
  RunOutput refused = Ctl({"queue", "purge"});
  EXPECT_EQ(refused.exit_code, 64);
  EXPECT_TRUE(Contains(refused.err, "add --yes")) << refused.err;
  EXPECT_EQ(buffer_->Stats()->records, 4u);
  RunOutput purged = Ctl({"queue", "purge", "--yes"});
  EXPECT_EQ(purged.exit_code, 0) << purged.err;
  EXPECT_TRUE(Contains(purged.out, "purged 4 buffered records")) << purged.out;
  EXPECT_EQ(buffer_->Stats()->records, 0u);
}

TEST_F(PgagentctlTest, DeadLettersCanBeListedRequeuedAndPurged) {
  OpenBuffer();
  AddDeadLetter();
  AddDeadLetter();
  AddDeadLetter();
  StartDaemons();
  RunOutput list = Ctl({"deadletter", "list"});
  EXPECT_EQ(list.exit_code, 0) << list.err;
  EXPECT_TRUE(Contains(list.out, "dead letters: 3 kept")) << list.out;
  EXPECT_TRUE(Contains(list.out, "HTTP 400")) << list.out;
  EXPECT_TRUE(Contains(list.out, "listener said: data.entries: invalid")) << list.out;

  RunOutput requeue = Ctl({"deadletter", "requeue", "2"});
  EXPECT_EQ(requeue.exit_code, 0) << requeue.err;
  EXPECT_TRUE(Contains(requeue.out, "requeued 1 dead letters")) << requeue.out;
  EXPECT_EQ(buffer_->Stats()->records, 1u);

  EXPECT_EQ(Ctl({"deadletter", "purge"}).exit_code, 64);
  RunOutput purge = Ctl({"deadletter", "purge", "--yes", "--json"});
  EXPECT_EQ(purge.exit_code, 0) << purge.err;
  EXPECT_EQ(ParseJson<pgagent::v1::ControlResponse>(purge.out).affected().count(), 2u);
  EXPECT_EQ(buffer_->Stats()->dead_letters, 0u);
}

// ---------------------------------------------------------------------------------------
// With the daemons down

class PgagentctlDownTest : public PgagentctlTest {
 protected:
  // A buffer with records, then closed as a stopped shipperd leaves it.
  void LeaveBuffer(int logs, int activities) {
    OpenBuffer();
    Fill(logs, activities);
    AddDeadLetter();
    buffer_.reset();
  }
};

TEST_F(PgagentctlDownTest, StatusSaysDownReadsTheBufferAndExitsTwo) {
  LeaveBuffer(3, 0);
  RunOutput run = Ctl({"status"});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_TRUE(Contains(run.out, "shipperd: down (no control socket at " +
                                    ControlSocketPath(run_dir_, "shipperd") + ")"))
      << run.out;
  EXPECT_TRUE(Contains(run.out, "collectord: down")) << run.out;
  EXPECT_TRUE(Contains(run.out, "buffer (read directly): 3 records")) << run.out;
  auto report = ParseJson<pgagent::v1::StatusReport>(Ctl({"status", "--json"}).out);
  ASSERT_EQ(report.daemons_size(), 2);
  EXPECT_EQ(report.daemons(1).state(), "down");
  EXPECT_FALSE(report.daemons(1).up());
  EXPECT_EQ(report.daemons(1).buffer().records(), 3u);
}

TEST_F(PgagentctlDownTest, AStaleSocketCountsAsDown) {
  LeaveBuffer(1, 0);
  const int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s",
                ControlSocketPath(run_dir_, "shipperd").c_str());
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  close(fd);
  RunOutput run = Ctl({"status"});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_TRUE(Contains(run.out, "shipperd: down (not running: nobody listens on")) << run.out;
}

TEST_F(PgagentctlDownTest, QueueStatsAndPeekReadTheBufferDirectly) {
  LeaveBuffer(2, 1);
  RunOutput stats = Ctl({"queue", "stats"});
  EXPECT_EQ(stats.exit_code, 0) << stats.err;
  EXPECT_TRUE(Contains(stats.out, "note: shipperd is down")) << stats.out;
  EXPECT_TRUE(Contains(stats.out, "directly, read-only")) << stats.out;
  EXPECT_TRUE(Contains(stats.out, "buffer: 3 records")) << stats.out;

  RunOutput peek = Ctl({"queue", "peek", "--json"});
  EXPECT_EQ(peek.exit_code, 0) << peek.err;
  auto json = ParseJson<pgagent::v1::ControlResponse>(peek.out);
  EXPECT_EQ(json.source(), "buffer");
  ASSERT_EQ(json.queue_peek().records_size(), 3);
  EXPECT_EQ(json.queue_peek().records(2).record().kind(), RECORD_KIND_ACTIVITY);

  RunOutput list = Ctl({"deadletter", "list"});
  EXPECT_EQ(list.exit_code, 0) << list.err;
  EXPECT_TRUE(Contains(list.out, "dead letters: 1 kept")) << list.out;
}

TEST_F(PgagentctlDownTest, ChangesAreRefusedWhileShipperdIsDownAndTheBufferIsUntouched) {
  LeaveBuffer(2, 0);
  RunOutput purge = Ctl({"queue", "purge", "--yes"});
  EXPECT_EQ(purge.exit_code, 69);
  EXPECT_TRUE(Contains(purge.err, "shipperd is down")) << purge.err;
  EXPECT_TRUE(Contains(purge.err, "systemctl start pgagent-shipperd")) << purge.err;
  EXPECT_EQ(Ctl({"deadletter", "requeue"}).exit_code, 69);
  OpenBuffer();
  EXPECT_EQ(buffer_->Stats()->records, 2u);
  EXPECT_EQ(buffer_->Stats()->dead_letters, 1u);
}

TEST_F(PgagentctlDownTest, NoDaemonAndNoBufferIsUnavailable) {
  RunOutput run = Ctl({"queue", "stats"});
  EXPECT_EQ(run.exit_code, 69);
  EXPECT_TRUE(Contains(run.err, "cannot read the buffer at " + buffer_path_)) << run.err;
  RunOutput json = Ctl({"queue", "stats", "--json"});
  EXPECT_EQ(json.exit_code, 69);
  EXPECT_FALSE(ParseJson<pgagent::v1::ControlResponse>(json.out).ok());
}

// ---------------------------------------------------------------------------------------
// check-config and usage

TEST_F(PgagentctlTest, CheckConfigAcceptsAGoodFile) {
  WriteConfig("[listener]\napi_key = secret-key-123\n[database]\npassword = pw-456\n");
  RunOutput run = Ctl({"check-config", "--print"});
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_TRUE(Contains(run.out, "config OK: " + config_path_)) << run.out;
  EXPECT_TRUE(Contains(run.out, "[buffer] path = " + buffer_path_)) << run.out;
  EXPECT_TRUE(Contains(run.out, "[listener] api_key = (set)")) << run.out;
  EXPECT_FALSE(Contains(run.out, "secret-key-123")) << run.out;
  EXPECT_FALSE(Contains(run.out, "pw-456")) << run.out;
  auto report =
      ParseJson<pgagent::v1::ConfigCheckReport>(Ctl({"check-config", "--json", "--print"}).out);
  EXPECT_TRUE(report.ok());
  EXPECT_EQ(report.values().at("[agent] control_dir"), run_dir_);
}

TEST_F(PgagentctlTest, CheckConfigWarnsWhenTheApiKeyIsMissing) {
  RunOutput run = Ctl({"check-config"});
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_TRUE(Contains(run.out, "warning: [listener] api_key is not set here")) << run.out;
}

TEST_F(PgagentctlTest, CheckConfigRejectsABadFileWithItsLineAndExit78) {
  const std::string bad = dir_.File("bad.ini");
  std::ofstream(bad) << "[collection]\ninterval_s = 60\n; comment\ninterval_s = -5\n";
  RunOutput run = Ctl({"check-config", bad});
  EXPECT_EQ(run.exit_code, 78);
  EXPECT_TRUE(Contains(run.err, "config invalid: " + bad + ":4:")) << run.err;
  RunOutput json = Ctl({"check-config", bad, "--json"});
  EXPECT_EQ(json.exit_code, 78);
  auto report = ParseJson<pgagent::v1::ConfigCheckReport>(json.out);
  EXPECT_FALSE(report.ok());
  EXPECT_EQ(report.path(), bad);
  EXPECT_TRUE(Contains(report.error(), bad + ":4:")) << report.error();
}

TEST_F(PgagentctlTest, CheckConfigRejectsAValueThatIsNotUtf8WithExit78NamingTheKey) {
  const std::string bad = dir_.File("latin1.ini");
  std::ofstream(bad) << "[agent]\nhostname = m\xfcnchen-db1\n";
  RunOutput run = Ctl({"check-config", bad});
  EXPECT_EQ(run.exit_code, 78) << run.out << run.err;
  EXPECT_TRUE(Contains(run.err, bad + ":2: [agent] hostname: is not valid UTF-8")) << run.err;
}

TEST_F(PgagentctlTest, CommandsNeedingTheConfigExit78WhenItIsMissing) {
  auto run = pgagent::testing::RunProcess({kCtl, "--config", dir_.File("missing.ini"), "status"});
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->exit_code, 78);
  EXPECT_TRUE(Contains(run->err, "missing.ini")) << run->err;
}

// --instance addresses the daemons of pgagent-collectord@<instance>: the directories its
// template units set, and /etc/pgagent/<instance>.ini unless --config says otherwise.
TEST_F(PgagentctlTest, InstanceUsesTheDirectoriesOfItsTemplateUnits) {
  WriteConfig("[database]\nport = 5433\n");
  RunOutput run = Ctl({"--instance", "main", "check-config", "--print"});
  EXPECT_EQ(run.exit_code, 0) << run.out << run.err;
  EXPECT_TRUE(Contains(run.out, "[ipc] runtime_dir = /run/pgagent/main\n")) << run.out;
  EXPECT_TRUE(Contains(run.out, "[agent] control_dir = /run/pgagent/main\n")) << run.out;
  EXPECT_TRUE(Contains(run.out, "[agent] state_dir = /var/lib/pgagent/main/collectord\n"));
  EXPECT_TRUE(Contains(run.out, "[buffer] path = /var/lib/pgagent/main/buffer\n")) << run.out;
  RunOutput bad = Ctl({"--instance", "../etc", "status"});
  EXPECT_EQ(bad.exit_code, 64) << bad.out << bad.err;
  auto own = pgagent::testing::RunProcess({kCtl, "--instance", "i17-no-such-instance", "status"});
  ASSERT_TRUE(own.ok());
  EXPECT_EQ(own->exit_code, 78);
  EXPECT_TRUE(Contains(own->err, "/etc/pgagent/i17-no-such-instance.ini")) << own->err;
}

TEST_F(PgagentctlTest, UnknownCommandsAreUsageErrors) {
  EXPECT_EQ(Ctl({"frobnicate"}).exit_code, 64);
  EXPECT_EQ(Ctl({}).exit_code, 64);
  EXPECT_EQ(Ctl({"queue"}).exit_code, 64);
}

// ---------------------------------------------------------------------------------------
// test-connection against real PostgreSQL and the HTTPS test listener

class PgagentctlConnectionTest : public PgagentctlTest {
 protected:
  static void SetUpTestSuite() {
    auto& pg = pgagent::testing::PgCluster::Shared();
    auto setup = pg.Psql(
        "DO $$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'ctl_monitor') THEN "
        "CREATE ROLE ctl_monitor LOGIN; GRANT pg_monitor TO ctl_monitor; END IF; "
        "IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'ctl_plain') THEN "
        "CREATE ROLE ctl_plain LOGIN; END IF; END$$;\n"
        "CREATE EXTENSION IF NOT EXISTS pg_stat_statements;\n"
        "SELECT 1 FROM pg_database WHERE datname = 'ctl_bare';\n");
    ASSERT_TRUE(setup.ok()) << setup.status().ToString();
    if (setup->find('1') == std::string::npos) {
      ASSERT_TRUE(pg.Psql("CREATE DATABASE ctl_bare;").ok());
    }
    auto listener = pgagent::testing::TestListener::Start();
    ASSERT_TRUE(listener.ok()) << listener.status().ToString();
    listener_ = listener->release();
  }
  static void TearDownTestSuite() {
    delete listener_;
    listener_ = nullptr;
  }

  void WriteConnectionConfig(const std::string& user, const std::string& dbname,
                             const std::string& api_key, const std::string& url) {
    auto& pg = pgagent::testing::PgCluster::Shared();
    WriteConfig("[database]\nhost = " + pg.host() + "\nport = " + std::to_string(pg.port()) +
                "\nuser = " + user + "\nname = " + dbname + "\nconnect_timeout_s = 3\n" +
                "[listener]\nurl = " + url + "\napi_key = " + api_key +
                "\nca_file = " + listener_->ca_file() + "\nproject_id = ctl-test\n");
  }

  static pgagent::testing::TestListener* listener_;
};

pgagent::testing::TestListener* PgagentctlConnectionTest::listener_ = nullptr;

TEST_F(PgagentctlConnectionTest, AllChecksPassWithAMonitorRoleAndAWorkingListener) {
  ASSERT_TRUE(listener_->Reset().ok());
  WriteConnectionConfig("ctl_monitor", "postgres", listener_->options().api_key,
                        listener_->ingest_url());
  RunOutput run = Ctl({"test-connection"});
  EXPECT_EQ(run.exit_code, 0) << run.out << run.err;
  EXPECT_TRUE(Contains(run.out, "database.connect             OK")) << run.out;
  EXPECT_TRUE(Contains(run.out, "member of pg_read_all_stats (through pg_monitor)")) << run.out;
  EXPECT_TRUE(Contains(run.out, "installed in postgres and preloaded")) << run.out;
  EXPECT_TRUE(Contains(run.out, "listener.health              OK")) << run.out;
  EXPECT_TRUE(Contains(run.out, "listener.ready               OK")) << run.out;
  EXPECT_TRUE(Contains(run.out, "listener.auth                OK   API key accepted")) << run.out;
  EXPECT_FALSE(Contains(run.out, "listener.ingest")) << run.out;
  EXPECT_TRUE(Contains(run.out, "all checks passed")) << run.out;
  // Without --send-test-record nothing was written into the listener.
  auto none = listener_->StoredCount();
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(*none, 0);

  run = Ctl({"test-connection", "--send-test-record"});
  EXPECT_EQ(run.exit_code, 0) << run.out << run.err;
  EXPECT_TRUE(Contains(run.out, "listener.ingest              OK")) << run.out;
  auto rows = listener_->StoredRows();
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  ASSERT_EQ(rows->values_size(), 1);
  const auto& row = rows->values(0).struct_value().fields();
  EXPECT_EQ(row.at("source").string_value(), "system_metrics");
  EXPECT_EQ(row.at("data")
                .struct_value()
                .fields()
                .at("agent")
                .struct_value()
                .fields()
                .at("check")
                .string_value(),
            "pgagentctl test-connection");
}

TEST_F(PgagentctlConnectionTest, JsonReportParsesAndListsEveryCheck) {
  WriteConnectionConfig("ctl_monitor", "postgres", listener_->options().api_key,
                        listener_->ingest_url());
  RunOutput run = Ctl({"test-connection", "--json"});
  EXPECT_EQ(run.exit_code, 0) << run.out << run.err;
  auto report = ParseJson<pgagent::v1::ConnectionReport>(run.out);
  EXPECT_TRUE(report.ok());
  ASSERT_EQ(report.checks_size(), 6);
  EXPECT_EQ(report.checks(0).name(), "database.connect");
  EXPECT_EQ(report.checks(5).name(), "listener.auth");
}

TEST_F(PgagentctlConnectionTest, MissingPrivilegesExtensionAndWrongKeyAreReportedWithFixes) {
  ASSERT_TRUE(listener_->SetReady(false).ok());
  WriteConnectionConfig("ctl_plain", "ctl_bare", "wrong-key", listener_->ingest_url());
  RunOutput run = Ctl({"test-connection"});
  ASSERT_TRUE(listener_->SetReady(true).ok());
  EXPECT_EQ(run.exit_code, 1) << run.out << run.err;
  EXPECT_TRUE(Contains(run.out, "database.connect             OK")) << run.out;
  EXPECT_TRUE(Contains(run.out, "GRANT pg_monitor TO ctl_plain;")) << run.out;
  EXPECT_TRUE(Contains(run.out, "CREATE EXTENSION pg_stat_statements; in database ctl_bare"))
      << run.out;
  EXPECT_TRUE(Contains(run.out, "listener.health              OK")) << run.out;
  EXPECT_TRUE(Contains(run.out, "/ready answered HTTP 503")) << run.out;
  EXPECT_TRUE(Contains(run.out, "refused the API key (HTTP 401)")) << run.out;
  EXPECT_TRUE(Contains(run.out, "some checks FAILED")) << run.out;
}

TEST_F(PgagentctlConnectionTest, UnreachableDatabaseAndListenerFailWithoutHanging) {
  auto port = pgagent::testing::PickFreePort();
  ASSERT_TRUE(port.ok());
  WriteConfig("[database]\nhost = 127.0.0.1\nport = " + std::to_string(*port) +
              "\nconnect_timeout_s = 2\n[listener]\nurl = https://127.0.0.1:" +
              std::to_string(*port) + "/ingest/postgres\napi_key = k\nconnect_timeout_s = 2\n");
  RunOutput run = Ctl({"test-connection"});
  EXPECT_EQ(run.exit_code, 1) << run.out << run.err;
  EXPECT_TRUE(Contains(run.out, "database.connect             FAIL cannot connect")) << run.out;
  EXPECT_TRUE(Contains(run.out, "database.privileges          FAIL not checked")) << run.out;
  EXPECT_TRUE(Contains(run.out, "listener.health              FAIL")) << run.out;
}

}  // namespace
}  // namespace pgagent
