#include "shipperd/delivery/dispatcher.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <deque>
#include <map>
#include <regex>
#include <set>

#include "common/log.h"
#include "shipperd/delivery/correlating_buffer.h"
#include "tests/fakes/fake_clock.h"
#include "tests/fakes/fake_correlation_store.h"
#include "tests/fakes/fake_record_buffer.h"
#include "tests/fakes/fake_transport.h"

namespace pgagent {
namespace {

using namespace std::chrono_literals;
using pgagent::v1::Record;

constexpr char kIdA[] = "0b7c8c1e-1111-4a4a-8b8b-000000000001";
constexpr char kIdB[] = "0b7c8c1e-2222-4a4a-8b8b-000000000002";
constexpr char kIdC[] = "0b7c8c1e-3333-4a4a-8b8b-000000000003";

class InMemoryRequestLog final : public RequestLog {
 public:
  Result<std::vector<int64_t>> Load() override { return sent; }
  Status Save(const std::vector<int64_t>& s) override {
    sent = s;
    return Status::Ok();
  }
  std::vector<int64_t> sent;
};

class DispatcherTest : public ::testing::Test {
 protected:
  DispatcherTest()
      : buffer_(100ull << 20, &clock_), store_(clock_), ingest_(buffer_, store_) {
    Rebuild(Options());
  }

  static DispatcherOptions Options() {
    DispatcherOptions o;
    o.url = "https://127.0.0.1:1/ingest/postgres";
    o.api_key = "secret-key";
    o.project_id = "proj";
    o.budget.per_minute = 80;
    return o;
  }
  void Rebuild(const DispatcherOptions& o) {
    dispatcher_.reset();
    dispatcher_ = std::make_unique<Dispatcher>(o, buffer_, &store_, transport_, clock_,
                                               [] { return 0.5; }, &request_log_);
  }

  // Records as collectord would send them, stamped `age` before the clock's wall time.
  Record Base(pgagent::v1::RecordKind kind, std::chrono::seconds age = 0s) {
    Record r;
    r.mutable_id()->set_boot_id("boot");
    r.mutable_id()->set_seq(++seq_);
    r.set_kind(kind);
    r.set_host("db1");
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                        (clock_.Now() - age).time_since_epoch())
                        .count();
    r.mutable_collected_at()->set_seconds(ns / 1000000000);
    r.mutable_collected_at()->set_nanos(static_cast<int32_t>(ns % 1000000000));
    return r;
  }
  Record System(std::chrono::seconds age = 0s) {
    Record r = Base(pgagent::v1::RECORD_KIND_SYSTEM, age);
    r.mutable_system()->mutable_cpu()->set_percent(static_cast<double>(seq_));
    return r;
  }
  Record Health(std::chrono::seconds age = 0s) {
    Record r = Base(pgagent::v1::RECORD_KIND_HEALTH, age);
    r.mutable_health()->set_component("collectord");
    return r;
  }
  Record Statements(std::chrono::seconds age = 0s) {
    Record r = Base(pgagent::v1::RECORD_KIND_STATEMENTS, age);
    r.mutable_statements()->add_statements()->set_queryid(4696375739796055123LL);
    return r;
  }
  Record Activity(std::chrono::seconds age = 0s, const char* id = nullptr, double ms = 100) {
    Record r = Base(pgagent::v1::RECORD_KIND_ACTIVITY, age);
    auto* s = r.mutable_activity()->add_sessions();
    s->set_pid(static_cast<int32_t>(1000 + seq_));
    s->set_state("active");
    s->set_query("SELECT ?");
    s->set_query_duration_ms(ms);
    if (id != nullptr) s->set_correlation_id(id);
    return r;
  }
  Record Log(std::chrono::seconds age = 0s, const char* id = nullptr, const char* level = "LOG",
             double duration_ms = -1) {
    Record r = Base(pgagent::v1::RECORD_KIND_LOG, age);
    auto* e = r.mutable_log()->add_entries();
    e->set_level(level);
    e->set_pid(static_cast<int32_t>(seq_));
    e->set_message("line " + std::to_string(seq_));
    e->set_statement("UPDATE t SET v = ?");
    if (id != nullptr) e->set_correlation_id(id);
    if (duration_ms >= 0) e->set_duration_ms(duration_ms);
    r.mutable_log()->set_count(1);
    return r;
  }

