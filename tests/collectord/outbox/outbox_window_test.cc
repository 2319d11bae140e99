#include "collectord/outbox/outbox_window.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/fakes/fake_clock.h"

namespace pgagent {
namespace {

using namespace std::chrono_literals;
using pgagent::v1::Frame;
using pgagent::v1::Record;

Record Snapshot(int n) {
  Record r;
  r.set_kind(pgagent::v1::RECORD_KIND_SYSTEM);
  r.mutable_collected_at()->set_seconds(1000 + n);
  r.mutable_system()->mutable_cpu()->set_percent(n);
  return r;
}

Record LogRecord(int n) {
  Record r;
  r.set_kind(pgagent::v1::RECORD_KIND_LOG);
  r.mutable_collected_at()->set_seconds(1000 + n);
  r.mutable_log()->set_count(static_cast<uint32_t>(n));
  return r;
}

class OutboxWindowTest : public ::testing::Test {
 protected:
  OutboxWindowTest()
      : window_(Options(), clock_, [this] { return "boot-" + std::to_string(++boots_); }) {}

  static OutboxOptions Options() {
    OutboxOptions o;
    o.max_inflight_records = 3;
    o.max_pending_snapshot_bytes = 200;
    o.max_pending_log_records = 2;
    o.ack_timeout = 5s;
    o.heartbeat_interval = 1s;
    return o;
  }

  // Pumps and returns the decoded frames that were "sent".
  std::vector<Frame> Pump(bool connected = true) {
    std::vector<Frame> sent;
    window_.Pump([&](const std::string& bytes) {
      if (!connected) return false;
      Frame f;
      EXPECT_TRUE(f.ParseFromString(bytes));
      if (f.has_hello()) last_nonce_ = f.hello().nonce();
      sent.push_back(f);
      return true;
    });
    return sent;
  }

  void Welcome(uint64_t hwm) {
    Frame f;
    f.mutable_welcome()->set_protocol_version(kIpcProtocolVersion);
    f.mutable_welcome()->set_high_water_mark(hwm);
    f.mutable_welcome()->set_nonce(last_nonce_);
    acked_ = window_.OnFrame(f);
  }

  void Ack(uint64_t hwm) {
    Frame f;
    f.mutable_ack()->set_boot_id(window_.boot_id());
    f.mutable_ack()->set_high_water_mark(hwm);
    acked_ = window_.OnFrame(f);
  }

  static std::vector<uint64_t> Seqs(const std::vector<Frame>& frames) {
    std::vector<uint64_t> seqs;
    for (const auto& f : frames) {
      if (f.has_record()) seqs.push_back(f.record().seq());
    }
    return seqs;
  }

