#include "shared/control/shipper_control.h"

#include <gtest/gtest.h>

#include <chrono>

#include "tests/common_control/control_test_util.h"
#include "tests/fakes/fake_clock.h"
#include "tests/fakes/fake_record_buffer.h"

namespace pgagent {
namespace {

using namespace std::chrono_literals;
using pgagent::testing::ControlTestRecord;
using pgagent::v1::ControlRequest;
using pgagent::v1::ControlResponse;
using pgagent::v1::RECORD_KIND_ACTIVITY;
using pgagent::v1::RECORD_KIND_LOG;
using pgagent::v1::RECORD_KIND_SYSTEM;

class ShipperControlHandlerTest : public ::testing::Test {
 protected:
  void Fill(int n, pgagent::v1::RecordKind kind, uint64_t first_seq = 1) {
    std::vector<pgagent::v1::Record> records;
    for (int i = 0; i < n; ++i) records.push_back(ControlTestRecord(first_seq + i, kind));
    ASSERT_TRUE(buffer_.Append(records).ok());
  }
  void AddDeadLetters(int n) {
    for (int i = 0; i < n; ++i) {
      DeadLetter letter;
      letter.http_status = 400;
      letter.envelope_json = "{\"source\":\"pg_log\"}";
      letter.response_body = "invalid data";
      letter.records = {ControlTestRecord(1000 + i, RECORD_KIND_LOG)};
      ASSERT_TRUE(buffer_.AddDeadLetter(letter).ok());
    }
  }
  ControlResponse Ask(const ControlRequest& request) { return handler_.Handle(request); }

