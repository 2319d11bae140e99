// Both daemons as real processes: --once, exit codes, SIGTERM, SIGHUP and the systemd
// notification protocol (on a fake NOTIFY_SOCKET), against the real PostgreSQL cluster and
// the real HTTPS test listener.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "shared/listener/curl_transport.h"
#include "tests/harness/pg_cluster.h"
#include "tests/harness/subprocess.h"
#include "tests/harness/test_listener.h"
#include "tests/support/child_process.h"

namespace pgagent {
namespace {

using namespace std::chrono_literals;
using testing::ChildProcess;
using testing::PgCluster;
using testing::TestListener;

class LifecycleTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    PgCluster& pg = PgCluster::Shared();
    ASSERT_TRUE(pg.Psql("DO $$BEGIN CREATE ROLE monitor LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END$$;"
                        "GRANT pg_monitor TO monitor;"
                        "DO $$BEGIN CREATE ROLE nobody_special LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END$$;"
                        "CREATE EXTENSION IF NOT EXISTS pg_stat_statements;")
                    .ok());
    auto listener = TestListener::Start();
    ASSERT_TRUE(listener.ok()) << listener.status().ToString();
    listener_ = listener->release();
  }
  static void TearDownTestSuite() {
    delete listener_;
    listener_ = nullptr;
  }
  void SetUp() override {
    auto dir = testing::MakeTempDir("pgagent-life-");
    ASSERT_TRUE(dir.ok());
    dir_ = *dir;
  }
  void TearDown() override { testing::RemoveTree(dir_); }

  std::string Config(const std::string& extra = "", const std::string& user = "monitor", int port = 0) {
    const std::string path = dir_ + "/pgagent.ini";
    std::ofstream f(path);
    f << "[database]\nhost = 127.0.0.1\nport = " << (port ? port : PgCluster::Shared().port())
      << "\nuser = " << user << "\n"
      << "[collection]\ninterval_s = 2\nlog_path = auto\n"
      << "[listener]\nurl = " << listener_->ingest_url() << "\napi_key = " << listener_->options().api_key
      << "\nproject_id = life\nca_file = " << listener_->ca_file() << "\n"
      << "[buffer]\npath = " << dir_ << "/buffer\n[ipc]\nruntime_dir = " << dir_ << "/run\n"
      << "[agent]\nstate_dir = " << dir_ << "/state\n"
      << extra;
    f.close();
    chmod(path.c_str(), 0600);
    return path;
  }
  static std::string Bin(const std::string& rel) { return testing::BinaryDir() + "/" + rel; }
  std::string ReadLog(const std::string& name) {
    std::ifstream f(dir_ + "/" + name);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
  }

  static TestListener* listener_;
  std::string dir_;
};

TestListener* LifecycleTest::listener_ = nullptr;

TEST_F(LifecycleTest, OncePrintsOneJsonRecordPerCollectorAndExitsZero) {
  auto out = testing::RunProcess({Bin("collectord/pgagent-collectord"), "--config", Config(), "--once"});
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->exit_code, 0) << out->err;
  std::istringstream lines(out->out);
  std::string line;
  std::vector<std::string> kinds;
  while (std::getline(lines, line)) {
    ASSERT_EQ(line.front(), '{') << line;
    for (const char* kind : {"RECORD_KIND_ACTIVITY", "RECORD_KIND_STATEMENTS", "RECORD_KIND_SYSTEM"}) {
      if (line.find(std::string("\"kind\":\"") + kind + "\"") != std::string::npos) kinds.push_back(kind);
    }
    EXPECT_NE(line.find("\"collected_at\""), std::string::npos);  // snake_case names
  }
  EXPECT_EQ(kinds, (std::vector<std::string>{"RECORD_KIND_ACTIVITY", "RECORD_KIND_STATEMENTS",
                                             "RECORD_KIND_SYSTEM"}))
      << out->out;
}

