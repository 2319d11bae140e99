// shipperd's opt-in Prometheus endpoint: the exposition text passes `promtool check metrics`,
// the server answers only GET /metrics on loopback, and a real Prometheus scrapes a real
// pgagent-shipperd started with [agent] metrics_address.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include "shipperd/metrics/metrics_server.h"
#include "shipperd/metrics/prometheus_text.h"
#include "tests/harness/subprocess.h"
#include "tests/support/child_process.h"

namespace pgagent {
namespace {

using namespace std::chrono_literals;

std::string ReadOrEmpty(const std::string& path) {
  auto text = testing::ReadFile(path);
  return text.ok() ? *text : std::string();
}

MetricsSnapshot ASnapshot() {
  MetricsSnapshot s;
  s.shipperd.set_component("shipperd");
  s.shipperd.set_uptime_s(12.5);
  s.shipperd.set_rss_bytes(10 << 20);
  s.shipperd.set_cpu_percent(1.5);
  s.shipperd.set_breaker_state("open");
  s.shipperd.set_requests_sent(9);
  s.shipperd.set_buffer_records(3);
  (*s.shipperd.mutable_counters())["records_delivered"] = 7;
  s.buffer_max_bytes = 100 << 20;
  pgagent::v1::AgentHealth c;
  c.set_component("collectord");
  c.set_db_state("connected");
  c.set_log_state("not following: \"x\"\nwhy");
  auto* run = c.add_collectors();
  run->set_name("pg_stat_activity");
  run->set_runs(4);
  (*c.mutable_counters())["log_rotations"] = 2;
  s.collectord = c;
  return s;
}

// A plain HTTP/1.0 request to 127.0.0.1:port; the whole response ("" when it fails).
std::string Http(int port, const std::string& request_line) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string response;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
    const std::string req = request_line + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    if (::write(fd, req.data(), req.size()) == static_cast<ssize_t>(req.size())) {
      char buf[4096];
      for (ssize_t n; (n = ::read(fd, buf, sizeof(buf))) > 0;) response.append(buf, n);
    }
  }
  ::close(fd);
  return response;
}

std::string Body(const std::string& response) {
  const size_t at = response.find("\r\n\r\n");
  return at == std::string::npos ? "" : response.substr(at + 4);
}

// `promtool check metrics` on `text`: its exit code and output.
std::pair<int, std::string> Promtool(const std::string& text, const std::string& dir) {
  std::ofstream(dir + "/metrics.txt") << text;
  auto run =
      testing::RunProcess({"/bin/sh", "-c", "promtool check metrics < " + dir + "/metrics.txt"});
  if (!run.ok()) return {-1, run.status().ToString()};
  return {run->exit_code, run->out + run->err};
}

class MetricsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = testing::MakeTempDir("pgagent-metrics-");
    ASSERT_TRUE(dir.ok());
    dir_ = *dir;
  }
  void TearDown() override { testing::RemoveTree(dir_); }
  std::string dir_;
};

