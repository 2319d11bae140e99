// shipperd's ingest protocol as a state machine: frames in, records into a FakeRecordBuffer
// and reply frames out, with a FakeClock. No sockets, no threads, no sleeps.
#include "shipperd/ingest/ingest_session.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/ipc_frame.h"
#include "tests/fakes/fake_clock.h"
#include "tests/fakes/fake_record_buffer.h"

namespace pgagent {
namespace {

using namespace std::chrono_literals;
using pgagent::v1::Frame;
using pgagent::v1::Record;

constexpr uid_t kShipperUid = 998;
constexpr uid_t kCollectorUid = 997;
constexpr uid_t kStrangerUid = 1000;

Record MakeRecord(const std::string& boot_id, uint64_t seq) {
  Record record;
  record.mutable_id()->set_boot_id(boot_id);
  record.mutable_id()->set_seq(seq);
  record.set_kind(pgagent::v1::RECORD_KIND_SYSTEM);
  record.mutable_collected_at()->set_seconds(1767225600);
  record.set_project_id("proj");
  record.mutable_system()->set_interval_s(10);
  return record;
}

class IngestSessionTest : public ::testing::Test {
 protected:
  IngestSessionTest() { Reset(); }

  void Reset(IngestSessionOptions options = DefaultOptions()) {
    session_ = std::make_unique<IngestSession>(options, buffer_, clock_,
                                               [this] { return collector_uid_; });
  }
  static IngestSessionOptions DefaultOptions() {
    IngestSessionOptions options;
    options.self_uid = kShipperUid;
    options.collector_state_dir = "/var/lib/pgagent";
    return options;
  }

  IngestFrame FrameFrom(const std::string& peer, const Frame& frame, uid_t uid = kCollectorUid) {
    IngestFrame in;
    in.peer_id = peer;
    in.bytes = EncodeFrame(frame);
    in.credentials = IpcPeerCredentials{uid, uid, 4242};
    return in;
  }
  IngestFrame Hello(const std::string& peer, const std::string& boot, uint64_t nonce = 7) {
    Frame frame;
    frame.mutable_hello()->set_boot_id(boot);
    frame.mutable_hello()->set_protocol_version(kIpcProtocolVersion);
    frame.mutable_hello()->set_nonce(nonce);
    return FrameFrom(peer, frame);
  }
  IngestFrame RecordIn(const std::string& peer, const std::string& boot, uint64_t seq) {
    Frame frame;
    frame.mutable_record()->set_seq(seq);
    *frame.mutable_record()->mutable_record() = MakeRecord(boot, seq);
    return FrameFrom(peer, frame);
  }

  // Handles one batch; the replies are kept in replies_.
  Status Handle(std::vector<IngestFrame> frames) {
    replies_.clear();
    return session_->HandleBatch(frames, &replies_);
  }
  std::vector<Frame> RepliesOfCase(Frame::BodyCase body) const {
    std::vector<Frame> out;
    for (const auto& reply : replies_) {
      if (reply.frame.body_case() == body) out.push_back(reply.frame);
    }
    return out;
  }
  std::vector<uint64_t> StoredSeqs() {
    std::vector<uint64_t> seqs;
    auto items = buffer_.Peek(1000);
    for (const auto& item : *items) seqs.push_back(item.record.id().seq());
    return seqs;
  }
  // Says Hello as peer "a" for boot "boot-1" and forgets the Welcome.
  void Greet() {
    ASSERT_TRUE(Handle({Hello("a", "boot-1")}).ok());
    ASSERT_EQ(RepliesOfCase(Frame::kWelcome).size(), 1u);
  }