  // Stores through the CorrelatingBuffer, as shipperd's ingest does.
  void Store(std::vector<Record> records) { ASSERT_TRUE(ingest_.Append(records).ok()); }
  uint64_t Buffered() { return buffer_.Stats()->records; }
  void SettleRemovals() {
    clock_.Advance(Options().remove_delay);
    clock_.Advance(dispatcher_->Step());
  }
  // Runs Step() honouring its waits on the fake clock, at most `steps` times.
  void Run(int steps) {
    for (int i = 0; i < steps; ++i) clock_.Advance(std::max(dispatcher_->Step(), 1ms));
  }
  // Runs for `d` of fake time.
  void RunFor(std::chrono::seconds d) {
    const auto end = clock_.Monotonic() + d;
    while (clock_.Monotonic() < end) {
      clock_.Advance(std::clamp(dispatcher_->Step(), 1ms, 1000ms));
    }
  }
  // The seqs of the records a request body stands for, in order.
  static std::vector<uint64_t> SeqsIn(std::string body) {
    body = body.substr(0, body.find("\"agent\":{"));  // the snapshots, not data.agent
    std::vector<uint64_t> seqs;
    static const std::regex kRecordId("\"record_id\":\"boot:([0-9]+)\"");
    for (std::sregex_iterator it(body.begin(), body.end(), kRecordId), end; it != end; ++it) {
      seqs.push_back(std::stoull((*it)[1]));
    }
    return seqs;
  }
  std::vector<std::string> Bodies() const {
    std::vector<std::string> out;
    for (const auto& r : transport_.requests()) out.push_back(r.body);
    return out;
  }
  static bool Linked(const std::string& body, const std::string& id) {
    return body.find("\"correlation_id\":\"" + id + "\",\"data\"") != std::string::npos;
  }

