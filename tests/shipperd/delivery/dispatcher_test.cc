#include "shipperd/delivery/dispatcher.h"

#include <gtest/gtest.h>

#include "tests/fakes/fake_clock.h"
#include "tests/fakes/fake_record_buffer.h"
#include "tests/fakes/fake_transport.h"

namespace pgagent {
namespace {

using namespace std::chrono_literals;
using pgagent::v1::Record;

Record System(uint64_t seq) {
  Record r;
  r.mutable_id()->set_boot_id("boot");
  r.mutable_id()->set_seq(seq);
  r.set_kind(pgagent::v1::RECORD_KIND_SYSTEM);
  r.mutable_collected_at()->set_seconds(1795773600);
  r.mutable_system()->mutable_cpu()->set_percent(static_cast<double>(seq));
  return r;
}

Record Log(uint64_t seq, const char* correlation_id = nullptr) {
  Record r;
  r.mutable_id()->set_boot_id("boot");
  r.mutable_id()->set_seq(seq);
  r.set_kind(pgagent::v1::RECORD_KIND_LOG);
  r.mutable_collected_at()->set_seconds(1795773600);
  auto* e = r.mutable_log()->add_entries();
  e->set_level("LOG");
  e->set_message("line " + std::to_string(seq));
  if (correlation_id) e->set_correlation_id(correlation_id);
  r.mutable_log()->set_count(1);
  return r;
}

class DispatcherTest : public ::testing::Test {
 protected:
  DispatcherTest() : buffer_(100ull << 20, &clock_) { Rebuild(Options()); }

  static DispatcherOptions Options() {
    DispatcherOptions o;
    o.url = "https://127.0.0.1:1/ingest/postgres";
    o.api_key = "secret-key";
    o.project_id = "proj";
    o.requests_per_minute = 80;
    return o;
  }
  void Rebuild(const DispatcherOptions& o) {
    dispatcher_ = std::make_unique<Dispatcher>(o, buffer_, transport_, clock_, [] { return 0.5; });
  }
  void Store(std::vector<Record> records) { ASSERT_TRUE(buffer_.Append(records).ok()); }
  uint64_t Buffered() { return buffer_.Stats()->records; }
  // Runs Step() honouring its waits on the fake clock, at most `steps` times.
  void Run(int steps) {
    for (int i = 0; i < steps; ++i) clock_.Advance(dispatcher_->Step());
  }

