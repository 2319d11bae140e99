// LogPump: read -> split -> offer -> commit on ack, on a real temporary log file (the
// fixture) driven by a FakeClock; the outlet is a fake that accepts or refuses.
#include "collectord/log_pump.h"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "tests/collectord/logtail_unit/logtail_test_util.h"
#include "tests/fakes/fake_clock.h"

namespace pgagent {
namespace {

using namespace std::chrono_literals;
using logtail::testing::AppendFile;
using logtail::testing::TempDir;
using pgagent::v1::Record;

std::string Lines(int first, int count) {
  std::string out;
  for (int n = first; n < first + count; ++n) {
    out += "2026-11-27 10:00:00.123 UTC [4242] LOG:  message number " + std::to_string(n) + "\n";
  }
  return out;
}

class FakeOutlet final : public LogOutlet {
 public:
  bool CanAcceptLog() const override { return accepting; }
  void Offer(Record record) override { offered.push_back(std::move(record)); }
  bool accepting = true;
  std::vector<Record> offered;
};

class LogPumpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    logtail::testing::WriteFile(path_, "");
    auto parser = LogParser::Create(LogParserOptions{});
    ASSERT_TRUE(parser.ok());
    auto store = logtail::OffsetStore::Open(dir_.File("state"), "pg");
    ASSERT_TRUE(store.ok());
    store_ = store->get();
    logtail::LogSourceOptions o;
    o.tail.path = path_;
    o.tail.commit_interval = 1s;
    o.batcher.max_entries = 2;
    o.batcher.linger = 1s;
    auto source = logtail::LogSource::Create(o, **parser, logtail::PosixLogFileSystem::Instance(),
                                             clock_, store_);
    ASSERT_TRUE(source.ok());
    LogPumpOptions po;
    po.commit_interval = 1s;
    pump_ = std::make_unique<LogPump>(po, std::move(*parser), std::move(*store), std::move(*source),
                                      stamper_, clock_);
    pump_->Pump(outlet_);  // opens the empty file
  }
  uint64_t SavedOffset() {
    auto saved = store_->Load();
    return saved.ok() && saved->has_value() ? (*saved)->offset : 0;
  }
  // Advances past the next read and pumps.
  void PumpLater() {
    clock_.Advance(
        std::max(pump_->NextWake() - clock_.Monotonic(), std::chrono::steady_clock::duration(0)));
    pump_->Pump(outlet_);
  }

  TempDir dir_;
  std::string path_ = dir_.File("postgresql.log");
  FakeClock clock_;
  RecordStamper stamper_{clock_, "project-1", "db-host"};
  logtail::OffsetStore* store_ = nullptr;  // owned by the pump
  std::unique_ptr<LogPump> pump_;
  FakeOutlet outlet_;
};

TEST_F(LogPumpTest, OffersFullBatchesInFileOrderAsStampedLogRecords) {
  AppendFile(path_, Lines(0, 5));
  PumpLater();
  ASSERT_EQ(outlet_.offered.size(), 2u);  // entry 4 waits for the next one or the idle timeout
  const Record& first = outlet_.offered[0];
  EXPECT_EQ(first.kind(), pgagent::v1::RECORD_KIND_LOG);
  EXPECT_EQ(first.project_id(), "project-1");
  EXPECT_EQ(first.host(), "db-host");
  EXPECT_EQ(first.log().entries(0).message(), "message number 0");
  EXPECT_EQ(outlet_.offered[1].log().entries(1).message(), "message number 3");
  EXPECT_TRUE(outlet_.offered[1].log().has_cursor());
}

TEST_F(LogPumpTest, BatchesWaitAndReadingPausesWhileTheOutletRefuses) {
  outlet_.accepting = false;
  AppendFile(path_, Lines(0, 5));
  PumpLater();
  EXPECT_TRUE(outlet_.offered.empty());
  EXPECT_EQ(pump_->pending_batches(), 2u);
  const uint64_t read = pump_->source().tailer().stats().bytes_read;
  AppendFile(path_, Lines(5, 4));
  PumpLater();
  EXPECT_EQ(pump_->source().tailer().stats().bytes_read, read);  // the log file is the buffer
  outlet_.accepting = true;
  PumpLater();
  ASSERT_EQ(outlet_.offered.size(), 2u);
  EXPECT_EQ(outlet_.offered[0].log().entries(0).message(), "message number 0");
  PumpLater();
  EXPECT_EQ(outlet_.offered.size(), 4u);
}