  FakeClock clock_;
  FakeRecordBuffer buffer_;
  FakeCorrelationStore store_;
  CorrelatingBuffer ingest_;
  FakeTransport transport_;
  InMemoryRequestLog request_log_;
  std::unique_ptr<Dispatcher> dispatcher_;
  uint64_t seq_ = 0;
};

TEST_F(DispatcherTest, LiveSnapshotsOfOneSourceWaitForTheAggregateIntervalAndGoAsOneRequest) {
  Store({System(), System(), System()});
  EXPECT_GT(dispatcher_->Step(), 0ms);  // not due yet
  EXPECT_TRUE(transport_.requests().empty());
  clock_.Advance(15s);
  EXPECT_EQ(dispatcher_->Step(), 0ms);
  ASSERT_EQ(transport_.requests().size(), 1u);
  const HttpRequest& req = transport_.requests()[0];
  EXPECT_EQ(req.headers[0],
            std::make_pair(std::string("Authorization"), std::string("Bearer secret-key")));
  EXPECT_NE(req.body.find("\"project\":\"proj\""), std::string::npos);
  EXPECT_EQ(SeqsIn(req.body), std::vector<uint64_t>({1, 2, 3}));
  SettleRemovals();
  EXPECT_EQ(Buffered(), 0u);
  EXPECT_EQ(dispatcher_->stats().records_delivered, 3u);
  EXPECT_EQ(dispatcher_->stats().coalesced_records, 3u);
}

TEST_F(DispatcherTest, EachSourceGetsOneRequestAndAgentHealthRidesWithTheHostMetrics) {
  // A minute at interval_s = 1: 60 activity, statements and system snapshots, 60 health.
  for (int i = 0; i < 60; ++i) {
    Store({Activity(), Statements(), System(), Health()});
    clock_.Advance(1s);
  }
  RunFor(1s);
  std::map<std::string, int> by_source;
  for (const auto& body : Bodies()) {
    const auto at = body.find("\"source\":\"") + 10;
    ++by_source[body.substr(at, body.find('"', at) - at)];
    EXPECT_EQ(body.find("\"correlation_id\""), std::string::npos);
  }
  // 60 s of records in at most a handful of requests per source (one per aggregate interval).
  EXPECT_LE(by_source["pg_stat_activity"], 4);
  EXPECT_LE(by_source["pg_stat_statements"], 4);
  EXPECT_LE(by_source["system_metrics"], 4);
  EXPECT_EQ(by_source.size(), 3u);
  bool health_inside = false;
  for (const auto& body : Bodies()) {
    if (body.find("\"agent_health\":[") != std::string::npos) {
      health_inside = true;
      EXPECT_NE(body.find("\"snapshots\":["), std::string::npos);
    }
  }
  EXPECT_TRUE(health_inside);
}

TEST_F(DispatcherTest, ATransientFailureRetriesTheSameEnvelopeAndKeepsTheRecords) {
  Store({System(300s)});
  transport_.Answer(503);
  transport_.Fail(UnavailableError("connection refused"));
  Run(3);
  ASSERT_EQ(transport_.requests().size(), 3u);
  EXPECT_EQ(transport_.requests()[0].body, transport_.requests()[2].body);
  SettleRemovals();
  EXPECT_EQ(Buffered(), 0u);
  EXPECT_EQ(dispatcher_->stats().requests_failed, 2u);
}

TEST_F(DispatcherTest, AnOpenBreakerProbesAtLeastEveryMaximumCooldownAndClosesAtOnce) {
  Store({System(300s)});
  transport_.set_fallback_status(500);
  RunFor(600s);  // ten minutes of a failing listener
  EXPECT_EQ(dispatcher_->breaker_state(), BreakerState::kOpen);
  const size_t failed = transport_.requests().size();
  // 5 to trip, then probes after 5, 10, 20 s and every 30 s: about 2 requests a minute.
  EXPECT_GE(failed, 5u + 18u);
  EXPECT_LE(failed, 5u + 23u);
  transport_.set_fallback_status(200);
  const auto back = clock_.Monotonic();
  while (dispatcher_->stats().requests_ok == 0) clock_.Advance(std::max(dispatcher_->Step(), 1ms));
  EXPECT_LE(clock_.Monotonic() - back, 31s);  // within one maximum cooldown
  EXPECT_EQ(dispatcher_->breaker_state(), BreakerState::kClosed);
}

TEST_F(DispatcherTest, TheBreakerClosingIsLoggedWithHowLongTheOutageLasted) {
  std::vector<std::string> lines;
  log::SetSinkForTest([&](const std::string& line) {
    if (line.find("delivery.breaker_closed") != std::string::npos) lines.push_back(line);
  });
  Store({System(300s)});
  for (int i = 0; i < 5; ++i) transport_.Fail(UnavailableError("connection reset"));
  transport_.Fail(UnavailableError("connection reset"));  // the first probe fails too
  RunFor(60s);
  log::SetSinkForTest(nullptr);
  ASSERT_EQ(lines.size(), 1u);
  const auto at = lines[0].find("\"open_s\":");
  ASSERT_NE(at, std::string::npos) << lines[0];
  const double open_s = std::stod(lines[0].substr(at + 9));
  EXPECT_GE(open_s, 14.0);  // opened at the 5th failure; probes after 5 s (failed) and 10 s
  EXPECT_LE(open_s, 16.0) << lines[0];
}

TEST_F(DispatcherTest, Honours429RetryAfterWithoutTrippingTheBreakerAndAdaptsTheLimit) {
  Store({System(300s), Statements(300s)});
  transport_.Answer(429, "{}", 7.0);
  EXPECT_EQ(dispatcher_->Step(), 7000ms);
  EXPECT_EQ(dispatcher_->breaker_state(), BreakerState::kClosed);
  // Refused after one request in the window: someone else uses this IP's budget.
  EXPECT_EQ(dispatcher_->stats().effective_limit, RequestBudget::kMinAdaptedLimit);
  clock_.Advance(6999ms);
  EXPECT_GT(dispatcher_->Step(), 0ms);  // still waiting: nothing sent
  EXPECT_EQ(transport_.requests().size(), 1u);
  clock_.Advance(1ms);
  EXPECT_EQ(dispatcher_->Step(), 0ms);
  EXPECT_EQ(transport_.requests().size(), 2u);
  EXPECT_EQ(dispatcher_->stats().requests_429, 1u);
  // The limit grows back by one per minute without a 429.
  clock_.Advance(61s);
  dispatcher_->Step();
  EXPECT_EQ(dispatcher_->stats().effective_limit, RequestBudget::kMinAdaptedLimit + 1);
}

TEST_F(DispatcherTest, RetryAfterIsBoundedByTheBreakersMaximumCooldown) {
  Store({System(300s)});
  transport_.Answer(429, "{}", 86400.0);
  EXPECT_EQ(dispatcher_->Step(), 30000ms);
  EXPECT_EQ(dispatcher_->stats().retry_after_clamped, 1u);
}

TEST_F(DispatcherTest, A400DeadLettersEveryRecordOfACoalescedRequestOnce) {
  Store({Log(300s), Log(300s), Log(300s), Log(300s)});
  transport_.Answer(400, "{\"error\":\"invalid source\"}");
  Run(2);
  SettleRemovals();
  EXPECT_EQ(Buffered(), 0u);
  auto letters = buffer_.ListDeadLetters(10);
  ASSERT_TRUE(letters.ok());
  ASSERT_EQ(letters->size(), 1u);
  EXPECT_EQ((*letters)[0].http_status, 400);
  ASSERT_EQ((*letters)[0].records.size(), 4u);
  EXPECT_EQ(transport_.requests().size(), 1u);  // never retried
  // Requeue restores all four, once.
  ASSERT_EQ(*buffer_.RequeueDeadLetters({(*letters)[0].id}), 1u);
  EXPECT_EQ(Buffered(), 4u);
  Run(2);
  SettleRemovals();
  EXPECT_EQ(Buffered(), 0u);
  EXPECT_EQ(SeqsIn(transport_.requests().back().body).size(), 0u);  // logs: record ids in agent
  EXPECT_NE(transport_.requests().back().body.find("\"count\":4"), std::string::npos);
}

TEST_F(DispatcherTest, A401KeepsEverythingAndOpensTheBreaker) {
  Store({System(300s)});
  transport_.Answer(401);
  dispatcher_->Step();
  EXPECT_EQ(dispatcher_->breaker_state(), BreakerState::kOpen);
  EXPECT_EQ(Buffered(), 1u);
  EXPECT_EQ(buffer_.ListDeadLetters(10)->size(), 0u);
  EXPECT_EQ(dispatcher_->stats().auth_failures, 1u);
}

TEST_F(DispatcherTest, A404IsAWrongUrlThatKeepsTheRecordsAndOpensTheBreaker) {
  Store({System(300s)});
  transport_.Answer(404);
  transport_.Answer(405);
  Run(1);
  EXPECT_EQ(dispatcher_->breaker_state(), BreakerState::kOpen);
  EXPECT_EQ(Buffered(), 1u);
  EXPECT_EQ(buffer_.ListDeadLetters(10)->size(), 0u);
  EXPECT_EQ(dispatcher_->stats().config_errors, 1u);
  RunFor(60s);
  SettleRemovals();
  EXPECT_EQ(Buffered(), 0u);  // delivered once the listener answered 200
}

TEST_F(DispatcherTest, A413CoalescesLessAndStillDeliversEveryRecord) {
  std::vector<Record> records;
  for (int i = 0; i < 10; ++i) records.push_back(System(300s));
  Store(records);
  transport_.Answer(413);
  Run(20);
  SettleRemovals();
  EXPECT_EQ(Buffered(), 0u);
  EXPECT_EQ(dispatcher_->stats().split_413, 1u);
  EXPECT_EQ(buffer_.ListDeadLetters(10)->size(), 0u);
  std::set<uint64_t> delivered;
  for (size_t i = 1; i < transport_.requests().size(); ++i) {
    for (uint64_t s : SeqsIn(transport_.requests()[i].body)) delivered.insert(s);
  }
  EXPECT_EQ(delivered.size(), 10u);
}

TEST_F(DispatcherTest, A413ForASingleSmallRecordDeadLettersIt) {
  Store({System(300s)});
  transport_.Answer(413);
  Run(1);
  SettleRemovals();
  EXPECT_EQ(Buffered(), 0u);
  EXPECT_EQ(buffer_.ListDeadLetters(10)->size(), 1u);
}

TEST_F(DispatcherTest, ACorrelationRowCarriesTheRequestsSessionsAndLogLinesInOneRequest) {
  Store({Activity(0s, kIdA, 900)});
  clock_.Advance(1s);
  Store({Log(0s, kIdA, "LOG", 950), Log(0s, nullptr)});
  Run(1);
  EXPECT_TRUE(transport_.requests().empty());  // still settling: merges may follow
  clock_.Advance(2s);
  Run(1);
  ASSERT_EQ(transport_.requests().size(), 1u);
  const std::string& body = transport_.requests()[0].body;
  EXPECT_TRUE(Linked(body, kIdA));
  EXPECT_NE(body.find("\"source\":\"pg_log\""), std::string::npos);
  EXPECT_NE(body.find("\"query\":\"UPDATE t SET v = ?\""), std::string::npos);
  EXPECT_NE(body.find("\"duration_ms\":950.000"), std::string::npos);
  EXPECT_NE(body.find("\"sessions\":["), std::string::npos);
  EXPECT_NE(body.find("\"entries\":["), std::string::npos);
  EXPECT_EQ(store_.Stats()->pending, 0u);
  EXPECT_EQ(store_.Stats()->linked, 1u);
  EXPECT_EQ(dispatcher_->stats().correlation_rows_sent, 1u);
}

TEST_F(DispatcherTest, FailedStatementsAreLinkedBeforeSlowOnesAndLiveBeforeBacklog) {
  Store({Log(600s, kIdB, "ERROR")});  // failed, but from the backlog
  Store({Activity(0s, kIdC, 50), Log(0s, kIdA, "ERROR")});  // live: a fast one, a failed one
  clock_.Advance(25s);
  for (int i = 0; i < 3; ++i) dispatcher_->Step();
  std::vector<std::string> linked;
  for (const auto& body : Bodies()) {
    for (const char* id : {kIdA, kIdB, kIdC}) {
      if (Linked(body, id)) linked.push_back(id);
    }
  }
  ASSERT_GE(linked.size(), 2u);
  EXPECT_EQ(linked[0], kIdA);  // live and failed
  EXPECT_EQ(linked[1], kIdC);  // live, fast
}

TEST_F(DispatcherTest, ABacklogDelaysCorrelationRowsButNeverDropsThem) {
  DispatcherOptions o = Options();
  o.budget.per_minute = 10;
  Rebuild(o);
  std::vector<Record> records;
  std::vector<std::string> ids;
  for (int i = 0; i < 40; ++i) {
    char id[40];
    std::snprintf(id, sizeof(id), "0b7c8c1e-%04d-4a4a-8b8b-000000000000", i);
    ids.push_back(id);
    records.push_back(Log(900s, id, "ERROR"));
  }
  Store(records);
  RunFor(600s);
  std::set<std::string> linked;
  for (const auto& body : Bodies()) {
    for (const auto& id : ids) {
      if (Linked(body, id)) linked.insert(id);
    }
  }
  EXPECT_EQ(linked.size(), ids.size());
  EXPECT_EQ(store_.Stats()->evicted, 0u);
}

TEST_F(DispatcherTest, TheBudgetHoldsInEverySixtySecondSpanAndEachKindGetsItsShare) {
  std::vector<Record> backlog;
  for (int i = 0; i < 3000; ++i) backlog.push_back(System(3600s));
  Store(backlog);
  std::deque<std::chrono::steady_clock::time_point> window;
  size_t worst = 0, seen = 0, correlated = 0;
  int n = 0;
  const auto end = clock_.Monotonic() + 1800s;
  auto next_tick = clock_.Monotonic();
  while (clock_.Monotonic() < end) {
    if (clock_.Monotonic() >= next_tick) {  // live data and a tagged request every 2 s
      char id[40];
      std::snprintf(id, sizeof(id), "0b7c8c1e-%04d-4a4a-8b8b-000000000000", ++n % 10000);
      Store({Activity(0s, id), Statements(), System(), Log(0s, id, "ERROR")});
      next_tick += 2s;
    }
    const auto wait = dispatcher_->Step();
    for (; seen < transport_.requests().size(); ++seen) {
      window.push_back(clock_.Monotonic());
      if (transport_.requests()[seen].body.find("\"correlation_id\":\"0b7c") < 100)
        ++correlated;
    }
    while (!window.empty() && clock_.Monotonic() - window.front() >= 60s) window.pop_front();
    worst = std::max(worst, window.size());
    clock_.Advance(std::clamp(wait, 1ms, 1000ms));
  }
  EXPECT_LE(worst, 80u);
  EXPECT_GT(correlated, 0u);
  const auto s = dispatcher_->stats();
  EXPECT_GT(s.requests_by_class[static_cast<size_t>(RequestClass::kLive)], 0u);
  EXPECT_GT(s.requests_by_class[static_cast<size_t>(RequestClass::kBacklog)], 0u);
  // 30 tagged requests a minute fit the correlation share (40): all of them were linked.
  EXPECT_EQ(store_.Stats()->evicted, 0u);
  EXPECT_LE(store_.Stats()->pending, 20u);
  EXPECT_EQ(Buffered() < 3000u, true);  // the backlog drains meanwhile
}

TEST_F(DispatcherTest, LiveSnapshotsGoBeforeTheBacklogButLogsKeepTheirOrder) {
  Store({System(3600s), Log(3590s), System(3580s)});
  Store({Log(10s), Activity(60s), System(50s)});
  RunFor(20s);
  const auto bodies = Bodies();
  ASSERT_GE(bodies.size(), 4u);
  // First the live snapshots (activity 5, then system 6), then the backlog from its head.
  EXPECT_EQ(SeqsIn(bodies[0]), std::vector<uint64_t>({5}));
  EXPECT_EQ(SeqsIn(bodies[1]), std::vector<uint64_t>({6}));
  EXPECT_EQ(SeqsIn(bodies[2]), std::vector<uint64_t>({1, 3}));  // the head's source, coalesced
  EXPECT_NE(bodies[3].find("\"source\":\"pg_log\""), std::string::npos);
  EXPECT_EQ(dispatcher_->stats().live_first_records, 2u);
}

TEST_F(DispatcherTest, WithLiveFirstOffTheBacklogGoesFirst) {
  DispatcherOptions o = Options();
  o.live_first = false;
  Rebuild(o);
  Store({System(3600s), System(50s)});
  Run(1);
  ASSERT_EQ(transport_.requests().size(), 1u);
  EXPECT_EQ(SeqsIn(transport_.requests()[0].body), std::vector<uint64_t>({1, 2}));
  EXPECT_EQ(dispatcher_->stats().live_first_records, 0u);
}

// interval_s = 1 through an hour-long outage: 14,400 snapshots and 3,600 log batches wait.
// When the listener is back, live data flows within a minute and the backlog is gone within
// ten minutes, in every 60 s span within the budget.
TEST_F(DispatcherTest, AnHourLongOutageDrainsWithinTenMinutesAtTheRealLimit) {
  for (int s = 3600; s > 0; --s) {
    Store({Activity(std::chrono::seconds(s)), Statements(std::chrono::seconds(s)),
           System(std::chrono::seconds(s)), Health(std::chrono::seconds(s)),
           Log(std::chrono::seconds(s))});
  }
  std::deque<std::chrono::steady_clock::time_point> window;
  size_t worst = 0, seen = 0;
  const auto back = clock_.Monotonic();
  std::optional<std::chrono::steady_clock::duration> drained;
  auto next_live = back;
  while (clock_.Monotonic() - back < 900s) {
    if (clock_.Monotonic() >= next_live) {  // collectord goes on at interval_s = 1
      Store({Activity(), Statements(), System(), Log()});
      next_live += 1s;
    }
    const auto wait = dispatcher_->Step();
    for (; seen < transport_.requests().size(); ++seen) window.push_back(clock_.Monotonic());
    while (!window.empty() && clock_.Monotonic() - window.front() >= 60s) window.pop_front();
    worst = std::max(worst, window.size());
    if (!drained && dispatcher_->stats().records_delivered >= 18000) {
      drained = clock_.Monotonic() - back;  // every outage record delivered
    }
    clock_.Advance(std::clamp(wait, 1ms, 1000ms));
  }
  EXPECT_LE(worst, 80u);
  const auto st = dispatcher_->stats();
  ASSERT_TRUE(drained.has_value()) << Buffered() << " left; requests " << st.requests_sent
                                   << " live " << st.requests_by_class[1] << " backlog "
                                   << st.requests_by_class[2] << " delivered "
                                   << st.records_delivered;
  EXPECT_LE(*drained, 600s);
  EXPECT_LE(Buffered(), 4u * 20);  // only recent live records are left
}

TEST_F(DispatcherTest, TheRequestLogCarriesTheBudgetAcrossARestart) {
  std::vector<Record> backlog;
  for (int i = 0; i < 200; ++i) {
    backlog.push_back(System(3600s));
    backlog.back().mutable_system()->add_errors(std::string(3000, 'e'));  // one per request
  }
  DispatcherOptions o = Options();
  o.max_envelope_bytes = 4096;
  Rebuild(o);
  Store(backlog);
  RunFor(20s);
  const size_t before = transport_.requests().size();
  // The backlog alone borrows all but the idle kinds' reserves.
  EXPECT_EQ(before, 80u - 2 * RequestBudget::kIdleReserve);
  EXPECT_EQ(request_log_.sent.size(), before);
  Rebuild(o);  // a restart within the minute
  RunFor(20s);
  EXPECT_EQ(transport_.requests().size(), before);  // nothing more until the window moves
  RunFor(30s);
  EXPECT_GT(transport_.requests().size(), before);
}

TEST_F(DispatcherTest, DeliveredRecordsAreRemovedInOneTransactionPerBatch) {
  Store({System(), Activity(), Health()});
  clock_.Advance(15s);
  Run(2);
  EXPECT_EQ(transport_.requests().size(), 2u);  // activity; system with health
  EXPECT_EQ(Buffered(), 3u);                    // delivered, removal pending
  SettleRemovals();
  EXPECT_EQ(Buffered(), 0u);
  EXPECT_EQ(buffer_.remove_calls(), 1u);  // one transaction (one sync) for the three
}

TEST_F(DispatcherTest, RecordsDeliveredAndAwaitingRemovalAreNotReadAgain) {
  DispatcherOptions o = Options();
  o.remove_batch = 100000;
  o.remove_delay = std::chrono::hours(1);
  Rebuild(o);
  Store({System(300s), Log(300s), Statements(300s), Log(300s), Activity(300s), Log(300s)});
  Run(8);
  EXPECT_EQ(transport_.requests().size(), 4u);  // system, pg_log, statements, activity
  EXPECT_EQ(Buffered(), 6u);                    // all delivered, removal pending
  const uint64_t peeked = buffer_.peeked();
  Store({Log(300s)});
  Run(2);
  EXPECT_EQ(transport_.requests().size(), 5u);
  EXPECT_EQ(buffer_.peeked() - peeked, 1u);  // only the new record was read
}

TEST_F(DispatcherTest, PendingRemovalsAreFlushedWhenTheDispatcherIsDestroyed) {
  Store({System(300s), Statements(300s)});
  EXPECT_EQ(dispatcher_->Step(), 0ms);
  EXPECT_EQ(Buffered(), 2u);  // one delivered, its removal deferred
  dispatcher_.reset();
  EXPECT_EQ(Buffered(), 1u);
}

TEST_F(DispatcherTest, TheApiKeyNeverAppearsInStats) {
  Store({System(300s)});
  transport_.Answer(401);
  dispatcher_->Step();
  EXPECT_EQ(dispatcher_->stats().last_error.find("secret-key"), std::string::npos);
}

}  // namespace
}  // namespace pgagent
