// Issue 16 item 4 with real processes: once the log goes quiet, collectord's saved offset
// catches up with what shipperd acknowledged, so a SIGKILL of collectord then re-sends
// nothing. Real pgagent-collectord and pgagent-shipperd, a real log file, the real HTTPS
// test listener; no PostgreSQL is needed (the log's file and format are configured, the
// database port is closed, which the collectors report and retry).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "tests/harness/subprocess.h"
#include "tests/harness/test_listener.h"
#include "tests/support/child_process.h"

namespace pgagent {
namespace {

using namespace std::chrono_literals;
using testing::ChildProcess;
using testing::TestListener;

// A marker word with no digits (nothing a redactor could take for a literal).
std::string Marker(int i) {
  return std::string("quietmark") + char('a' + i / 26) + char('a' + i % 26) + "end";
}

size_t Occurrences(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

class OffsetFollowsAcksTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto listener = TestListener::Start();
    ASSERT_TRUE(listener.ok()) << listener.status().ToString();
    listener_ = std::move(*listener);
    auto dir = testing::MakeTempDir("pgagent-offset-");
    ASSERT_TRUE(dir.ok());
    dir_ = *dir;
    log_path_ = dir_ + "/postgresql.log";
    config_ = dir_ + "/pgagent.ini";
    auto port = testing::PickFreePort();
    ASSERT_TRUE(port.ok());
    std::ofstream(log_path_) << "";
    std::ofstream f(config_);
    f << "[database]\nhost = 127.0.0.1\nport = " << *port << "\nuser = nobody\n"
      << "[collection]\ninterval_s = 60\nlog_path = " << log_path_ << "\nlog_format = stderr\n"
      << "log_line_prefix = %m [%p] \nlog_start = beginning\nlog_batch_max_entries = 5\n"
      << "[listener]\nurl = " << listener_->ingest_url()
      << "\napi_key = " << listener_->options().api_key
      << "\nproject_id = offset\nca_file = " << listener_->ca_file() << "\n"
      << "[buffer]\npath = " << dir_ << "/buffer\n[ipc]\nruntime_dir = " << dir_ << "/run\n"
      << "[agent]\nstate_dir = " << dir_ << "/state\ncontrol_dir = " << dir_ << "/run\n";
    f.close();
    chmod(config_.c_str(), 0600);
  }
  void TearDown() override { testing::RemoveTree(dir_); }

  void AppendMarkers(int first, int count) {
    std::ofstream f(log_path_, std::ios::app);
    for (int i = first; i < first + count; ++i) {
      f << "2026-12-04 10:00:00.000 UTC [4242] LOG:  checkpoint " << Marker(i) << "\n";
    }
  }
  std::string Stored() {
    auto rows = listener_->StoredJson();
    return rows.ok() ? *rows : "";
  }
  bool AllArrived(int count) {
    const std::string rows = Stored();
    for (int i = 0; i < count; ++i) {
      if (rows.find(Marker(i)) == std::string::npos) return false;
    }
    return true;
  }
  std::unique_ptr<ChildProcess> Start(const std::string& daemon, const std::string& log) {
    auto child =
        ChildProcess::Start({testing::BinaryDir() + "/" + daemon, config_}, dir_ + "/" + log);
    EXPECT_TRUE(child.ok()) << child.status().ToString();
    return child.ok() ? std::move(*child) : nullptr;
  }
  std::string ReadFile(const std::string& path) {
    std::ifstream f(path);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
  }

  std::unique_ptr<TestListener> listener_;
  std::string dir_;
  std::string log_path_;
  std::string config_;
};

TEST_F(OffsetFollowsAcksTest, ASigkillAfterTheLogWentQuietResendsNothingAlreadyDelivered) {
  auto shipper = Start("shipperd/pgagent-shipperd", "shipperd.log");
  auto collector = Start("collectord/pgagent-collectord", "collectord.log");
  ASSERT_TRUE(shipper && collector);
  // Four batches of five acknowledged within one commit interval (the last one completed by
  // the assembler's idle flush): all but the first commit are left pending by the offset
  // file's rate limit, and no further batch comes to write them.
  AppendMarkers(0, 20);
  ASSERT_TRUE(testing::WaitUntil([&] { return AllArrived(20); }, 60s))
      << ReadFile(dir_ + "/collectord.log");
  std::this_thread::sleep_for(4s);  // the quiet period (linger + commit interval + margin)
  collector->Signal(SIGKILL);
  ASSERT_TRUE(collector->Wait(10s).has_value());
  collector = Start("collectord/pgagent-collectord", "collectord-2.log");
  ASSERT_TRUE(collector);
  AppendMarkers(20, 10);
  ASSERT_TRUE(testing::WaitUntil([&] { return AllArrived(30); }, 60s))
      << ReadFile(dir_ + "/collectord-2.log");
  std::this_thread::sleep_for(3s);  // anything re-sent would have arrived by now
  const std::string rows = Stored();
  for (int i = 0; i < 30; ++i) EXPECT_EQ(Occurrences(rows, Marker(i)), 1u) << Marker(i);
  EXPECT_EQ(collector->Stop(15s), 0);
  EXPECT_EQ(shipper->Stop(15s), 0);
}

}  // namespace
}  // namespace pgagent
