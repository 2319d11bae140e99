#include "shipperd/delivery/dispatcher.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <deque>
#include <map>

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

Record Activity(uint64_t seq) {
  Record r = System(seq);
  r.set_kind(pgagent::v1::RECORD_KIND_ACTIVITY);
  r.mutable_activity()->add_sessions()->set_pid(static_cast<int32_t>(1000 + seq));
  r.mutable_activity()->set_count(1);
  return r;
}

Record Health(uint64_t seq) {
  Record r = System(seq);
  r.set_kind(pgagent::v1::RECORD_KIND_HEALTH);
  r.mutable_health()->set_component("collectord");
  return r;
}

// `r` stamped as collected `age` before the clock's wall time.
Record CollectedAgo(Record r, const Clock& clock, std::chrono::seconds age) {
  const auto ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>((clock.Now() - age).time_since_epoch())
          .count();
  r.mutable_collected_at()->set_seconds(ns / 1000000000);
  r.mutable_collected_at()->set_nanos(static_cast<int32_t>(ns % 1000000000));
  return r;
}

// data.agent.seq of a request body (the first record's, for coalesced logs).
uint64_t SeqOf(const std::string& body) {
  const std::string tag = "\"seq\":";
  const size_t at = body.find(tag);
  return at == std::string::npos ? 0 : std::stoull(body.substr(at + tag.size()));
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
  // Lets remove_delay pass with nothing to send: pending removals are flushed.
  void SettleRemovals() {
    clock_.Advance(Options().remove_delay);
    clock_.Advance(dispatcher_->Step());
  }
  // Runs Step() honouring its waits on the fake clock, at most `steps` times.
  void Run(int steps) {
    for (int i = 0; i < steps; ++i) clock_.Advance(dispatcher_->Step());
  }

  std::vector<uint64_t> SentSeqs() const {
    std::vector<uint64_t> seqs;
    for (const auto& request : transport_.requests()) seqs.push_back(SeqOf(request.body));
    return seqs;
  }
  // An hour-old backlog (seqs 1-3 system, 4 log) and three live snapshots (5-7).
  void StoreBacklogAndLiveSnapshots() {
    Store({CollectedAgo(System(1), clock_, 3600s), CollectedAgo(System(2), clock_, 3590s),
           CollectedAgo(System(3), clock_, 3580s), CollectedAgo(Log(4), clock_, 3570s),
           CollectedAgo(System(5), clock_, 30s), CollectedAgo(Activity(6), clock_, 20s),
           CollectedAgo(Health(7), clock_, 10s)});
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
  EXPECT_EQ(req.headers[0],
            std::make_pair(std::string("Authorization"), std::string("Bearer secret-key")));
  EXPECT_EQ(req.headers[1],
            std::make_pair(std::string("Content-Type"), std::string("application/json")));
  EXPECT_NE(req.body.find("\"project\":\"proj\""), std::string::npos);
  SettleRemovals();
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
  SettleRemovals();
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
  SettleRemovals();
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
  for (int i = 0; i < 20; ++i)
    r.mutable_activity()->add_sessions()->set_query(std::string(500, 'x'));
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
  SettleRemovals();
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
  SettleRemovals();
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

TEST_F(DispatcherTest, LiveSnapshotsGoBeforeTheBacklogOldestLiveFirst) {
  StoreBacklogAndLiveSnapshots();
  Run(7);
  EXPECT_EQ(SentSeqs(), std::vector<uint64_t>({5, 6, 7, 1, 2, 3, 4}));
  SettleRemovals();
  EXPECT_EQ(Buffered(), 0u);
  EXPECT_EQ(dispatcher_->stats().live_first_records, 3u);
}

TEST_F(DispatcherTest, LogsKeepFifoOrderDuringABacklog) {
  Store({CollectedAgo(Log(1), clock_, 3600s), CollectedAgo(Log(2), clock_, 3599s),
         CollectedAgo(System(3), clock_, 3598s), CollectedAgo(Log(4), clock_, 10s),
         CollectedAgo(Log(5), clock_, 5s), CollectedAgo(System(6), clock_, 1s)});
  Run(4);
  // The live system snapshot jumps the queue; the live logs wait behind the old ones, and
  // each run of logs is coalesced from the head (1+2, then 4+5).
  EXPECT_EQ(SentSeqs(), std::vector<uint64_t>({6, 1, 3, 4}));
  SettleRemovals();
  EXPECT_EQ(Buffered(), 0u);
  EXPECT_EQ(dispatcher_->stats().live_first_records, 1u);
}

TEST_F(DispatcherTest, WithLiveFirstOffEverythingIsFifo) {
  DispatcherOptions o = Options();
  o.live_first = false;
  Rebuild(o);
  StoreBacklogAndLiveSnapshots();
  Run(7);
  EXPECT_EQ(SentSeqs(), std::vector<uint64_t>({1, 2, 3, 4, 5, 6, 7}));
  EXPECT_EQ(dispatcher_->stats().live_first_records, 0u);
}

TEST_F(DispatcherTest, AQueueWhoseHeadIsYoungerThanTheBacklogAgeIsFifo) {
  Store({CollectedAgo(System(1), clock_, 200s), CollectedAgo(System(2), clock_, 100s),
         CollectedAgo(System(3), clock_, 5s)});
  Run(3);
  EXPECT_EQ(SentSeqs(), std::vector<uint64_t>({1, 2, 3}));
}

TEST_F(DispatcherTest, StaleSnapshotsAtTheTailDoNotJumpTheQueue) {
  // Older than live_age (120 s): they are backlog too.
  Store({CollectedAgo(System(1), clock_, 3600s), CollectedAgo(System(2), clock_, 600s),
         CollectedAgo(Activity(3), clock_, 121s)});
  Run(3);
  EXPECT_EQ(SentSeqs(), std::vector<uint64_t>({1, 2, 3}));
}

// A 3-hour outage is buffered, then the listener is back while the collector keeps sending
// its per-minute records: the budget holds in every 60 s span, live snapshots are delivered
// within a minute of being collected, and the backlog still drains.
TEST_F(DispatcherTest, LiveFirstKeepsTheBudgetAndDeliversLiveDataPromptlyWhileDraining) {
  uint64_t seq = 0;
  auto minute_of_records = [&](std::chrono::seconds age) {
    std::vector<Record> records = {
        CollectedAgo(Activity(++seq), clock_, age), CollectedAgo(System(++seq), clock_, age),
        CollectedAgo(Health(++seq), clock_, age), CollectedAgo(Health(++seq), clock_, age)};
    Record statements = CollectedAgo(System(++seq), clock_, age);
    statements.set_kind(pgagent::v1::RECORD_KIND_STATEMENTS);
    statements.mutable_statements()->set_count(0);
    records.push_back(statements);
    for (int i = 0; i < 4; ++i) records.push_back(CollectedAgo(Log(++seq), clock_, age));
    return records;
  };
  for (int minute = 180; minute > 0; --minute) Store(minute_of_records(minute * 60s));
  const uint64_t last_backlog_seq = seq;

  std::map<uint64_t, std::chrono::steady_clock::time_point> live_stored;  // snapshot seq -> when
  std::deque<std::chrono::steady_clock::time_point> window;
  std::chrono::steady_clock::duration worst_live_latency{};
  size_t worst = 0, seen = 0;
  auto next_minute = clock_.Monotonic();
  const auto end = clock_.Monotonic() + 3600s;
  while (clock_.Monotonic() < end) {
    if (clock_.Monotonic() >= next_minute) {
      std::vector<Record> records = minute_of_records(0s);
      for (const auto& r : records) {
        if (r.kind() != pgagent::v1::RECORD_KIND_LOG)
          live_stored[r.id().seq()] = clock_.Monotonic();
      }
      Store(records);
      next_minute += 60s;
    }
    const auto wait = dispatcher_->Step();
    for (; seen < transport_.requests().size(); ++seen) {
      window.push_back(clock_.Monotonic());
      auto it = live_stored.find(SeqOf(transport_.requests()[seen].body));
      if (it != live_stored.end()) {
        worst_live_latency = std::max(worst_live_latency, clock_.Monotonic() - it->second);
      }
    }
    while (!window.empty() && clock_.Monotonic() - window.front() >= 60s) window.pop_front();
    worst = std::max(worst, window.size());
    clock_.Advance(std::clamp<std::chrono::milliseconds>(wait, 10ms, 1000ms));
  }
  EXPECT_LE(worst, 80u);
  EXPECT_LE(worst_live_latency, 60s);
  EXPECT_GT(dispatcher_->stats().live_first_records, 0u);
  // Drained: only the last minute's records can still be waiting.
  auto head = buffer_.Peek(1);
  ASSERT_TRUE(head.ok());
  if (!head->empty()) {
    EXPECT_GT(head->front().record.id().seq(), last_backlog_seq);
  }
  EXPECT_LE(Buffered(), 9u);
}

TEST_F(DispatcherTest, WhileABacklogDrainsDeliveredRecordsAreRemovedInBatches) {
  DispatcherOptions o = Options();
  o.requests_per_minute = 100000;
  o.remove_batch = 16;
  Rebuild(o);
  std::vector<Record> backlog;
  for (uint64_t i = 1; i <= 100; ++i) backlog.push_back(System(i));
  Store(backlog);
  Run(100);
  std::vector<uint64_t> expected;
  for (uint64_t i = 1; i <= 100; ++i) expected.push_back(i);
  // Each record sent exactly once although its removal was deferred.
  EXPECT_EQ(SentSeqs(), expected);
  SettleRemovals();
  EXPECT_EQ(Buffered(), 0u);
  EXPECT_LE(buffer_.remove_calls(), 100u / 16 + 1);
  EXPECT_EQ(dispatcher_->stats().records_delivered, 100u);
}

TEST_F(DispatcherTest, InSteadyStateACyclesRecordsAreRemovedTogetherAfterTheRemoveDelay) {
  // One 1 s cycle's worth of snapshots, delivered at once into an otherwise empty queue.
  Store({System(1), Activity(2), Health(3)});
  EXPECT_EQ(dispatcher_->Step(), 0ms);
  EXPECT_EQ(dispatcher_->Step(), 0ms);
  EXPECT_EQ(dispatcher_->Step(), 0ms);
  EXPECT_EQ(SentSeqs(), std::vector<uint64_t>({1, 2, 3}));
  EXPECT_EQ(Buffered(), 3u);  // delivered, removal pending
  // Nothing to send: the dispatcher waits (its idle poll) and keeps the removals pending
  // until the delay has passed, then wakes exactly at its end.
  const auto idle = dispatcher_->Step();
  EXPECT_GT(idle, 0ms);
  EXPECT_LE(idle, Options().remove_delay);
  EXPECT_EQ(Buffered(), 3u);
  clock_.Advance(Options().remove_delay - 1ms);
  EXPECT_EQ(dispatcher_->Step(), 1ms);
  clock_.Advance(1ms);
  dispatcher_->Step();
  EXPECT_EQ(Buffered(), 0u);
  EXPECT_EQ(buffer_.remove_calls(), 1u);  // one transaction (one sync) for the three
  EXPECT_EQ(transport_.requests().size(), 3u);  // pending records were never re-sent
}

TEST_F(DispatcherTest, PendingRemovalsAreFlushedWhenTheDispatcherWaits) {
  std::vector<Record> backlog;
  for (uint64_t i = 1; i <= 100; ++i) backlog.push_back(System(i));
  Store(backlog);
  for (int i = 0; i < 80; ++i) EXPECT_EQ(dispatcher_->Step(), 0ms);
  EXPECT_EQ(Buffered(), 100u);  // 80 delivered, removal deferred (batch 256, no time passed)
  EXPECT_GT(dispatcher_->Step(), 0ms);  // the budget of 80 is spent: wait, and flush
  EXPECT_EQ(Buffered(), 20u);
  EXPECT_EQ(buffer_.remove_calls(), 1u);
}

TEST_F(DispatcherTest, PendingRemovalsAreFlushedWhenTheDispatcherIsDestroyed) {
  Store({System(1), System(2)});
  EXPECT_EQ(dispatcher_->Step(), 0ms);
  EXPECT_EQ(Buffered(), 2u);  // record 1 delivered, its removal deferred behind record 2
  dispatcher_.reset();
  EXPECT_EQ(Buffered(), 1u);
}

TEST_F(DispatcherTest, TheApiKeyNeverAppearsInStats) {
  Store({System(1)});
  transport_.Answer(401);
  dispatcher_->Step();
  EXPECT_EQ(dispatcher_->stats().last_error.find("secret-key"), std::string::npos);
}

}  // namespace
}  // namespace pgagent