// --dry-run: every line it prints is an envelope the real HTTPS test listener accepts and
// stores as it is (that the lines are the bytes shipperd's Dispatcher sends for the same
// records is tests/collectord/listener_preview).
TEST_F(LifecycleTest, DryRunPrintsEnvelopesTheListenerAcceptsAndSendsNothing) {
  ASSERT_TRUE(listener_->Reset().ok());
  auto out = testing::RunProcess({Bin("collectord/pgagent-collectord"), "--config", Config(), "--dry-run"});
  ASSERT_TRUE(out.ok());
  ASSERT_EQ(out->exit_code, 0) << out->err;
  EXPECT_EQ(listener_->StoredCount().value_or(-1), 0);  // --dry-run itself sends nothing
  CurlTransportOptions options;
  options.ca_file = listener_->ca_file();
  auto transport = CurlTransport::Create(options);
  ASSERT_TRUE(transport.ok()) << transport.status().ToString();
  std::istringstream lines(out->out);
  std::string line;
  int sent = 0;
  while (std::getline(lines, line)) {
    ASSERT_EQ(line.rfind("{\"project\":\"life\",\"timestamp\":", 0), 0u) << line;
    auto response = (*transport)->Post(ListenerPost(listener_->ingest_url(), listener_->options().api_key, line));
    ASSERT_TRUE(response.ok()) << response.status().ToString();
    EXPECT_EQ(response->status / 100, 2) << response->body << "\n" << line;
    ++sent;
  }
  EXPECT_GE(sent, 3) << out->out;  // activity, statements, system_metrics at least
  auto rows = listener_->StoredRows();
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  ASSERT_EQ(rows->values_size(), sent);
  std::set<std::string> sources;
  for (const auto& row : rows->values()) sources.insert(row.struct_value().fields().at("source").string_value());
  EXPECT_TRUE(sources.count("pg_stat_activity")) << out->out;
  EXPECT_TRUE(sources.count("system_metrics")) << out->out;
}

TEST_F(LifecycleTest, OnceSaysWhichPrivilegeIsMissing) {
  auto out = testing::RunProcess({Bin("collectord/pgagent-collectord"), Config("", "nobody_special"), "--once"});
  ASSERT_TRUE(out.ok());
  EXPECT_NE(out->exit_code, 0);
  EXPECT_NE(out->err.find("pg_read_all_stats"), std::string::npos) << out->err;
}

TEST_F(LifecycleTest, OnceSaysWhenTheDatabaseCannotBeReached) {
  auto port = testing::PickFreePort();
  ASSERT_TRUE(port.ok());
  auto out = testing::RunProcess({Bin("collectord/pgagent-collectord"), Config("", "monitor", *port), "--once"});
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->exit_code, 69) << out->err;
  EXPECT_NE(out->err.find("127.0.0.1:" + std::to_string(*port)), std::string::npos) << out->err;
}

TEST_F(LifecycleTest, AnInvalidConfigExits78WithFileAndLine) {
  const std::string path = Config("[database]\nport = not-a-port\n");
  for (const char* daemon : {"collectord/pgagent-collectord", "shipperd/pgagent-shipperd"}) {
    auto out = testing::RunProcess({Bin(daemon), path});
    ASSERT_TRUE(out.ok());
    EXPECT_EQ(out->exit_code, 78) << daemon << ": " << out->err;
    EXPECT_NE(out->err.find(path + ":"), std::string::npos) << out->err;
    EXPECT_NE(out->err.find("[database] port"), std::string::npos) << out->err;
  }
}

TEST_F(LifecycleTest, AConfigValueThatIsNotUtf8Exits78NamingTheKey) {
  const std::string path = Config("[agent]\nhostname = db\xe9v\n");
  for (const char* daemon : {"collectord/pgagent-collectord", "shipperd/pgagent-shipperd"}) {
    auto out = testing::RunProcess({Bin(daemon), path});
    ASSERT_TRUE(out.ok());
    EXPECT_EQ(out->exit_code, 78) << daemon << ": " << out->err;
    EXPECT_NE(out->err.find("[agent] hostname: is not valid UTF-8"), std::string::npos) << out->err;
  }
}