  FakeClock clock_;
  FakeRecordBuffer buffer_;
  FakeTransport transport_;
  std::unique_ptr<Dispatcher> dispatcher_;
};

TEST_F(DispatcherTest, DeliversARecordWithBearerAuthAndRemovesIt) {
  Store({System(1)});
  EXPECT_EQ(dispatcher_->Step(), 0ms);
  ASSERT_EQ(transport_.requests().size(), 1u);
  const HttpRequest& req = transport_.requests()[0];
  EXPECT_EQ(req.url, "https://127.0.0.1:1/ingest/postgres");
  EXPECT_EQ(req.headers[0], std::make_pair(std::string("Authorization"), std::string("Bearer secret-key")));
  EXPECT_EQ(req.headers[1], std::make_pair(std::string("Content-Type"), std::string("application/json")));
  EXPECT_NE(req.body.find("\"project\":\"proj\""), std::string::npos);
  EXPECT_EQ(Buffered(), 0u);
  EXPECT_EQ(dispatcher_->stats().records_delivered, 1u);
}

TEST_F(DispatcherTest, ATransientFailureRetriesTheSameEnvelopeAndKeepsTheRecord) {
  Store({System(1)});
  transport_.Answer(503);
  transport_.Fail(UnavailableError("connection refused"));
  Run(3);
  ASSERT_EQ(transport_.requests().size(), 3u);
  EXPECT_EQ(transport_.requests()[0].body, transport_.requests()[2].body);
  EXPECT_EQ(Buffered(), 0u);
  EXPECT_EQ(dispatcher_->stats().requests_failed, 2u);
}

TEST_F(DispatcherTest, A5xxBurstTripsTheBreakerAndRequestsStayBoundedWhileOpen) {
  Store({System(1)});
  transport_.set_fallback_status(500);
  // Ten simulated minutes of a failing listener.
  const auto end = clock_.Monotonic() + 600s;
  while (clock_.Monotonic() < end) clock_.Advance(std::max(dispatcher_->Step(), 1ms));
  EXPECT_EQ(dispatcher_->breaker_state(), BreakerState::kOpen);
  // 5 to trip, then one probe per cooldown (30, 60, 120, 240 s).
  EXPECT_LE(transport_.requests().size(), 5u + 5u);
  EXPECT_EQ(Buffered(), 1u);
}

TEST_F(DispatcherTest, Honours429RetryAfterExactlyWithoutTrippingTheBreaker) {
  Store({System(1), System(2)});
  transport_.Answer(429, "{}", 7.0);
  EXPECT_EQ(dispatcher_->Step(), 7000ms);
  EXPECT_EQ(dispatcher_->breaker_state(), BreakerState::kClosed);
  clock_.Advance(6999ms);
  EXPECT_GT(dispatcher_->Step(), 0ms);  // still waiting: nothing sent
  EXPECT_EQ(transport_.requests().size(), 1u);
  clock_.Advance(1ms);
  EXPECT_EQ(dispatcher_->Step(), 0ms);
  EXPECT_EQ(transport_.requests().size(), 2u);
  EXPECT_EQ(dispatcher_->stats().requests_429, 1u);
}

TEST_F(DispatcherTest, A400DeadLettersTheEnvelopeAndMovesOn) {
  Store({System(1), System(2)});
  transport_.Answer(400, "{\"error\":\"invalid source\"}");
  Run(2);
  EXPECT_EQ(Buffered(), 0u);
  auto letters = buffer_.ListDeadLetters(10);
  ASSERT_TRUE(letters.ok());
  ASSERT_EQ(letters->size(), 1u);
  EXPECT_EQ((*letters)[0].http_status, 400);
  EXPECT_NE((*letters)[0].envelope_json.find("system_metrics"), std::string::npos);
  EXPECT_EQ((*letters)[0].record.id().seq(), 1u);
  EXPECT_EQ(transport_.requests().size(), 2u);  // never retried
}

TEST_F(DispatcherTest, A401KeepsEverythingAndOpensTheBreaker) {
  Store({System(1)});
  transport_.Answer(401);
  dispatcher_->Step();
  EXPECT_EQ(dispatcher_->breaker_state(), BreakerState::kOpen);
  EXPECT_EQ(Buffered(), 1u);
  EXPECT_EQ(buffer_.ListDeadLetters(10)->size(), 0u);
  EXPECT_EQ(dispatcher_->stats().auth_failures, 1u);
}

TEST_F(DispatcherTest, A413SplitsAnAggregateIntoSmallerParts) {
  Record r = System(1);
  r.set_kind(pgagent::v1::RECORD_KIND_ACTIVITY);
  r.clear_system();
  for (int i = 0; i < 20; ++i) r.mutable_activity()->add_sessions()->set_query(std::string(500, 'x'));
  Store({r});
  transport_.Answer(413);
  Run(10);
  EXPECT_EQ(Buffered(), 0u);
  EXPECT_EQ(dispatcher_->stats().split_413, 1u);
  EXPECT_GT(transport_.requests().size(), 2u);
  EXPECT_LT(transport_.requests()[1].body.size(), transport_.requests()[0].body.size());
  EXPECT_EQ(buffer_.ListDeadLetters(10)->size(), 0u);
}

TEST_F(DispatcherTest, A413ForASingleRowDeadLetters) {
  Store({System(1)});
  transport_.Answer(413);
  Run(1);
  EXPECT_EQ(Buffered(), 0u);
  EXPECT_EQ(buffer_.ListDeadLetters(10)->size(), 1u);
}

TEST_F(DispatcherTest, CorrelationEnvelopesCarryTheirIdAtTheTopLevel) {
  Store({Log(1, "11111111-2222-3333-4444-555555555555")});
  Run(2);
  ASSERT_EQ(transport_.requests().size(), 2u);
  const std::string& aggregate = transport_.requests()[0].body;
  // The aggregate has the id only nested in its entry, not at the top level (before data).
  EXPECT_GT(aggregate.find("\"correlation_id\""), aggregate.find("\"data\""));
  EXPECT_NE(transport_.requests()[1].body.find(
                "\"correlation_id\":\"11111111-2222-3333-4444-555555555555\""),
            std::string::npos);
  EXPECT_EQ(dispatcher_->stats().correlation_envelopes, 1u);
}

TEST_F(DispatcherTest, BackloggedLogRecordsAreCoalesced) {
  std::vector<Record> logs;
  for (uint64_t i = 1; i <= 30; ++i) logs.push_back(Log(i));
  Store(logs);
  Run(1);
  ASSERT_EQ(transport_.requests().size(), 1u);
  EXPECT_NE(transport_.requests()[0].body.find("\"count\":30"), std::string::npos);
  EXPECT_EQ(Buffered(), 0u);
  EXPECT_EQ(dispatcher_->stats().coalesced_log_records, 30u);
}

TEST_F(DispatcherTest, TheRequestBudgetIsNeverExceededOverASimulatedHourOfBacklog) {
  std::vector<Record> backlog;
  for (uint64_t i = 1; i <= 6000; ++i) backlog.push_back(System(i));
  Store(backlog);
  std::deque<std::chrono::steady_clock::time_point> window;
  size_t worst = 0, sent_before = 0;
  const auto end = clock_.Monotonic() + 3600s;
  while (clock_.Monotonic() < end) {
    auto wait = dispatcher_->Step();
    if (transport_.requests().size() > sent_before) {
      sent_before = transport_.requests().size();
      window.push_back(clock_.Monotonic());
    }
    while (!window.empty() && clock_.Monotonic() - window.front() >= 60s) window.pop_front();
    worst = std::max(worst, window.size());
    clock_.Advance(std::max(wait, 10ms));
  }
  EXPECT_LE(worst, 80u);
  EXPECT_GE(transport_.requests().size(), 80u * 59u);
}

TEST_F(DispatcherTest, TheApiKeyNeverAppearsInStats) {
  Store({System(1)});
  transport_.Answer(401);
  dispatcher_->Step();
  EXPECT_EQ(dispatcher_->stats().last_error.find("secret-key"), std::string::npos);
}

}  // namespace
}  // namespace pgagent
