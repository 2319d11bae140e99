// Issue 20 item 4 with the real binaries: the log of a real PostgreSQL (its logging
// collector, log_filename = postgresql.log) is renamed logrotate-style and the server told to
// reopen it (pg_rotate_logfile()) while the real pgagent-collectord is stopped by pid; the
// real pgagent-shipperd keeps running and delivers to the HTTPS test listener. collectord
// follows log_path = auto (a fixed log_filename: followed as its path).
//  - Two renames while stopped: every marker line of the saved file, of the middle file (never
//    under the pattern's name while collectord ran) and of the current one arrives exactly
//    once (SIGTERM) or, after a SIGKILL, those written while it was down exactly once and the
//    earlier ones at most twice; no logtail.lines_skipped warning.
//  - More rotations while stopped than collectord can queue: the files it cannot read are a
//    warning with their exact byte count in the journal and in `pgagentctl status`.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

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
namespace fs = std::filesystem;

// What the server writes for marker n of `tag`: "LOG:  <tag> mark <n> end".
std::string Marker(const std::string& tag, int n) {
  return tag + " mark " + std::to_string(n) + " end";
}

std::string ReadAll(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

size_t Count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t pos = text.find(what); pos != std::string::npos; pos = text.find(what, pos + 1)) ++n;
  return n;
}

uint64_t InodeOf(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? st.st_ino : 0;
}

class RotationWhileDownTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    testing::PgClusterOptions po;
    po.all_log_formats = false;  // stderr only
    po.settings["log_filename"] = "postgresql.log";
    po.settings["log_rotation_age"] = "0";  // rotations only when the test says so
    po.settings["log_rotation_size"] = "0";
    auto pg = PgCluster::Start(po);
    ASSERT_TRUE(pg.ok()) << pg.status().ToString();
    pg_ = pg->release();
    ASSERT_TRUE(pg_->Psql("CREATE ROLE monitor LOGIN; GRANT pg_monitor TO monitor;"
                          "CREATE FUNCTION rwd_mark(tag text, a int, b int) RETURNS int "
                          "LANGUAGE plpgsql AS $$BEGIN FOR i IN a..b LOOP "
                          "RAISE LOG '% mark % end', tag, i; END LOOP; RETURN b - a + 1; END$$;")
                    .ok());
    auto listener = TestListener::Start();
    ASSERT_TRUE(listener.ok()) << listener.status().ToString();
    listener_ = listener->release();
  }
  static void TearDownTestSuite() {
    delete listener_;
    listener_ = nullptr;
    delete pg_;
    pg_ = nullptr;
  }

  void SetUp() override {
    ASSERT_NE(pg_, nullptr);
    ASSERT_NE(listener_, nullptr);
    ASSERT_TRUE(listener_->Reset().ok());
    // The previous test's rotated files: only postgresql.log is the server's.
    for (const auto& e : fs::directory_iterator(pg_->log_dir())) {
      if (e.path().filename() != "postgresql.log") fs::remove(e.path());
    }
    auto dir = testing::MakeTempDir("pgagent-rwd-");
    ASSERT_TRUE(dir.ok());
    dir_ = *dir;
    ::mkdir((dir_ + "/run").c_str(), 0770);  // as systemd's RuntimeDirectory= would
    config_ = dir_ + "/pgagent.ini";
    std::ofstream f(config_);
    f << "[database]\nhost = 127.0.0.1\nport = " << pg_->port() << "\nuser = monitor\n"
      << "[collection]\ninterval_s = 2\nlog_path = auto\nlog_start = beginning\n"
      << "[listener]\nurl = " << listener_->ingest_url()
      << "\napi_key = " << listener_->options().api_key
      << "\nproject_id = rwd\nca_file = " << listener_->ca_file() << "\n"
      << "[buffer]\npath = " << dir_ << "/buffer\n[ipc]\nruntime_dir = " << dir_ << "/run\n"
      << "[agent]\nstate_dir = " << dir_ << "/state\ncontrol_dir = " << dir_ << "/run\n";
    f.close();
    ::chmod(config_.c_str(), 0600);
  }
  void TearDown() override {
    collector_.reset();
    shipper_.reset();
    testing::RemoveTree(dir_);
  }

  static std::string Bin(const std::string& rel) { return testing::BinaryDir() + "/" + rel; }
  std::string LogPath() const { return pg_->log_dir() + "/postgresql.log"; }

  void StartShipper() {
    auto s =
        ChildProcess::Start({Bin("shipperd/pgagent-shipperd"), config_}, dir_ + "/shipperd.log");
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    shipper_ = std::move(*s);
  }
  void StartCollector(const std::string& log_name) {
    auto c =
        ChildProcess::Start({Bin("collectord/pgagent-collectord"), config_}, dir_ + "/" + log_name);
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    collector_ = std::move(*c);
  }

  // Markers a..b of `tag` through the server's logging collector; returns once the last one
  // is in the file behind `path` (the server writes through a pipe to its logger).
  void Mark(const std::string& tag, int a, int b, const std::string& path) {
    ASSERT_TRUE(pg_->Psql("SELECT rwd_mark('" + tag + "', " + std::to_string(a) + ", " +
                          std::to_string(b) + ")")
                    .ok());
    ASSERT_TRUE(testing::WaitUntil(
        [&] { return ReadAll(path).find(Marker(tag, b) + "\n") != std::string::npos; }, 20s))
        << "marker " << b << " never reached " << path;
  }

  // logrotate without copytruncate: rename the log, then have the server reopen its name.
  void RenameAndReopen(const std::vector<std::pair<std::string, std::string>>& renames) {
    const uint64_t before = InodeOf(LogPath());
    for (const auto& [from, to] : renames) fs::rename(from, to);
    ASSERT_TRUE(pg_->Psql("SELECT pg_rotate_logfile()").ok());
    ASSERT_TRUE(testing::WaitUntil(
        [&] {
          const uint64_t now = InodeOf(LogPath());
          return now != 0 && now != before;
        },
        20s))
        << "the server did not reopen " << LogPath();
  }

  // Sightings at the listener of each marker number of `tag` (log rows only).
  std::map<int, int> Delivered(const std::string& tag) {
    std::map<int, int> seen;
    auto rows = listener_->StoredRows();
    EXPECT_TRUE(rows.ok()) << rows.status().ToString();
    if (!rows.ok()) return seen;
    const std::string prefix = tag + " mark ";
    for (const auto& row : rows->values()) {
      const auto& f = row.struct_value().fields();
      auto source = f.find("source");
      if (source == f.end() || source->second.string_value() != "pg_log") continue;
      auto correlation = f.find("correlation_id");  // a per-request copy of aggregated rows
      if (correlation != f.end() && !correlation->second.string_value().empty()) continue;
      auto data = f.find("data");
      if (data == f.end()) continue;
      auto entries = data->second.struct_value().fields().find("entries");
      if (entries == data->second.struct_value().fields().end()) continue;
      for (const auto& e : entries->second.list_value().values()) {
        auto message = e.struct_value().fields().find("message");
        if (message == e.struct_value().fields().end()) continue;
        const std::string& text = message->second.string_value();
        if (text.rfind(prefix, 0) == 0) ++seen[std::atoi(text.c_str() + prefix.size())];
      }
    }
    return seen;
  }

  // Waits until every marker 1..n of `tag` arrived, then a little longer (duplicates would
  // come with the same requests); the last sightings.
  std::map<int, int> WaitForMarkers(const std::string& tag, int n, std::chrono::seconds timeout) {
    std::map<int, int> seen;
    testing::WaitUntil(
        [&] {
          seen = Delivered(tag);
          return static_cast<int>(seen.size()) >= n;
        },
        timeout);
    std::this_thread::sleep_for(3s);
    return Delivered(tag);
  }

  // pgagentctl status (text, or --json) with the test's config.
  std::string CtlStatus(bool json) {
    std::vector<std::string> argv = {Bin("tools/pgagentctl/pgagentctl"), "--config", config_,
                                     "status"};
    if (json) argv.push_back("--json");
    auto run = testing::RunProcess(argv);
    return run.ok() ? run->out + run->err : run.status().ToString();
  }

  static PgCluster* pg_;
  static TestListener* listener_;
  std::string dir_, config_;
  std::unique_ptr<ChildProcess> shipper_, collector_;
};

PgCluster* RotationWhileDownTest::pg_ = nullptr;
TestListener* RotationWhileDownTest::listener_ = nullptr;

class TwoRenamesWhileDownTest : public RotationWhileDownTest,
                                public ::testing::WithParamInterface<int> {};