TEST_F(LogPumpTest, TheOffsetIsSavedOnlyOnceShipperdAcknowledges) {
  AppendFile(path_, Lines(0, 3));
  PumpLater();
  ASSERT_EQ(outlet_.offered.size(), 1u);
  EXPECT_EQ(SavedOffset(), 0u);
  pump_->OnAcked(outlet_.offered);
  EXPECT_EQ(SavedOffset(), Lines(0, 2).size());
}

TEST_F(LogPumpTest, TheSavedOffsetCatchesUpWithTheLastAcknowledgementWhileTheLogIsQuiet) {
  AppendFile(path_, Lines(0, 3));
  PumpLater();
  pump_->OnAcked(outlet_.offered);  // the first save is immediate
  AppendFile(path_, Lines(3, 2));
  PumpLater();
  ASSERT_EQ(outlet_.offered.size(), 2u);
  pump_->OnAcked({outlet_.offered[1]});  // within commit_interval of the last save: kept pending
  EXPECT_EQ(SavedOffset(), Lines(0, 2).size());
  pump_->FlushDueCommit();  // not due yet: the file is written at most every commit_interval
  EXPECT_EQ(SavedOffset(), Lines(0, 2).size());
  clock_.Advance(1s);
  pump_->FlushDueCommit();  // no other batch came: the deadline alone writes it
  EXPECT_EQ(SavedOffset(), Lines(0, 4).size());
}

TEST_F(LogPumpTest, WakingOnlyWhenItAsksThePumpWritesTheLastAcknowledgementWithinOneInterval) {
  AppendFile(path_, Lines(0, 3));
  PumpLater();
  pump_->OnAcked(outlet_.offered);
  AppendFile(path_, Lines(3, 2));
  PumpLater();
  pump_->OnAcked({outlet_.offered.back()});
  const auto acked_at = clock_.Monotonic();
  // The daemon's loop: sleep until NextWake(), then commit what is due and pump. Quiet reads
  // back off (100, 200, 400, 800 ms) past the commit deadline, which must wake it on time.
  while (SavedOffset() != Lines(0, 4).size() && clock_.Monotonic() < acked_at + 5s) {
    clock_.Advance(
        std::max(pump_->NextWake() - clock_.Monotonic(), std::chrono::steady_clock::duration(0)));
    pump_->FlushDueCommit();
    pump_->Pump(outlet_);
  }
  EXPECT_EQ(SavedOffset(), Lines(0, 4).size());
  EXPECT_LE(clock_.Monotonic() - acked_at, std::chrono::steady_clock::duration(1s));
}

TEST_F(LogPumpTest, AnAcknowledgementFromBeforeARestartCommitsNothing) {
  Record stale;
  stale.set_kind(pgagent::v1::RECORD_KIND_LOG);
  stale.mutable_log()->mutable_cursor()->set_offset(999);
  pump_->OnAcked({stale});
  clock_.Advance(5s);
  pump_->FlushDueCommit();
  EXPECT_EQ(SavedOffset(), 0u);
}

TEST_F(LogPumpTest, ReadsBackOffWhileTheFileIsQuietAndSpeedUpWhenLinesCome) {
  std::vector<std::chrono::milliseconds> gaps;
  for (int i = 0; i < 6; ++i) {
    PumpLater();
    gaps.push_back(std::chrono::duration_cast<std::chrono::milliseconds>(pump_->NextWake() -
                                                                         clock_.Monotonic()));
  }
  EXPECT_EQ(gaps,
            (std::vector<std::chrono::milliseconds>{400ms, 800ms, 1000ms, 1000ms, 1000ms, 1000ms}));
  AppendFile(path_, Lines(0, 1));
  PumpLater();
  EXPECT_EQ(pump_->NextWake() - clock_.Monotonic(), std::chrono::steady_clock::duration(100ms));
}

TEST_F(LogPumpTest, FlushingAtStopHandsOverTheEntryStillBeingAssembled) {
  AppendFile(path_, Lines(0, 3));
  PumpLater();
  ASSERT_EQ(outlet_.offered.size(), 1u);
  pump_->FlushSource();
  pump_->OfferPending(outlet_);
  ASSERT_EQ(outlet_.offered.size(), 2u);
  EXPECT_EQ(outlet_.offered[1].log().entries(0).message(), "message number 2");
}

}  // namespace
}  // namespace pgagent