  FakeClock clock_;
  FakeRecordBuffer buffer_{100ull << 20, &clock_};
  pgagent::v1::AgentHealth health_;
  ShipperControlHandler handler_{
      buffer_, clock_,
      ShipperStatusSources{[this] { return health_; }, [] { return 1767225000.0; }}};
};

TEST_F(ShipperControlHandlerTest, StatusReportsUptimeHealthAndTheBuffer) {
  Fill(3, RECORD_KIND_LOG);
  health_.set_breaker_state("open");
  health_.set_requests_sent(42);
  clock_.Advance(90s);
  ControlRequest request;
  request.mutable_status();
  ControlResponse response = Ask(request);
  ASSERT_TRUE(response.ok()) << response.error();
  EXPECT_EQ(response.source(), "shipperd");
  const auto& status = response.status();
  EXPECT_EQ(status.component(), "shipperd");
  EXPECT_EQ(status.version(), PGAGENT_VERSION);
  EXPECT_DOUBLE_EQ(status.uptime_s(), 90.0);
  EXPECT_DOUBLE_EQ(status.last_cycle_unix_s(), 1767225000.0);
  EXPECT_EQ(status.health().breaker_state(), "open");
  EXPECT_EQ(status.health().requests_sent(), 42u);
  EXPECT_EQ(status.queue().records(), 3u);
  EXPECT_DOUBLE_EQ(status.queue().oldest_age_s(), 90.0);
  EXPECT_GT(status.pid(), 0);
}

TEST_F(ShipperControlHandlerTest, StatusWithoutSourcesLeavesHealthUnset) {
  ShipperControlHandler bare(buffer_, clock_);
  ControlRequest request;
  request.mutable_status();
  ControlResponse response = bare.Handle(request);
  ASSERT_TRUE(response.ok());
  EXPECT_FALSE(response.status().has_health());
  EXPECT_EQ(response.status().last_cycle_unix_s(), 0);
}

TEST_F(ShipperControlHandlerTest, QueueStatsCountsRecordsByKindAndDeadLetters) {
  Fill(2, RECORD_KIND_LOG);
  Fill(3, RECORD_KIND_ACTIVITY, 10);
  AddDeadLetters(1);
  ControlRequest request;
  request.mutable_queue_stats();
  ControlResponse response = Ask(request);
  ASSERT_TRUE(response.ok()) << response.error();
  const auto& stats = response.queue_stats();
  EXPECT_EQ(stats.records(), 5u);
  EXPECT_GT(stats.bytes(), 0u);
  EXPECT_EQ(stats.max_bytes(), 100ull << 20);
  EXPECT_EQ(stats.dead_letters(), 1u);
  uint64_t by_kind = 0;
  for (const auto& [kind, n] : stats.records_by_kind()) by_kind += n;
  EXPECT_EQ(by_kind, 5u);
  EXPECT_EQ(stats.records_by_kind().size(), 2u);
}

TEST_F(ShipperControlHandlerTest, PeekReturnsTenRecordsFromTheHeadByDefault) {
  Fill(15, RECORD_KIND_LOG);
  ControlRequest request;
  request.mutable_queue_peek();
  ControlResponse response = Ask(request);
  ASSERT_TRUE(response.ok()) << response.error();
  ASSERT_EQ(response.queue_peek().records_size(), 10);
  EXPECT_TRUE(response.queue_peek().truncated());
  EXPECT_EQ(response.queue_peek().records(0).record().id().seq(), 1u);
  EXPECT_EQ(response.queue_peek().records(9).record().id().seq(), 10u);
  EXPECT_LT(response.queue_peek().records(0).id(), response.queue_peek().records(1).id());
}

TEST_F(ShipperControlHandlerTest, PeekFiltersByKindAcrossScanPages) {
  Fill(600, RECORD_KIND_LOG);
  Fill(2, RECORD_KIND_SYSTEM, 1000);
  ControlRequest request;
  request.mutable_queue_peek()->set_limit(5);
  request.mutable_queue_peek()->set_kind(RECORD_KIND_SYSTEM);
  ControlResponse response = Ask(request);
  ASSERT_TRUE(response.ok()) << response.error();
  ASSERT_EQ(response.queue_peek().records_size(), 2);
  EXPECT_FALSE(response.queue_peek().truncated());
  EXPECT_EQ(response.queue_peek().records(0).record().kind(), RECORD_KIND_SYSTEM);
  EXPECT_EQ(response.queue_peek().records(1).record().id().seq(), 1001u);
}

TEST_F(ShipperControlHandlerTest, PeekStopsAtTheAnswerSizeBudget) {
  Fill(50, RECORD_KIND_LOG);
  ShipperControlOptions options;
  options.max_answer_bytes = 200;
  ShipperControlHandler small(buffer_, clock_, {}, options);
  ControlRequest request;
  request.mutable_queue_peek()->set_limit(50);
  ControlResponse response = small.Handle(request);
  ASSERT_TRUE(response.ok());
  EXPECT_GT(response.queue_peek().records_size(), 0);
  EXPECT_LT(response.queue_peek().records_size(), 50);
  EXPECT_TRUE(response.queue_peek().truncated());
}

TEST_F(ShipperControlHandlerTest, PurgeIsRefusedWithoutConfirmAndKeepsTheRecords) {
  Fill(4, RECORD_KIND_LOG);
  ControlRequest request;
  request.mutable_queue_purge();
  ControlResponse response = Ask(request);
  EXPECT_FALSE(response.ok());
  EXPECT_NE(response.error().find("confirm"), std::string::npos);
  EXPECT_EQ(buffer_.Stats()->records, 4u);
}

TEST_F(ShipperControlHandlerTest, PurgeWithConfirmRemovesEveryRecord) {
  Fill(4, RECORD_KIND_LOG);
  ControlRequest request;
  request.mutable_queue_purge()->set_confirm(true);
  ControlResponse response = Ask(request);
  ASSERT_TRUE(response.ok()) << response.error();
  EXPECT_EQ(response.affected().count(), 4u);
  EXPECT_EQ(buffer_.Stats()->records, 0u);
}

TEST_F(ShipperControlHandlerTest, DeadLetterListShowsTheOldestWithTheTotal) {
  AddDeadLetters(25);
  ControlRequest request;
  request.mutable_deadletter_list();
  ControlResponse response = Ask(request);
  ASSERT_TRUE(response.ok()) << response.error();
  const auto& list = response.deadletter_list();
  EXPECT_EQ(list.total(), 25u);
  ASSERT_EQ(list.entries_size(), 20);
  EXPECT_TRUE(list.truncated());
  EXPECT_EQ(list.entries(0).id(), 1u);
  EXPECT_EQ(list.entries(0).http_status(), 400);
  EXPECT_EQ(list.entries(0).response(), "invalid data");
  EXPECT_EQ(list.entries(0).envelope_json(), "{\"source\":\"pg_log\"}");
  EXPECT_DOUBLE_EQ(list.entries(0).dead_lettered_unix_s(), 1767225600.0);
}

TEST_F(ShipperControlHandlerTest, RequeueOfChosenIdsPutsOnlyThoseBackInTheQueue) {
  AddDeadLetters(3);
  ControlRequest request;
  request.mutable_deadletter_requeue()->add_ids(2);
  request.mutable_deadletter_requeue()->add_ids(99);  // unknown: ignored
  ControlResponse response = Ask(request);
  ASSERT_TRUE(response.ok()) << response.error();
  EXPECT_EQ(response.affected().count(), 1u);
  EXPECT_EQ(buffer_.Stats()->records, 1u);
  EXPECT_EQ(buffer_.Stats()->dead_letters, 2u);
}

TEST_F(ShipperControlHandlerTest, RequeueWithoutIdsRequeuesEveryDeadLetter) {
  AddDeadLetters(300);  // more than one listing page
  ControlRequest request;
  request.mutable_deadletter_requeue();
  ControlResponse response = Ask(request);
  ASSERT_TRUE(response.ok()) << response.error();
  EXPECT_EQ(response.affected().count(), 300u);
  EXPECT_EQ(buffer_.Stats()->records, 300u);
  EXPECT_EQ(buffer_.Stats()->dead_letters, 0u);
}

TEST_F(ShipperControlHandlerTest, DeadLetterPurgeNeedsConfirm) {
  AddDeadLetters(2);
  ControlRequest refused;
  refused.mutable_deadletter_purge();
  EXPECT_FALSE(Ask(refused).ok());
  ControlRequest confirmed;
  confirmed.mutable_deadletter_purge()->set_confirm(true);
  ControlResponse response = Ask(confirmed);
  ASSERT_TRUE(response.ok()) << response.error();
  EXPECT_EQ(response.affected().count(), 2u);
  EXPECT_EQ(buffer_.Stats()->dead_letters, 0u);
}

TEST_F(ShipperControlHandlerTest, EmptyRequestIsAnErrorNotACrash) {
  ControlResponse response = Ask(ControlRequest());
  EXPECT_FALSE(response.ok());
  EXPECT_NE(response.error().find("empty control request"), std::string::npos);
}

}  // namespace
}  // namespace pgagent