TEST_P(TwoRenamesWhileDownTest, EveryLineOfTheSavedTheMiddleAndTheCurrentFileArrivesOnce) {
  const int stop_signal = GetParam();
  const std::string tag = stop_signal == SIGTERM ? "rwdterm" : "rwdkill";
  constexpr int kPerFile = 300;
  const std::string log = LogPath();
  StartShipper();
  StartCollector("collectord-1.log");
  // Before the stop: read, delivered and acknowledged.
  Mark(tag, 1, kPerFile, log);
  auto early = WaitForMarkers(tag, kPerFile, 90s);
  ASSERT_EQ(static_cast<int>(early.size()), kPerFile) << ReadAll(dir_ + "/collectord-1.log");

  collector_->Signal(stop_signal);
  auto code = collector_->Wait(20s);
  ASSERT_TRUE(code.has_value());
  EXPECT_EQ(*code, stop_signal == SIGTERM ? 0 : 128 + SIGKILL);
  collector_.reset();

  // While collectord is down: more lines in the saved file, two logrotate renames with a file
  // in between, and lines in the newest file.
  Mark(tag, kPerFile + 1, 2 * kPerFile, log);
  RenameAndReopen({{log, log + ".1"}});
  Mark(tag, 2 * kPerFile + 1, 3 * kPerFile, log);  // the middle file
  RenameAndReopen({{log + ".1", log + ".2"}, {log, log + ".1"}});
  Mark(tag, 3 * kPerFile + 1, 4 * kPerFile, log);
  ASSERT_EQ(Count(ReadAll(log + ".1"), " mark "), static_cast<size_t>(kPerFile));

  StartCollector("collectord-2.log");
  auto seen = WaitForMarkers(tag, 4 * kPerFile, 120s);
  const std::string journal = ReadAll(dir_ + "/collectord-2.log");
  int missing = 0, twice = 0, more = 0;
  std::vector<int> duplicated_after_stop;
  for (int n = 1; n <= 4 * kPerFile; ++n) {
    const int count = seen.count(n) ? seen[n] : 0;
    missing += count == 0;
    twice += count == 2;
    more += count > 2;
    if (count > 1 && n > kPerFile) duplicated_after_stop.push_back(n);
  }
  EXPECT_EQ(missing, 0) << journal;
  EXPECT_EQ(more, 0);
  EXPECT_TRUE(duplicated_after_stop.empty())
      << duplicated_after_stop.size() << " lines written while collectord was down arrived "
      << "twice, first " << duplicated_after_stop.front();
  if (stop_signal == SIGTERM) {
    EXPECT_EQ(twice, 0) << "a graceful stop commits what was acknowledged";
  }
  RecordProperty("duplicated_before_stop", twice);
  EXPECT_EQ(Count(journal, "logtail.lines_skipped"), 0u) << journal;
  EXPECT_EQ(CtlStatus(false).find("may have been skipped"), std::string::npos);
  EXPECT_EQ(collector_->Stop(15s), 0);
  EXPECT_EQ(shipper_->Stop(15s), 0);
}

INSTANTIATE_TEST_SUITE_P(StopSignals, TwoRenamesWhileDownTest, ::testing::Values(SIGTERM, SIGKILL),
                         [](const ::testing::TestParamInfo<int>& info) {
                           return std::string(info.param == SIGTERM ? "Sigterm" : "Sigkill");
                         });

// The rotated files collectord will read after the saved one, in its order (modification
// time, then name): the log's name plus a suffix, newer than the saved file.
std::vector<fs::path> RotatedAfter(const std::string& log, const std::string& saved) {
  std::vector<std::tuple<fs::file_time_type, std::string>> found;
  const auto saved_mtime = fs::last_write_time(saved);
  const std::string base = fs::path(log).filename();
  for (const auto& e : fs::directory_iterator(fs::path(log).parent_path())) {
    const std::string name = e.path().filename();
    if (name.size() <= base.size() || name.rfind(base, 0) != 0 || e.path() == saved) continue;
    if (fs::last_write_time(e.path()) < saved_mtime) continue;
    found.emplace_back(fs::last_write_time(e.path()), e.path());
  }
  std::sort(found.begin(), found.end());
  std::vector<fs::path> out;
  for (const auto& [mtime, path] : found) out.push_back(path);
  return out;
}