  FakeClock clock_;
  int boots_ = 0;
  OutboxWindow window_;
  std::vector<Record> acked_;
  uint64_t last_nonce_ = 0;
};

TEST_F(OutboxWindowTest, SaysHelloBeforeSendingAnyRecord) {
  ASSERT_TRUE(window_.Offer(Snapshot(1)).ok());
  auto frames = Pump();
  ASSERT_EQ(frames.size(), 1u);
  ASSERT_TRUE(frames[0].has_hello());
  EXPECT_EQ(frames[0].hello().boot_id(), "boot-1");
  EXPECT_EQ(frames[0].hello().protocol_version(), kIpcProtocolVersion);
  EXPECT_TRUE(Pump().empty());  // waits for Welcome
}

TEST_F(OutboxWindowTest, NumbersRecordsContiguouslyAndStopsAtTheWindowLimit) {
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(window_.Offer(Snapshot(i)).ok());
  Pump();
  Welcome(0);
  auto frames = Pump();
  EXPECT_EQ(Seqs(frames), (std::vector<uint64_t>{1, 2, 3}));
  EXPECT_EQ(frames[0].record().record().id().boot_id(), "boot-1");
  EXPECT_EQ(frames[2].record().record().id().seq(), 3u);
  EXPECT_TRUE(Seqs(Pump()).empty());
  Ack(2);
  EXPECT_EQ(acked_.size(), 2u);
  EXPECT_EQ(Seqs(Pump()), (std::vector<uint64_t>{4, 5}));
}

TEST_F(OutboxWindowTest, ResendsEverythingAboveTheHighWaterMarkAfterWelcome) {
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(window_.Offer(Snapshot(i)).ok());
  Pump();
  Welcome(0);
  Pump();
  Frame required;
  required.mutable_hello_required()->set_reason("restarted");
  window_.OnFrame(required);
  auto frames = Pump();
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_TRUE(frames[0].has_hello());
  Welcome(1);  // shipperd stored seq 1 before it restarted
  ASSERT_EQ(acked_.size(), 1u);
  EXPECT_EQ(acked_[0].id().seq(), 1u);
  EXPECT_EQ(Seqs(Pump()), (std::vector<uint64_t>{2, 3}));
  EXPECT_EQ(window_.stats().resent, 2u);
}

TEST_F(OutboxWindowTest, AckTimeoutTriggersHelloAndResend) {
  ASSERT_TRUE(window_.Offer(Snapshot(1)).ok());
  Pump();
  Welcome(0);
  EXPECT_EQ(Seqs(Pump()), (std::vector<uint64_t>{1}));
  clock_.Advance(4s);
  EXPECT_TRUE(Seqs(Pump()).empty());
  clock_.Advance(2s);
  auto frames = Pump();
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_TRUE(frames[0].has_hello());
  Welcome(0);
  EXPECT_EQ(Seqs(Pump()), (std::vector<uint64_t>{1}));
  EXPECT_GE(window_.stats().resyncs, 1u);
}

TEST_F(OutboxWindowTest, HelloIsRepeatedWhenNoWelcomeArrives) {
  ASSERT_TRUE(window_.Offer(Snapshot(1)).ok());
  EXPECT_EQ(Pump().size(), 1u);
  clock_.Advance(4s);
  EXPECT_TRUE(Pump().empty());
  clock_.Advance(1s);
  auto frames = Pump();
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_TRUE(frames[0].has_hello());
}

TEST_F(OutboxWindowTest, UnsentFramesStayQueuedWhileDisconnected) {
  ASSERT_TRUE(window_.Offer(Snapshot(1)).ok());
  EXPECT_TRUE(Pump(/*connected=*/false).empty());
  EXPECT_EQ(window_.stats().hellos, 0u);
  Pump();
  Welcome(0);
  EXPECT_TRUE(Pump(false).empty());
  EXPECT_EQ(Seqs(Pump()), (std::vector<uint64_t>{1}));
}

TEST_F(OutboxWindowTest, DropsOnlyTheOldestPendingSnapshotUnderBackpressure) {
  const size_t one = Snapshot(1).ByteSizeLong();
  const size_t fit = 200 / one;
  for (size_t i = 0; i < fit + 2; ++i) {
    ASSERT_TRUE(window_.Offer(Snapshot(static_cast<int>(i))).ok());
  }
  EXPECT_EQ(window_.stats().dropped_snapshots, 2u);
  Pump();
  Welcome(0);
  auto frames = Pump();
  ASSERT_FALSE(frames.empty());
  EXPECT_EQ(frames[0].record().record().system().cpu().percent(), 2.0);  // 0 and 1 dropped
}

TEST_F(OutboxWindowTest, LogRecordsAreNeverDroppedButRefusedWhenThePendingQueueIsFull) {
  ASSERT_TRUE(window_.Offer(LogRecord(1)).ok());
  ASSERT_TRUE(window_.Offer(LogRecord(2)).ok());
  EXPECT_FALSE(window_.CanAcceptLog());
  Status s = window_.Offer(LogRecord(3));
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted);
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(window_.Offer(Snapshot(i)).ok());
  Pump();
  Welcome(0);
  auto frames = Pump();
  ASSERT_EQ(frames.size(), 3u);
  EXPECT_EQ(frames[0].record().record().kind(), pgagent::v1::RECORD_KIND_LOG);
  EXPECT_EQ(frames[1].record().record().kind(), pgagent::v1::RECORD_KIND_LOG);
  EXPECT_TRUE(window_.CanAcceptLog());
}

TEST_F(OutboxWindowTest, OversizedRecordIsRefusedAndCounted) {
  OutboxOptions o = Options();
  o.max_record_bytes = 10;
  OutboxWindow small(o, clock_, [] { return std::string("b"); });
  Record r = LogRecord(1);
  r.mutable_log()->add_entries()->set_message(std::string(100, 'x'));
  EXPECT_EQ(small.Offer(r).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(small.stats().dropped_oversize, 1u);
}

TEST_F(OutboxWindowTest, AGapThatCannotBeFilledStartsANewBootAndRenumbers) {
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(window_.Offer(Snapshot(i)).ok());
  Pump();
  Welcome(0);
  Pump();
  Frame reject;
  reject.mutable_reject()->set_seq(1);
  reject.mutable_reject()->set_boot_id("boot-1");
  reject.mutable_reject()->set_reason("invalid");
  window_.OnFrame(reject);
  EXPECT_EQ(window_.boot_id(), "boot-2");
  auto frames = Pump();
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].hello().boot_id(), "boot-2");
  Welcome(0);
  frames = Pump();
  EXPECT_EQ(Seqs(frames), (std::vector<uint64_t>{1, 2}));
  EXPECT_EQ(frames[0].record().record().id().boot_id(), "boot-2");
  EXPECT_EQ(window_.stats().rejected, 1u);
}