TEST_F(LifecycleTest, ShipperdExits69WhenItsBufferCannotBeOpened) {
  // A valid config whose buffer directory would have to live below a regular file.
  const std::string blocker = dir_ + "/not-a-dir";
  std::ofstream(blocker) << "x";
  std::ifstream in(Config());
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  const std::string from = "path = " + dir_ + "/buffer";
  text.replace(text.find(from), from.size(), "path = " + blocker + "/buffer");
  const std::string path = dir_ + "/bad-buffer.ini";
  std::ofstream(path) << text;
  chmod(path.c_str(), 0600);
  testing::RunOptions options;
  options.timeout = 30s;
  auto bad = testing::RunProcess({Bin("shipperd/pgagent-shipperd"), path}, options);
  ASSERT_TRUE(bad.ok());
  EXPECT_EQ(bad->exit_code, 69) << bad->err;
  EXPECT_NE(bad->err.find("buffer.open_failed"), std::string::npos) << bad->err;
}

// A fake systemd: a datagram socket that collects sd_notify messages.
class FakeNotifySocket {
 public:
  explicit FakeNotifySocket(const std::string& path) : path_(path) {
    fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path.c_str());
    bound_ = bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
    timeval tv{0, 100000};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  }
  ~FakeNotifySocket() {
    close(fd_);
    unlink(path_.c_str());
  }
  bool bound() const { return bound_; }
  // Everything received so far, one message per line.
  std::string Drain() {
    char buf[4096];
    for (;;) {
      const ssize_t n = recv(fd_, buf, sizeof(buf), 0);
      if (n <= 0) break;
      received_.append(buf, static_cast<size_t>(n));
      received_ += '\n';
    }
    return received_;
  }

 private:
  std::string path_;
  int fd_ = -1;
  bool bound_ = false;
  std::string received_;
};

TEST_F(LifecycleTest, BothDaemonsNotifyReadyAndPingTheWatchdog) {
  const std::string config = Config();
  FakeNotifySocket notify_shipper(dir_ + "/notify-shipper.sock");
  FakeNotifySocket notify_collector(dir_ + "/notify-collector.sock");
  ASSERT_TRUE(notify_shipper.bound() && notify_collector.bound());
  auto shipper = ChildProcess::Start({Bin("shipperd/pgagent-shipperd"), config}, dir_ + "/shipperd.log",
                                     {{"NOTIFY_SOCKET", dir_ + "/notify-shipper.sock"}, {"WATCHDOG_USEC", "2000000"}});
  auto collector = ChildProcess::Start({Bin("collectord/pgagent-collectord"), config}, dir_ + "/collectord.log",
                                       {{"NOTIFY_SOCKET", dir_ + "/notify-collector.sock"}, {"WATCHDOG_USEC", "2000000"}});
  ASSERT_TRUE(shipper.ok() && collector.ok());
  auto count = [](const std::string& s, const std::string& what) {
    size_t n = 0;
    for (size_t pos = s.find(what); pos != std::string::npos; pos = s.find(what, pos + 1)) ++n;
    return n;
  };
  EXPECT_TRUE(testing::WaitUntil([&] { return count(notify_shipper.Drain(), "WATCHDOG=1") >= 2 &&
                                              count(notify_collector.Drain(), "WATCHDOG=1") >= 2; },
                                 20s));
  EXPECT_NE(notify_shipper.Drain().find("READY=1"), std::string::npos);
  EXPECT_NE(notify_collector.Drain().find("READY=1"), std::string::npos);
  EXPECT_NE(notify_collector.Drain().find("STATUS="), std::string::npos);
  EXPECT_EQ((*collector)->Stop(15s), 0);
  EXPECT_EQ((*shipper)->Stop(15s), 0);
  EXPECT_NE(notify_shipper.Drain().find("STOPPING=1"), std::string::npos);
}