TEST_F(RotationWhileDownTest, FilesThatCannotBeQueuedAreAWarningWithTheirBytesInJournalAndStatus) {
  // collectord holds at most 16 files open to read after the saved one
  // (FileTailer::kMaxQueuedFiles), the current one included; 18 renames while it is down
  // leave two rotated files it cannot hold.
  constexpr int kRenames = 18;
  constexpr int kQueued = 15;  // and the current file
  const std::string tag = "rwdmany";
  const std::string log = LogPath();
  StartShipper();
  StartCollector("collectord-1.log");
  Mark(tag, 1, 20, log);
  ASSERT_EQ(WaitForMarkers(tag, 20, 90s).size(), 20u) << ReadAll(dir_ + "/collectord-1.log");
  collector_->Signal(SIGKILL);
  ASSERT_TRUE(collector_->Wait(20s).has_value());
  collector_.reset();

  int next = 21;
  char name[32];
  for (int i = 0; i < kRenames; ++i) {
    Mark(tag, next, next, log);  // one marker per rotated file
    next += 1;
    std::snprintf(name, sizeof name, "-%02d", i);
    RenameAndReopen({{log, log + name}});
  }
  Mark(tag, next, next + 1, log);
  next += 2;
  const int total = next - 1;
  const auto rotated = RotatedAfter(log, log + "-00");
  ASSERT_EQ(static_cast<int>(rotated.size()), kRenames - 1);
  uint64_t expected_bytes = 0;
  std::vector<int> lost;  // markers of the files beyond the queue
  for (size_t i = kQueued; i < rotated.size(); ++i) {
    expected_bytes += fs::file_size(rotated[i]);
    const std::string text = ReadAll(rotated[i]);
    for (int n = 21; n <= total; ++n) {
      if (text.find(Marker(tag, n) + "\n") != std::string::npos) lost.push_back(n);
    }
  }
  ASSERT_EQ(lost.size(), 2u);
  ASSERT_LT(expected_bytes, 1024u);  // shown exactly ("N B") by pgagentctl

  StartCollector("collectord-2.log");
  auto seen = WaitForMarkers(tag, total - static_cast<int>(lost.size()), 120s);
  for (int n = 1; n <= total; ++n) {
    const bool skipped = std::find(lost.begin(), lost.end(), n) != lost.end();
    EXPECT_EQ(seen.count(n) > 0, !skipped) << "marker " << n;
  }
  // The journal: one warning per file it could not hold, naming the file and its size.
  const std::string journal = ReadAll(dir_ + "/collectord-2.log");
  ASSERT_EQ(Count(journal, "\"event\":\"logtail.lines_skipped\""), rotated.size() - kQueued)
      << journal;
  for (size_t i = kQueued; i < rotated.size(); ++i) {
    const size_t at = journal.find("\"path\":\"" + rotated[i].string() + "\"");
    ASSERT_NE(at, std::string::npos) << rotated[i] << "\n" << journal;
    const size_t begin = journal.rfind('\n', at) + 1;
    const std::string line = journal.substr(begin, journal.find('\n', at) - begin);
    EXPECT_NE(line.find("\"event\":\"logtail.lines_skipped\""), std::string::npos) << line;
    EXPECT_NE(line.find("\"level\":\"warn\""), std::string::npos) << line;
    EXPECT_NE(line.find("\"skipped_bytes\":\"" + std::to_string(fs::file_size(rotated[i])) + "\""),
              std::string::npos)
        << line;
  }
  // pgagentctl status, from collectord's health (published every cycle).
  const std::string expected_line = "  WARNING: log lines may have been skipped " +
                                    std::to_string(rotated.size() - kQueued) +
                                    " time(s), at least " + std::to_string(expected_bytes) +
                                    " B; see logtail.lines_skipped in the journal\n";
  std::string status;
  EXPECT_TRUE(testing::WaitUntil(
      [&] {
        status = CtlStatus(false);
        return status.find(expected_line) != std::string::npos;
      },
      20s))
      << status;
  const std::string json = CtlStatus(true);
  EXPECT_NE(json.find("\"log_skipped_bytes\": \"" + std::to_string(expected_bytes) + "\""),
            std::string::npos)
      << json;
  EXPECT_NE(json.find("\"log_skip_events\": \"" + std::to_string(rotated.size() - kQueued) + "\""),
            std::string::npos)
      << json;
  EXPECT_EQ(collector_->Stop(15s), 0);
  EXPECT_EQ(shipper_->Stop(15s), 0);
}

}  // namespace
}  // namespace pgagent