TEST_F(OutboxWindowTest, AWelcomeAnsweringAnEarlierHelloIsIgnored) {
  // Two Hellos in flight (the first Welcome was slow): the late answer to the first Hello
  // carries a stale high-water mark and must not look like a gap.
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(window_.Offer(Snapshot(i)).ok());
  Pump();
  const uint64_t first_nonce = last_nonce_;
  clock_.Advance(6s);
  Pump();  // no Welcome yet: Hello again
  ASSERT_NE(last_nonce_, first_nonce);
  Welcome(0);  // answers the second Hello
  EXPECT_EQ(Seqs(Pump()), (std::vector<uint64_t>{1, 2, 3}));
  Ack(2);
  Frame stale;
  stale.mutable_welcome()->set_protocol_version(kIpcProtocolVersion);
  stale.mutable_welcome()->set_high_water_mark(0);
  stale.mutable_welcome()->set_nonce(first_nonce);
  window_.OnFrame(stale);
  EXPECT_EQ(window_.boot_id(), "boot-1");
  EXPECT_EQ(window_.stats().new_boots, 0u);
  EXPECT_EQ(window_.stats().stale_welcomes, 1u);
  EXPECT_TRUE(Seqs(Pump()).empty());  // seq 3 stays in flight, not resent
}

TEST_F(OutboxWindowTest, ARejectForAnEarlierBootIsIgnored) {
  ASSERT_TRUE(window_.Offer(Snapshot(1)).ok());
  Pump();
  Welcome(0);
  Pump();
  Frame reject;
  reject.mutable_reject()->set_seq(1);
  reject.mutable_reject()->set_boot_id("boot-0");
  window_.OnFrame(reject);
  EXPECT_EQ(window_.boot_id(), "boot-1");
  EXPECT_EQ(window_.stats().rejected, 0u);
}

TEST_F(OutboxWindowTest, AcksForAnotherBootAreIgnored) {
  ASSERT_TRUE(window_.Offer(Snapshot(1)).ok());
  Pump();
  Welcome(0);
  Pump();
  Frame ack;
  ack.mutable_ack()->set_boot_id("someone-else");
  ack.mutable_ack()->set_high_water_mark(1);
  EXPECT_TRUE(window_.OnFrame(ack).empty());
  EXPECT_EQ(window_.stats().inflight_records, 1u);
}

TEST_F(OutboxWindowTest, SendsAHeartbeatAfterSilence) {
  Pump();  // nothing to send, but Hello first
  Welcome(0);
  EXPECT_TRUE(Pump().empty());
  clock_.Advance(1500ms);
  auto frames = Pump();
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_TRUE(frames[0].has_heartbeat());
}

TEST_F(OutboxWindowTest, ASilentPeerIsNoticedThroughUnansweredHeartbeats) {
  Pump();
  Welcome(0);
  EXPECT_TRUE(window_.PeerAlive());
  for (int i = 0; i < 6; ++i) {  // heartbeats go out every second, nothing comes back
    clock_.Advance(1s);
    Pump();
  }
  EXPECT_FALSE(window_.PeerAlive());
  Frame beat;
  beat.mutable_heartbeat()->set_sent_ms(1);
  window_.OnFrame(beat);
  EXPECT_TRUE(window_.PeerAlive());
}

}  // namespace
}  // namespace pgagent