TEST_F(MetricsTest, TheExpositionTextPassesPromtoolWithBothDaemonsAndWithCollectordAway) {
  MetricsSnapshot snapshot = ASnapshot();
  const std::string text = RenderPrometheusText(snapshot);
  const auto [code, output] = Promtool(text, dir_);
  EXPECT_EQ(code, 0) << output << "\n" << text;
  EXPECT_EQ(output, "") << text;
  EXPECT_NE(text.find("pgagent_up{component=\"collectord\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("pgagent_breaker_state{state=\"open\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("pgagent_collector_runs_total{collector=\"pg_stat_activity\"} 4\n"),
            std::string::npos);
  EXPECT_NE(
      text.find("pgagent_health_value{component=\"shipperd\",name=\"records_delivered\"} 7\n"),
      std::string::npos);
  EXPECT_NE(text.find("pgagent_log_following 0\n"), std::string::npos);
  snapshot.collectord.reset();
  const std::string away = RenderPrometheusText(snapshot);
  EXPECT_EQ(Promtool(away, dir_).first, 0) << away;
  EXPECT_NE(away.find("pgagent_up{component=\"collectord\"} 0\n"), std::string::npos) << away;
  EXPECT_EQ(away.find("pgagent_database_connected"), std::string::npos) << away;
}

TEST_F(MetricsTest, ServerRefusesAnythingButALoopbackAddress) {
  for (const std::string address : {"0.0.0.0:9187", "10.1.2.3:9187", "[::]:9187", "127.0.0.1",
                                    "127.0.0.1:99999", "db.example.com:9187"}) {
    auto server = MetricsServer::Start(address, [] { return std::string(); });
    ASSERT_FALSE(server.ok()) << address;
    EXPECT_EQ(server.status().code(), StatusCode::kInvalidArgument) << address;
    EXPECT_NE(server.status().message().find("[agent] metrics_address"), std::string::npos);
  }
}

TEST_F(MetricsTest, ServerAnswersGetMetricsOnlyAndRendersEachScrape) {
  int scrapes = 0;
  auto server = MetricsServer::Start("127.0.0.1:0", [&scrapes] {
    return "pgagent_up{component=\"shipperd\"} " + std::to_string(++scrapes) + "\n";
  });
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  const int port = (*server)->port();
  ASSERT_GT(port, 0);
  const std::string first = Http(port, "GET /metrics");
  EXPECT_TRUE(first.starts_with("HTTP/1.0 200") || first.starts_with("HTTP/1.1 200")) << first;
  EXPECT_NE(first.find("Content-Type: text/plain; version=0.0.4"), std::string::npos) << first;
  EXPECT_EQ(Body(first), "pgagent_up{component=\"shipperd\"} 1\n");
  EXPECT_EQ(Body(Http(port, "GET /metrics")), "pgagent_up{component=\"shipperd\"} 2\n");
  EXPECT_NE(Http(port, "GET /").find(" 404 "), std::string::npos);
  EXPECT_NE(Http(port, "POST /metrics").find(" 405 "), std::string::npos);
  // A second server on the same port is refused with a clear error.
  auto twice =
      MetricsServer::Start("127.0.0.1:" + std::to_string(port), [] { return std::string(); });
  ASSERT_FALSE(twice.ok());
  EXPECT_EQ(twice.status().code(), StatusCode::kUnavailable);
}

// Debian's Prometheus scrapes a real shipperd (collectord not running) on loopback.
TEST_F(MetricsTest, ARealPrometheusScrapesARealShipperd) {
  auto metrics_port = testing::PickFreePort();
  auto prom_port = testing::PickFreePort();
  auto dead_port = testing::PickFreePort();
  ASSERT_TRUE(metrics_port.ok() && prom_port.ok() && dead_port.ok());
  const std::string ini = dir_ + "/pgagent.ini";
  std::ofstream(ini) << "[listener]\nurl = https://127.0.0.1:" << *dead_port
                     << "/ingest/postgres\napi_key = k\n[buffer]\npath = " << dir_
                     << "/buffer\n[ipc]\nruntime_dir = " << dir_
                     << "/run\n[agent]\ncontrol_dir = " << dir_
                     << "/run\nmetrics_address = 127.0.0.1:" << *metrics_port << "\n";
  auto shipperd = testing::ChildProcess::Start(
      {testing::BinaryDir() + "/shipperd/pgagent-shipperd", "--config", ini},
      dir_ + "/shipperd.log");
  ASSERT_TRUE(shipperd.ok()) << shipperd.status().ToString();
  std::string body;
  for (int i = 0; i < 100 && body.empty(); ++i) {
    body = Body(Http(*metrics_port, "GET /metrics"));
    if (body.empty()) std::this_thread::sleep_for(100ms);  // waiting for the daemon to bind
  }
  ASSERT_FALSE(body.empty()) << ReadOrEmpty(dir_ + "/shipperd.log");
  EXPECT_EQ(Promtool(body, dir_).first, 0) << body;
  EXPECT_NE(body.find("pgagent_up{component=\"collectord\"} 0\n"), std::string::npos) << body;

  std::ofstream(dir_ + "/prometheus.yml")
      << "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: pgagent\n"
      << "    static_configs:\n      - targets: ['127.0.0.1:" << *metrics_port << "']\n";
  auto prometheus = testing::ChildProcess::Start(
      {"/usr/bin/prometheus", "--config.file=" + dir_ + "/prometheus.yml",
       "--storage.tsdb.path=" + dir_ + "/tsdb",
       "--web.listen-address=127.0.0.1:" + std::to_string(*prom_port)},
      dir_ + "/prometheus.log");
  ASSERT_TRUE(prometheus.ok()) << prometheus.status().ToString();
  std::string answer;
  const std::string query = "GET /api/v1/query?query=pgagent_up%7Bcomponent%3D%22shipperd%22%7D";
  for (int i = 0; i < 300; ++i) {
    answer = Body(Http(*prom_port, query));
    if (answer.find("\"value\":[") != std::string::npos) break;
    std::this_thread::sleep_for(100ms);  // polling the real Prometheus until it has scraped
  }
  EXPECT_NE(answer.find("\"job\":\"pgagent\""), std::string::npos)
      << answer << "\n"
      << ReadOrEmpty(dir_ + "/prometheus.log");
  EXPECT_NE(answer.find("\"1\"]"), std::string::npos) << answer;
  const std::string targets = Body(Http(*prom_port, "GET /api/v1/targets"));
  EXPECT_NE(targets.find("\"health\":\"up\""), std::string::npos) << targets;
  (*prometheus)->Stop();
  EXPECT_EQ((*shipperd)->Stop(), 0) << ReadOrEmpty(dir_ + "/shipperd.log");
}

}  // namespace
}  // namespace pgagent