TEST_F(LifecycleTest, SigtermStopsBothDaemonsGracefullyWithinTenSecondsEvenMidRequest) {
  const std::string config = Config();
  auto shipper = ChildProcess::Start({Bin("shipperd/pgagent-shipperd"), config}, dir_ + "/shipperd.log");
  auto collector = ChildProcess::Start({Bin("collectord/pgagent-collectord"), config}, dir_ + "/collectord.log");
  ASSERT_TRUE(shipper.ok() && collector.ok());
  ASSERT_TRUE(listener_->WaitForStoredCount(1, 30s).ok());
  ASSERT_TRUE(listener_->FailNext("hang", -1).ok());  // the next request never gets an answer
  std::this_thread::sleep_for(2500ms);                 // a cycle is collected and sent
  const auto start = std::chrono::steady_clock::now();
  (*collector)->Signal(SIGTERM);
  (*shipper)->Signal(SIGTERM);
  auto c = (*collector)->Wait(10s);
  auto s = (*shipper)->Wait(10s);
  const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_TRUE(listener_->ClearFailures().ok());
  ASSERT_TRUE(c.has_value() && s.has_value()) << "took " << took << " s";
  EXPECT_EQ(*c, 0) << ReadLog("collectord.log");
  EXPECT_EQ(*s, 0) << ReadLog("shipperd.log");
  EXPECT_LT(took, 10.0);
  EXPECT_NE(ReadLog("collectord.log").find("collectord.drained"), std::string::npos);
}

TEST_F(LifecycleTest, SighupAppliesAValidConfigAndKeepsTheOldOneWhenInvalid) {
  const std::string config = Config();
  auto collector = ChildProcess::Start({Bin("collectord/pgagent-collectord"), config}, dir_ + "/collectord.log");
  auto shipper = ChildProcess::Start({Bin("shipperd/pgagent-shipperd"), config}, dir_ + "/shipperd.log");
  ASSERT_TRUE(collector.ok() && shipper.ok());
  std::this_thread::sleep_for(1500ms);
  std::ofstream(config, std::ios::app) << "[listener]\nrequests_per_minute = 60\n";
  (*collector)->Signal(SIGHUP);
  (*shipper)->Signal(SIGHUP);
  EXPECT_TRUE(testing::WaitUntil([&] {
    return ReadLog("shipperd.log").find("[listener] requests_per_minute: 80 -> 60") != std::string::npos &&
           ReadLog("collectord.log").find("config.applied") != std::string::npos;
  }, 10s)) << ReadLog("shipperd.log") << ReadLog("collectord.log");
  std::ofstream(config, std::ios::app) << "[database]\nport = -1\n";
  (*collector)->Signal(SIGHUP);
  (*shipper)->Signal(SIGHUP);
  EXPECT_TRUE(testing::WaitUntil([&] {
    return ReadLog("shipperd.log").find("config.reload_rejected") != std::string::npos &&
           ReadLog("collectord.log").find("config.reload_rejected") != std::string::npos;
  }, 10s));
  std::this_thread::sleep_for(500ms);
  EXPECT_TRUE((*collector)->running());
  EXPECT_TRUE((*shipper)->running());
  EXPECT_EQ((*collector)->Stop(15s), 0);
  EXPECT_EQ((*shipper)->Stop(15s), 0);
}

// pgagentctl status --json with the test's config; the parsed report and the exit code.
std::pair<int, std::string> CtlStatus(const std::string& config, bool json) {
  std::vector<std::string> argv = {testing::BinaryDir() + "/tools/pgagentctl/pgagentctl",
                                   "--config", config, "status"};
  if (json) argv.push_back("--json");
  auto run = testing::RunProcess(argv);
  if (!run.ok()) return {-1, run.status().ToString()};
  return {run->exit_code, run->out + run->err};
}

