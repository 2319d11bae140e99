// LogSource: tailer + parser assembler + batcher on a real file, driven by a FakeClock.
// Batches carry complete cursors; commits advance only over the acknowledged prefix; a full
// window stops reading; a restart resumes after the last committed batch.
#include "collectord/logtail/log_source.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "collectord/logtail/fingerprint.h"
#include "tests/collectord/logtail_unit/logtail_test_util.h"
#include "tests/fakes/fake_clock.h"

namespace pgagent::logtail {
namespace {

using namespace std::chrono_literals;
using testing::AppendFile;
using testing::TempDir;

std::string StderrLine(int n) {
  return "2026-11-27 10:00:00.123 UTC [4242] LOG:  message number " + std::to_string(n) + "\n";
}

std::string StderrLines(int first, int count) {
  std::string out;
  for (int n = first; n < first + count; ++n) out += StderrLine(n);
  return out;
}

class LogSourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto parser = LogParser::Create(LogParserOptions{});
    ASSERT_TRUE(parser.ok()) << parser.status().ToString();
    parser_ = std::move(parser).value();
    auto store = OffsetStore::Open(dir_.File("state"), "pg");
    ASSERT_TRUE(store.ok());
    store_ = std::move(store).value();
    testing::WriteFile(path_, "");
  }
  std::unique_ptr<LogSource> Make(size_t window = 16, size_t batch = 2) {
    LogSourceOptions o;
    o.tail.path = path_;
    o.tail.commit_interval = 0ms;
    o.batcher.max_entries = batch;
    o.batcher.linger = 1s;
    o.max_unacked_batches = window;
    auto s = LogSource::Create(o, *parser_, PosixLogFileSystem::Instance(), clock_, store_.get());
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return std::move(s).value();
  }
  std::vector<pgagent::v1::LogBatch> Poll(LogSource& s) {
    std::vector<pgagent::v1::LogBatch> out;
    s.Poll(&out);
    return out;
  }

  TempDir dir_;
  std::string path_ = dir_.File("postgresql.log");
  FakeClock clock_;
  std::unique_ptr<LogParser> parser_;
  std::unique_ptr<OffsetStore> store_;
};

TEST_F(LogSourceTest, BatchesCarryEntriesInOrderAndCompleteCursors) {
  auto source = Make();
  EXPECT_TRUE(Poll(*source).empty());  // opens the empty file
  AppendFile(path_, StderrLines(0, 5));
  auto batches = Poll(*source);  // entry 4 stays pending until the next one or idle timeout
  ASSERT_EQ(batches.size(), 2u);
  EXPECT_EQ(batches[0].count(), 2u);
  EXPECT_EQ(batches[0].entries(0).message(), "message number 0");
  EXPECT_EQ(batches[1].entries(1).message(), "message number 3");
  const auto& cursor = batches[1].cursor();
  const std::string content = testing::ReadFile(path_);
  const size_t end_of_line_3 = StderrLines(0, 4).size();
  EXPECT_EQ(cursor.offset(), end_of_line_3);
  EXPECT_EQ(cursor.path(), path_);
  EXPECT_EQ(cursor.inode(), testing::InodeOf(path_));
  const size_t covered = std::min<size_t>(end_of_line_3, kFingerprintBytes);
  EXPECT_EQ(cursor.fingerprint_len(), covered);
  EXPECT_EQ(cursor.fingerprint(),
            Fingerprint(std::string_view(content).substr(end_of_line_3 - covered, covered)));
  clock_.Advance(2s);
  batches = Poll(*source);  // idle flush of entry 4, then the linger of its batch
  clock_.Advance(2s);
  auto more = Poll(*source);
  batches.insert(batches.end(), more.begin(), more.end());
  ASSERT_EQ(batches.size(), 1u);
  EXPECT_EQ(batches[0].entries(0).message(), "message number 4");
  EXPECT_EQ(batches[0].cursor().offset(), content.size());
}

TEST_F(LogSourceTest, CommitAdvancesOnlyOverTheAcknowledgedPrefix) {
  auto source = Make();
  Poll(*source);
  AppendFile(path_, StderrLines(0, 5));
  auto batches = Poll(*source);
  ASSERT_EQ(batches.size(), 2u);
  ASSERT_TRUE(source->Commit(batches[1].cursor()).ok());
  EXPECT_FALSE(store_->Load()->has_value());  // batch 0 is not acknowledged yet
  ASSERT_TRUE(source->Commit(batches[0].cursor()).ok());
  EXPECT_EQ(store_->Load()->value().offset, batches[1].cursor().offset());
  EXPECT_EQ(source->unacked_batches(), 0u);
  EXPECT_EQ(source->Commit(batches[0].cursor()).code(), StatusCode::kNotFound);
}

TEST_F(LogSourceTest, FullWindowStopsReadingUntilAcknowledged) {
  auto source = Make(/*window=*/2);
  Poll(*source);
  AppendFile(path_, StderrLines(0, 5));
  auto batches = Poll(*source);
  ASSERT_EQ(batches.size(), 2u);
  EXPECT_TRUE(source->window_full());
  AppendFile(path_, StderrLines(5, 10));
  const uint64_t read_before = source->tailer().stats().bytes_read;
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(Poll(*source).empty());
  EXPECT_EQ(source->tailer().stats().bytes_read, read_before);
  EXPECT_TRUE(source->tailer().paused());
  ASSERT_TRUE(source->Commit(batches[0].cursor()).ok());
  ASSERT_TRUE(source->Commit(batches[1].cursor()).ok());
  auto more = Poll(*source);
  EXPECT_GT(source->tailer().stats().bytes_read, read_before);
  ASSERT_FALSE(more.empty());
  EXPECT_EQ(more[0].entries(0).message(), "message number 4");
}

TEST_F(LogSourceTest, RestartResumesAfterTheLastCommittedBatch) {
  {
    auto source = Make();
    Poll(*source);
    AppendFile(path_, StderrLines(0, 7));
    auto batches = Poll(*source);
    ASSERT_EQ(batches.size(), 3u);
    ASSERT_TRUE(source->Commit(batches[0].cursor()).ok());
  }
  auto source = Make();
  auto batches = Poll(*source);
  ASSERT_FALSE(batches.empty());
  EXPECT_EQ(batches[0].entries(0).message(), "message number 2");
}

// A loop may sleep on wait_fd() until NextPollDeadline(): the real inotify descriptor here.
TEST_F(LogSourceTest, QuietSourceNeedsAPollOnlyAtTheTailersRecheck) {
  auto source = Make(16, /*batch=*/100);
  EXPECT_TRUE(Poll(*source).empty());  // opens the empty file, watches it
  EXPECT_GE(source->wait_fd(), 0);
  const auto t0 = clock_.Monotonic();
  EXPECT_EQ(source->NextPollDeadline(), t0 + 10s);
  AppendFile(path_, StderrLines(1, 1));
  EXPECT_TRUE(Poll(*source).empty());  // read; the entry waits for its next line or idle
  EXPECT_EQ(source->NextPollDeadline(), t0 + 250ms) << "the assembler's idle timeout";
  clock_.Advance(250ms);
  EXPECT_TRUE(Poll(*source).empty());  // the entry is emitted into an open batch
  EXPECT_EQ(source->NextPollDeadline(), t0 + 250ms + 1s) << "the batch's linger";
  clock_.Advance(1s);
  EXPECT_EQ(Poll(*source).size(), 1u);
  EXPECT_EQ(source->NextPollDeadline(), t0 + 10s);
}

}  // namespace
}  // namespace pgagent::logtail
