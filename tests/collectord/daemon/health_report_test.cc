// The pieces of collectord's health record: per-collector bookkeeping, the IPC figures and
// the log figures (lag read through the LogFileSystem edge).
#include "collectord/health_report.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "tests/collectord/logtail_unit/logtail_test_util.h"
#include "tests/fakes/fake_clock.h"

namespace pgagent {
namespace {

using namespace std::chrono_literals;
using logtail::testing::AppendFile;
using logtail::testing::LogCapture;
using logtail::testing::TempDir;

TEST(CollectorRunBookTest, CountsRunsErrorsAndSkipsPerCollector) {
  CollectorRunBook book;
  book.NoteRun("pg_stat_activity", 3.5, Status::Ok());
  book.NoteRun("pg_stat_activity", 4.0, UnavailableError("server closed the connection"));
  book.NoteSkipped("pg_stat_statements");
  pgagent::v1::AgentHealth h;
  book.AddTo(&h);
  ASSERT_EQ(h.collectors_size(), 2);
  const auto& activity = h.collectors(0);
  EXPECT_EQ(activity.name(), "pg_stat_activity");
  EXPECT_EQ(activity.runs(), 2u);
  EXPECT_EQ(activity.errors(), 1u);
  EXPECT_DOUBLE_EQ(activity.last_duration_ms(), 4.0);
  EXPECT_NE(activity.last_error().find("server closed the connection"), std::string::npos);
  EXPECT_EQ(h.collectors(1).name(), "pg_stat_statements");
  EXPECT_EQ(h.collectors(1).skipped(), 1u);
  EXPECT_EQ(h.collectors(1).runs(), 0u);
}

TEST(CollectorRunBookTest, WarnsOncePerFailureStreakAndSaysWhenItRecovers) {
  LogCapture logs;
  CollectorRunBook book;
  for (int i = 0; i < 3; ++i) book.NoteRun("system", 1, UnavailableError("no /proc"));
  book.NoteRun("system", 1, Status::Ok());
  book.NoteRun("system", 1, UnavailableError("no /proc"));
  EXPECT_EQ(logs.Count("collector.failed"), 2);
  EXPECT_EQ(logs.Count("collector.recovered"), 1);
}

TEST(AddIpcHealthTest, ReportsTheWindowTheDropsAndWhetherShipperdAnswers) {
  ZmqOutboxStats stats;
  stats.window.inflight_records = 7;
  stats.window.inflight_bytes = 7000;
  stats.window.dropped_snapshots = 2;
  stats.window.resyncs = 1;
  stats.malformed_frames = 3;
  pgagent::v1::AgentHealth h;
  AddIpcHealth(stats, /*shipperd_alive=*/false, &h);
  EXPECT_EQ(h.ipc_window_records(), 7u);
  EXPECT_EQ(h.ipc_window_bytes(), 7000u);
  EXPECT_EQ(h.counters().at("ipc_dropped_snapshots"), 2u);
  EXPECT_EQ(h.counters().at("ipc_resyncs"), 1u);
  EXPECT_EQ(h.counters().at("ipc_malformed_frames"), 3u);
  EXPECT_EQ(h.counters().at("ipc_shipperd_alive"), 0u);
}

class LogHealthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    logtail::testing::WriteFile(path_, "");
    auto parser = LogParser::Create(LogParserOptions{});
    ASSERT_TRUE(parser.ok());
    parser_ = std::move(*parser);
    logtail::LogSourceOptions o;
    o.tail.path = path_;
    o.batcher.max_entries = 1;
    auto source = logtail::LogSource::Create(o, *parser_, fs_, clock_, nullptr);
    ASSERT_TRUE(source.ok());
    source_ = std::move(*source);
    std::vector<pgagent::v1::LogBatch> none;
    source_->Poll(&none);  // opens the empty file
  }
  // Reads what is there and acknowledges every batch.
  void ReadAndAck() {
    std::vector<pgagent::v1::LogBatch> batches;
    source_->Poll(&batches);
    for (const auto& b : batches) ASSERT_TRUE(source_->Commit(b.cursor()).ok());
  }

  TempDir dir_;
  std::string path_ = dir_.File("postgresql.log");
  FakeClock clock_;
  logtail::testing::FaultyFileSystem fs_;
  std::unique_ptr<LogParser> parser_;
  std::unique_ptr<logtail::LogSource> source_;
};

const std::string kLine = "2026-11-27 10:00:00.123 UTC [4242] LOG:  checkpoint starting: time\n";

TEST_F(LogHealthTest, TheLagIsWhatTheFileHoldsBeyondTheAcknowledgedOffset) {
  EXPECT_EQ(LogLagBytes(source_->tailer(), fs_), 0u);  // nothing committed yet
  AppendFile(path_, kLine + kLine);
  ReadAndAck();  // the first entry completes when the second starts
  AppendFile(path_, kLine);
  EXPECT_EQ(LogLagBytes(source_->tailer(), fs_), 2 * kLine.size());
  pgagent::v1::AgentHealth h;
  AddLogHealth(source_.get(), "", fs_, &h);
  EXPECT_EQ(h.log_state(), "following");
  EXPECT_EQ(h.log_lag_bytes(), 2 * kLine.size());
  EXPECT_EQ(h.counters().at("log_committed_offset"), kLine.size());
  EXPECT_EQ(h.counters().at("log_bytes_read"), 2 * kLine.size());
}

TEST_F(LogHealthTest, ARotatedAwayOrUnreadableFileHasNoLag) {
  AppendFile(path_, kLine + kLine);
  ReadAndAck();
  fs_.SetFault(path_, PermissionDeniedError("denied"));
  EXPECT_EQ(LogLagBytes(source_->tailer(), fs_), 0u);
  fs_.SetFault(path_, std::nullopt);
  ASSERT_EQ(::rename(path_.c_str(), (path_ + ".1").c_str()), 0);
  logtail::testing::WriteFile(path_, kLine + kLine + kLine);
  EXPECT_EQ(LogLagBytes(source_->tailer(), fs_), 0u);  // another file now: finished first
}

TEST(AddLogHealthTest, SaysWhyTheLogIsNotFollowed) {
  pgagent::v1::AgentHealth h;
  AddLogHealth(nullptr, "", logtail::PosixLogFileSystem::Instance(), &h);
  EXPECT_EQ(h.log_state(), "not following: not set up yet");
  AddLogHealth(nullptr, "NOT_FOUND: /var/log/postgresql missing",
               logtail::PosixLogFileSystem::Instance(), &h);
  EXPECT_EQ(h.log_state(), "not following: NOT_FOUND: /var/log/postgresql missing");
  EXPECT_EQ(h.log_lag_bytes(), 0u);
}

}  // namespace
}  // namespace pgagent