TEST_F(LifecycleTest, TheDaemonWarnsOnceAboutMissingPrivilegesAndStatusIsDegraded) {
  const std::string config = Config("[agent]\ncontrol_dir = " + dir_ + "/run\n", "nobody_special");
  ::mkdir((dir_ + "/run").c_str(), 0770);  // as systemd's RuntimeDirectory= would
  auto shipper =
      ChildProcess::Start({Bin("shipperd/pgagent-shipperd"), config}, dir_ + "/shipperd.log");
  auto collector =
      ChildProcess::Start({Bin("collectord/pgagent-collectord"), config}, dir_ + "/collectord.log");
  ASSERT_TRUE(shipper.ok() && collector.ok());
  auto count = [&](const std::string& what) {
    const std::string log = ReadLog("collectord.log");
    size_t n = 0;
    for (size_t pos = log.find(what); pos != std::string::npos; pos = log.find(what, pos + 1)) ++n;
    return n;
  };
  ASSERT_TRUE(
      testing::WaitUntil([&] { return count("collector.insufficient_privilege") >= 1; }, 20s))
      << ReadLog("collectord.log");
  // Three more cycles (interval_s = 2): still warned only once.
  ASSERT_TRUE(testing::WaitUntil(
      [&] { return CtlStatus(config, false).second.find("lacks pg_monitor") != std::string::npos; },
      20s))
      << CtlStatus(config, false).second << ReadLog("collectord.log");
  std::this_thread::sleep_for(6s);
  EXPECT_EQ(count("collector.insufficient_privilege"), 1u) << ReadLog("collectord.log");
  const auto [code, out] = CtlStatus(config, false);
  EXPECT_EQ(code, 1) << out;
  EXPECT_NE(
      out.find("  - collectord: role \"nobody_special\" lacks pg_monitor / pg_read_all_stats"),
      std::string::npos)
      << out;
  // shipperd's own health now reports a CPU share (it was always 0).
  const auto [json_code, json] = CtlStatus(config, true);
  const size_t shipperd = json.find("\"component\": \"shipperd\"");
  const size_t cpu = json.find("\"cpu_percent\": ", shipperd);
  ASSERT_NE(cpu, std::string::npos) << json;
  EXPECT_GT(std::stod(json.substr(cpu + 15, 12)), 0.0) << json.substr(cpu, 40);
  EXPECT_EQ((*collector)->Stop(15s), 0);
  EXPECT_EQ((*shipper)->Stop(15s), 0);
}

// Log following starts without a working database connection: from the log settings the
// server reported on an earlier run (kept in state_dir), so that the authentication failures
// of the agent's own role are shipped as they happen.
TEST_F(LifecycleTest, AuthenticationFailuresAreShippedWhileTheRoleCannotConnect) {
  const std::string config = Config();
  {
    auto collector =
        ChildProcess::Start({Bin("collectord/pgagent-collectord"), config}, dir_ + "/first.log");
    ASSERT_TRUE(collector.ok());
    ASSERT_TRUE(testing::WaitUntil(
        [&] { return ReadLog("first.log").find("logs.following") != std::string::npos; }, 30s))
        << ReadLog("first.log");
    EXPECT_EQ((*collector)->Stop(15s), 0);
  }
  ASSERT_TRUE(std::ifstream(dir_ + "/state/server_log_settings").good()) << ReadLog("first.log");
  ASSERT_TRUE(listener_->Reset().ok());
  std::string text = ReadLog("pgagent.ini");
  text.replace(text.find("user = monitor"), 14, "user = no_such_role_i17");
  std::ofstream(config, std::ios::trunc) << text;
  auto shipper =
      ChildProcess::Start({Bin("shipperd/pgagent-shipperd"), config}, dir_ + "/shipperd.log");
  auto collector =
      ChildProcess::Start({Bin("collectord/pgagent-collectord"), config}, dir_ + "/collectord.log");
  ASSERT_TRUE(shipper.ok() && collector.ok());
  EXPECT_TRUE(testing::WaitUntil(
      [&] {
        auto rows = listener_->StoredJson();
        return rows.ok() && rows->find("no_such_role_i17") != std::string::npos &&
               rows->find("pg_log") != std::string::npos;
      },
      40s))
      << ReadLog("collectord.log");
  EXPECT_NE(ReadLog("collectord.log").find("logs.using_saved_settings"), std::string::npos);
  EXPECT_EQ((*collector)->Stop(15s), 0);
  EXPECT_EQ((*shipper)->Stop(15s), 0);
}

}  // namespace
}  // namespace pgagent