  FakeClock clock_;
  FakeRecordBuffer buffer_{100ull << 20, &clock_};
  std::optional<uid_t> collector_uid_ = kCollectorUid;
  std::unique_ptr<IngestSession> session_;
  std::vector<IngestReply> replies_;
};

TEST_F(IngestSessionTest, HelloIsWelcomedWithTheBootsHighWaterMarkAndItsNonce) {
  ASSERT_TRUE(buffer_.Append({MakeRecord("boot-1", 1), MakeRecord("boot-1", 2)}).ok());
  ASSERT_TRUE(Handle({Hello("a", "boot-1", 99)}).ok());
  ASSERT_EQ(replies_.size(), 1u);
  EXPECT_EQ(replies_[0].peer_id, "a");
  ASSERT_TRUE(replies_[0].frame.has_welcome());
  EXPECT_EQ(replies_[0].frame.welcome().high_water_mark(), 2u);
  EXPECT_EQ(replies_[0].frame.welcome().nonce(), 99u);
  EXPECT_EQ(session_->stats().hellos, 1u);
  EXPECT_EQ(session_->stats().peers, 1u);
}

TEST_F(IngestSessionTest, RecordsInOrderAreStoredAndAcknowledgedOnceWithTheHighWaterMark) {
  Greet();
  ASSERT_TRUE(
      Handle({RecordIn("a", "boot-1", 1), RecordIn("a", "boot-1", 2), RecordIn("a", "boot-1", 3)})
          .ok());
  EXPECT_EQ(StoredSeqs(), (std::vector<uint64_t>{1, 2, 3}));
  EXPECT_EQ(buffer_.append_calls(), 1u);  // one transaction for the batch
  ASSERT_EQ(replies_.size(), 1u);
  ASSERT_TRUE(replies_[0].frame.has_ack());
  EXPECT_EQ(replies_[0].frame.ack().boot_id(), "boot-1");
  EXPECT_EQ(replies_[0].frame.ack().high_water_mark(), 3u);
  EXPECT_EQ(session_->stats().records_stored, 3u);
  EXPECT_EQ(session_->stats().acks_sent, 1u);
}

TEST_F(IngestSessionTest, DuplicatesAreAcknowledgedButNotStoredAgain) {
  Greet();
  ASSERT_TRUE(Handle({RecordIn("a", "boot-1", 1), RecordIn("a", "boot-1", 2)}).ok());
  ASSERT_TRUE(Handle({RecordIn("a", "boot-1", 1), RecordIn("a", "boot-1", 2)}).ok());
  EXPECT_EQ(StoredSeqs(), (std::vector<uint64_t>{1, 2}));
  const auto acks = RepliesOfCase(Frame::kAck);
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_EQ(acks[0].ack().high_water_mark(), 2u);
  EXPECT_EQ(session_->stats().duplicates, 2u);
}

TEST_F(IngestSessionTest, AGapIsAnsweredWithAWelcomeAndTheRestOfTheBatchWaitsForTheResend) {
  Greet();
  ASSERT_TRUE(
      Handle({RecordIn("a", "boot-1", 1), RecordIn("a", "boot-1", 3), RecordIn("a", "boot-1", 4)})
          .ok());
  EXPECT_EQ(StoredSeqs(), (std::vector<uint64_t>{1}));
  const auto welcomes = RepliesOfCase(Frame::kWelcome);
  ASSERT_EQ(welcomes.size(), 1u);  // one resync per peer per batch
  EXPECT_EQ(welcomes[0].welcome().high_water_mark(), 1u);
  EXPECT_EQ(welcomes[0].welcome().nonce(), 7u);  // the nonce of the peer's Hello
  const auto acks = RepliesOfCase(Frame::kAck);
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_EQ(acks[0].ack().high_water_mark(), 1u);
  EXPECT_EQ(session_->stats().out_of_order, 1u);

  ASSERT_TRUE(Handle({RecordIn("a", "boot-1", 2), RecordIn("a", "boot-1", 3)}).ok());
  EXPECT_EQ(StoredSeqs(), (std::vector<uint64_t>{1, 2, 3}));
}

TEST_F(IngestSessionTest, OutOfOrderRecordsAreNotStoredAheadOfTheMissingOne) {
  Greet();
  ASSERT_TRUE(Handle({RecordIn("a", "boot-1", 2), RecordIn("a", "boot-1", 1)}).ok());
  EXPECT_TRUE(StoredSeqs().empty());
  EXPECT_EQ(RepliesOfCase(Frame::kWelcome).size(), 1u);
  EXPECT_EQ(session_->stats().out_of_order, 1u);
}

TEST_F(IngestSessionTest, AStaleBootsRecordsAreRejectedAsNotMatchingThePeersHello) {
  Greet();
  ASSERT_TRUE(Handle({RecordIn("a", "boot-1", 1)}).ok());
  ASSERT_TRUE(Handle({Hello("a", "boot-2", 8)}).ok());  // the collector restarted
  ASSERT_TRUE(Handle({RecordIn("a", "boot-1", 2), RecordIn("a", "boot-2", 1)}).ok());
  EXPECT_EQ(StoredSeqs(), (std::vector<uint64_t>{1, 1}));
  const auto rejects = RepliesOfCase(Frame::kReject);
  ASSERT_EQ(rejects.size(), 1u);
  EXPECT_EQ(rejects[0].reject().boot_id(), "boot-1");
  EXPECT_EQ(rejects[0].reject().seq(), 2u);
  const auto acks = RepliesOfCase(Frame::kAck);
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_EQ(acks[0].ack().boot_id(), "boot-2");
  EXPECT_EQ(session_->stats().invalid_records, 1u);
}

TEST_F(IngestSessionTest, AHelloOfAnEarlierBootResumesAtItsStoredHighWaterMark) {
  Greet();
  ASSERT_TRUE(Handle({RecordIn("a", "boot-1", 1), RecordIn("a", "boot-1", 2)}).ok());
  ASSERT_TRUE(Handle({Hello("b", "boot-1", 3)}).ok());  // a new connection, same boot
  ASSERT_EQ(replies_.size(), 1u);
  EXPECT_EQ(replies_[0].peer_id, "b");
  EXPECT_EQ(replies_[0].frame.welcome().high_water_mark(), 2u);
}

TEST_F(IngestSessionTest, RecordsBeforeHelloGetOneHelloRequiredPerBatch) {
  ASSERT_TRUE(Handle({RecordIn("a", "boot-1", 1), RecordIn("a", "boot-1", 2)}).ok());
  EXPECT_TRUE(StoredSeqs().empty());
  ASSERT_EQ(replies_.size(), 1u);
  EXPECT_TRUE(replies_[0].frame.has_hello_required());
  EXPECT_EQ(session_->stats().hello_required, 1u);
}

TEST_F(IngestSessionTest, AnIdlePeerIsForgottenAndMustSayHelloAgain) {
  Greet();
  clock_.Advance(121s);
  session_->ForgetIdlePeers();
  EXPECT_EQ(session_->stats().peers, 0u);
  ASSERT_TRUE(Handle({RecordIn("a", "boot-1", 1)}).ok());
  EXPECT_EQ(RepliesOfCase(Frame::kHelloRequired).size(), 1u);
}

TEST_F(IngestSessionTest, HeartbeatsAreAnsweredAndKeepThePeerKnown) {
  Greet();
  Frame beat;
  beat.mutable_heartbeat()->set_sent_ms(5);
  for (int i = 0; i < 3; ++i) {
    clock_.Advance(100s);
    ASSERT_TRUE(Handle({FrameFrom("a", beat)}).ok());
    ASSERT_EQ(RepliesOfCase(Frame::kHeartbeat).size(), 1u);
    session_->ForgetIdlePeers();
  }
  EXPECT_EQ(session_->stats().peers, 1u);
}

TEST_F(IngestSessionTest, MalformedFramesAreCountedAndAnsweredWithNothing) {
  Greet();
  IngestFrame garbage;
  garbage.peer_id = "a";
  garbage.bytes = std::string("\xff\xff\xff\xff garbage", 13);
  garbage.credentials = IpcPeerCredentials{kCollectorUid, kCollectorUid, 1};
  IngestFrame empty = garbage;  // a message with extra parts arrives with no bytes
  empty.bytes.clear();
  Frame ack;  // a collector never sends an Ack
  ack.mutable_ack()->set_high_water_mark(1000);
  ASSERT_TRUE(Handle({garbage, empty, FrameFrom("a", ack)}).ok());
  EXPECT_TRUE(replies_.empty());
  EXPECT_EQ(session_->stats().malformed_frames, 3u);
  EXPECT_TRUE(StoredSeqs().empty());
}

TEST_F(IngestSessionTest, AnInvalidRecordIsRejectedWithItsSeqAndReason) {
  Greet();
  Frame frame;
  frame.mutable_record()->set_seq(1);
  Record record = MakeRecord("boot-1", 1);
  record.clear_collected_at();
  *frame.mutable_record()->mutable_record() = record;
  ASSERT_TRUE(Handle({FrameFrom("a", frame)}).ok());
  const auto rejects = RepliesOfCase(Frame::kReject);
  ASSERT_EQ(rejects.size(), 1u);
  EXPECT_EQ(rejects[0].reject().seq(), 1u);
  EXPECT_NE(rejects[0].reject().reason().find("collected_at"), std::string::npos);
  EXPECT_EQ(session_->stats().invalid_records, 1u);
  EXPECT_TRUE(StoredSeqs().empty());
}

TEST_F(IngestSessionTest, ARecordWhoseIdDisagreesWithItsFrameIsRejected) {
  Greet();
  Frame frame;
  frame.mutable_record()->set_seq(1);
  *frame.mutable_record()->mutable_record() = MakeRecord("boot-1", 5);
  ASSERT_TRUE(Handle({FrameFrom("a", frame)}).ok());
  EXPECT_EQ(RepliesOfCase(Frame::kReject).size(), 1u);
  EXPECT_TRUE(StoredSeqs().empty());
}

TEST_F(IngestSessionTest, AnUnknownProtocolVersionIsRejectedAndThePeerForgotten) {
  Greet();
  Frame hello;
  hello.mutable_hello()->set_boot_id("boot-1");
  hello.mutable_hello()->set_protocol_version(kIpcProtocolVersion + 1);
  ASSERT_TRUE(Handle({FrameFrom("a", hello), RecordIn("a", "boot-1", 1)}).ok());
  ASSERT_EQ(replies_.size(), 2u);
  EXPECT_TRUE(replies_[0].frame.has_reject());
  EXPECT_NE(replies_[0].frame.reject().reason().find("unsupported protocol version"),
            std::string::npos);
  EXPECT_TRUE(replies_[1].frame.has_hello_required());
  EXPECT_EQ(session_->stats().bad_protocol_version, 1u);
}

TEST_F(IngestSessionTest, AStrangersFramesAreRefusedOncePerBatchAndNeverStored) {
  Frame hello;
  hello.mutable_hello()->set_boot_id("boot-1");
  hello.mutable_hello()->set_protocol_version(kIpcProtocolVersion);
  Frame record;
  record.mutable_record()->set_seq(1);
  *record.mutable_record()->mutable_record() = MakeRecord("boot-1", 1);
  ASSERT_TRUE(
      Handle({FrameFrom("x", hello, kStrangerUid), FrameFrom("x", record, kStrangerUid)}).ok());
  ASSERT_EQ(replies_.size(), 1u);
  ASSERT_TRUE(replies_[0].frame.has_reject());
  EXPECT_NE(replies_[0].frame.reject().reason().find("permission denied"), std::string::npos);
  EXPECT_EQ(session_->stats().refused_frames, 2u);
  EXPECT_EQ(session_->stats().hellos, 0u);
  EXPECT_TRUE(StoredSeqs().empty());
}

TEST_F(IngestSessionTest, UnknownCredentialsAreRefused) {
  IngestFrame in = Hello("a", "boot-1");
  in.credentials.reset();
  ASSERT_TRUE(Handle({in}).ok());
  ASSERT_EQ(replies_.size(), 1u);
  EXPECT_TRUE(replies_[0].frame.has_reject());
  EXPECT_EQ(session_->stats().refused_frames, 1u);
}

TEST_F(IngestSessionTest, TheCollectorsUserIsLookedUpAtMostOnceASecond) {
  collector_uid_.reset();  // the state directory does not exist yet
  ASSERT_TRUE(Handle({Hello("a", "boot-1")}).ok());
  EXPECT_EQ(session_->stats().refused_frames, 1u);
  collector_uid_ = kCollectorUid;
  ASSERT_TRUE(Handle({Hello("a", "boot-1")}).ok());
  EXPECT_EQ(session_->stats().refused_frames, 2u);  // the last answer is kept for a second
  clock_.Advance(1s);
  ASSERT_TRUE(Handle({Hello("a", "boot-1")}).ok());
  EXPECT_EQ(session_->stats().refused_frames, 2u);
  EXPECT_EQ(session_->stats().hellos, 1u);
}

TEST_F(IngestSessionTest, RootAndShipperdsOwnUserMaySendWithoutACollectorUser) {
  IngestSessionOptions options = DefaultOptions();
  session_ = std::make_unique<IngestSession>(options, buffer_, clock_, nullptr);
  Frame hello;
  hello.mutable_hello()->set_boot_id("boot-1");
  hello.mutable_hello()->set_protocol_version(kIpcProtocolVersion);
  ASSERT_TRUE(Handle({FrameFrom("r", hello, 0), FrameFrom("s", hello, kShipperUid),
                      FrameFrom("c", hello, kCollectorUid)})
                  .ok());
  EXPECT_EQ(session_->stats().hellos, 2u);
  EXPECT_EQ(session_->stats().refused_frames, 1u);
}

TEST_F(IngestSessionTest, ABufferFailureAcknowledgesNothingAndTheResendIsStored) {
  Greet();
  buffer_.FailNextAppends(1);
  Status failed = Handle({RecordIn("a", "boot-1", 1), RecordIn("a", "boot-1", 2)});
  EXPECT_FALSE(failed.ok());
  EXPECT_TRUE(RepliesOfCase(Frame::kAck).empty());
  EXPECT_EQ(session_->stats().buffer_errors, 1u);
  ASSERT_TRUE(Handle({RecordIn("a", "boot-1", 1), RecordIn("a", "boot-1", 2)}).ok());
  EXPECT_EQ(StoredSeqs(), (std::vector<uint64_t>{1, 2}));
  ASSERT_EQ(RepliesOfCase(Frame::kAck).size(), 1u);
  EXPECT_EQ(RepliesOfCase(Frame::kAck)[0].ack().high_water_mark(), 2u);
}

TEST_F(IngestSessionTest, ARecordAboveTheCapIsDeadLetteredAndTheOthersAreStored) {
  FakeRecordBuffer small(MakeRecord("boot-1", 1).ByteSizeLong() + 500, &clock_);
  session_ = std::make_unique<IngestSession>(DefaultOptions(), small, clock_,
                                             [this] { return collector_uid_; });
  std::vector<IngestFrame> hello = {Hello("a", "boot-1")};
  ASSERT_TRUE(session_->HandleBatch(hello, &replies_).ok());
  Frame big;
  big.mutable_record()->set_seq(2);
  Record large = MakeRecord("boot-1", 2);
  large.set_host(std::string(1000, 'h'));
  *big.mutable_record()->mutable_record() = large;
  std::vector<IngestFrame> batch = {RecordIn("a", "boot-1", 1), FrameFrom("a", big),
                                    RecordIn("a", "boot-1", 3)};
  replies_.clear();
  ASSERT_TRUE(session_->HandleBatch(batch, &replies_).ok());
  auto letters = small.ListDeadLetters(10);
  ASSERT_TRUE(letters.ok());
  ASSERT_EQ(letters->size(), 1u);
  EXPECT_EQ((*letters)[0].records[0].id().seq(), 2u);
  EXPECT_EQ(session_->stats().unstorable_records, 1u);
  EXPECT_EQ(session_->stats().records_stored, 2u);
  ASSERT_EQ(replies_.size(), 1u);
  EXPECT_EQ(replies_[0].frame.ack().high_water_mark(), 3u);
}

TEST_F(IngestSessionTest, RepliesGoToThePeerThatSentTheFrame) {
  ASSERT_TRUE(Handle({Hello("a", "boot-1"), Hello("b", "boot-2")}).ok());
  ASSERT_TRUE(Handle({RecordIn("a", "boot-1", 1), RecordIn("b", "boot-2", 1)}).ok());
  ASSERT_EQ(replies_.size(), 2u);
  for (const auto& reply : replies_) {
    ASSERT_TRUE(reply.frame.has_ack());
    EXPECT_EQ(reply.frame.ack().boot_id(), reply.peer_id == "a" ? "boot-1" : "boot-2");
  }
}

TEST_F(IngestSessionTest, FramesAndDisconnectsAreCounted) {
  Greet();
  session_->NoteDisconnect();
  EXPECT_EQ(session_->stats().frames, 1u);
  EXPECT_EQ(session_->stats().disconnects, 1u);
}

}  // namespace
}  // namespace pgagent
