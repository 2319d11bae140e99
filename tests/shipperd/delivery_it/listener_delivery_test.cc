// Delivery against the real HTTPS test listener (tests/harness/test_listener.py) with the
// real CurlTransport and a real LMDB buffer: the listener contract end to end.
#include <google/protobuf/struct.pb.h>
#include <gtest/gtest.h>

#include <random>
#include <thread>

#include "shared/buffer/lmdb_buffer.h"
#include "shared/buffer/lmdb_correlation_store.h"
#include "shipperd/delivery/correlating_buffer.h"
#include "shared/listener/curl_transport.h"
#include "shipperd/delivery/dispatcher.h"
#include "tests/harness/subprocess.h"
#include "tests/harness/test_listener.h"

namespace pgagent {
namespace {

using namespace std::chrono_literals;
using google::protobuf::Struct;
using pgagent::v1::Record;

constexpr char kCorrelation[] = "6f1c2d3e-4a5b-4c6d-8e9f-0a1b2c3d4e5f";

Record Base(pgagent::v1::RecordKind kind, uint64_t seq) {
  Record r;
  r.mutable_id()->set_boot_id("boot-it");
  r.mutable_id()->set_seq(seq);
  r.set_kind(kind);
  r.mutable_collected_at()->set_seconds(1795773600);
  r.set_host("db-it");
  return r;
}

Record Activity(uint64_t seq) {
  Record r = Base(pgagent::v1::RECORD_KIND_ACTIVITY, seq);
  auto* s = r.mutable_activity()->add_sessions();
  s->set_pid(4242);
  s->set_state("active");
  s->set_query("SELECT ? /* correlation:6f1c2d3e-4a5b-4c6d-8e9f-0a1b2c3d4e5f */");
  s->set_correlation_id(kCorrelation);
  r.mutable_activity()->add_sessions()->set_pid(4243);
  r.mutable_activity()->set_count(2);
  r.mutable_activity()->set_with_correlation(1);
  return r;
}

Record System(uint64_t seq) {
  Record r = Base(pgagent::v1::RECORD_KIND_SYSTEM, seq);
  r.mutable_system()->mutable_cpu()->set_percent(42.5);
  return r;
}

class ListenerDeliveryTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto listener = testing::TestListener::Start();
    ASSERT_TRUE(listener.ok()) << listener.status().ToString();
    listener_ = listener->release();
  }
  static void TearDownTestSuite() {
    delete listener_;
    listener_ = nullptr;
  }

  void SetUp() override {
    ASSERT_NE(listener_, nullptr);
    ASSERT_TRUE(listener_->Reset().ok());
    auto dir = testing::MakeTempDir("pgagent-delivery-");
    ASSERT_TRUE(dir.ok());
    dir_ = *dir;
    LmdbBufferOptions bo;
    bo.path = dir_ + "/buffer";
    auto buffer = LmdbBuffer::Open(bo);
    ASSERT_TRUE(buffer.ok()) << buffer.status().ToString();
    buffer_ = std::move(*buffer);
    LmdbCorrelationStoreOptions co;
    co.path = dir_ + "/buffer/correlations";
    auto store = LmdbCorrelationStore::Open(co);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(*store);
    ingest_ = std::make_unique<CorrelatingBuffer>(*buffer_, *store_);
    MakeDispatcher(listener_->ca_file(), listener_->options().api_key);
  }
  void TearDown() override {
    if (listener_) (void)listener_->ClearFailures();
    dispatcher_.reset();
    transport_.reset();
    ingest_.reset();
    store_.reset();
    buffer_.reset();
    testing::RemoveTree(dir_);
  }

  void MakeDispatcher(const std::string& ca_file, const std::string& api_key,
                      std::chrono::milliseconds timeout = 3000ms) {
    CurlTransportOptions to;
    to.ca_file = ca_file;
    to.connect_timeout = 1000ms;
    to.total_timeout = timeout;
    auto transport = CurlTransport::Create(to);
    ASSERT_TRUE(transport.ok());
    transport_ = std::move(*transport);
    DispatcherOptions o;
    o.url = listener_->ingest_url();
    o.api_key = api_key;
    o.project_id = "configured-project";
    o.breaker.cooldown = 1000ms;
    o.breaker.max_cooldown = 2000ms;
    o.breaker.failure_threshold = 3;
    dispatcher_.reset();
    dispatcher_ = std::make_unique<Dispatcher>(o, *buffer_, store_.get(), *transport_,
                                               SystemClock::Instance(), [] { return 0.5; });
  }

  // Stores as shipperd's ingest does: correlation rows first, then the records.
  void Store(std::vector<Record> records) { ASSERT_TRUE(ingest_->Append(records).ok()); }
  uint64_t Buffered() { return buffer_->Stats()->records; }

  // Runs the dispatcher in real time until `done` or the deadline.
  bool RunUntil(const std::function<bool()>& done, std::chrono::milliseconds deadline) {
    const auto end = std::chrono::steady_clock::now() + deadline;
    while (std::chrono::steady_clock::now() < end) {
      if (done()) return true;
      auto wait = dispatcher_->Step();
      std::this_thread::sleep_for(std::min(wait, std::chrono::milliseconds(50)));
    }
    return done();
  }

  static testing::TestListener* listener_;
  std::string dir_;
  std::unique_ptr<LmdbBuffer> buffer_;
  std::unique_ptr<LmdbCorrelationStore> store_;
  std::unique_ptr<CorrelatingBuffer> ingest_;
  std::unique_ptr<CurlTransport> transport_;
  std::unique_ptr<Dispatcher> dispatcher_;
};

testing::TestListener* ListenerDeliveryTest::listener_ = nullptr;

const google::protobuf::Value& Field(const Struct& s, const std::string& key) {
  static const google::protobuf::Value kNull;
  auto it = s.fields().find(key);
  return it == s.fields().end() ? kNull : it->second;
}

TEST_F(ListenerDeliveryTest, EveryKindIsAcceptedAndAPhpRequestIsLinkedByOneRow) {
  Record log = Base(pgagent::v1::RECORD_KIND_LOG, 3);
  auto* e = log.mutable_log()->add_entries();
  e->set_level("LOG");
  e->set_message("duration: 12.5 ms  statement: SELECT ?");
  e->set_statement("SELECT ?");
  e->set_duration_ms(12.5);
  e->set_correlation_id(kCorrelation);
  log.mutable_log()->set_count(1);
  Record statements = Base(pgagent::v1::RECORD_KIND_STATEMENTS, 4);
  statements.mutable_statements()->add_statements()->set_queryid(-123456789012345678LL);
  Store({Activity(1), System(2), log, statements});
  ASSERT_TRUE(RunUntil(
      [&] { return Buffered() == 0 && dispatcher_->stats().correlation_rows_sent == 1; }, 40s))
      << listener_->LogTail();
  auto rows = listener_->StoredRows();
  ASSERT_TRUE(rows.ok());
  // One row per source, and ONE correlation row for the PHP request (its session and its
  // log line together).
  ASSERT_EQ(rows->values_size(), 5);
  std::map<std::string, int> by_source;
  int correlated = 0;
  for (const auto& v : rows->values()) {
    const Struct& row = v.struct_value();
    ++by_source[Field(row, "source").string_value()];
    EXPECT_EQ(Field(row, "project").string_value(), listener_->options().project);
    EXPECT_EQ(Field(row, "body_project").string_value(), "configured-project");
    if (Field(row, "correlation_id").string_value() != kCorrelation) continue;
    ++correlated;
    const Struct& data = Field(row, "data").struct_value();
    EXPECT_EQ(Field(data, "query").string_value(), "SELECT ?");
    EXPECT_DOUBLE_EQ(Field(data, "duration_ms").number_value(), 12.5);
    EXPECT_EQ(Field(data, "sessions").list_value().values_size(), 1);
    EXPECT_EQ(Field(data, "entries").list_value().values_size(), 1);
  }
  EXPECT_EQ(by_source["pg_stat_activity"], 1);
  EXPECT_EQ(by_source["pg_log"], 2);
  EXPECT_EQ(by_source["system_metrics"], 1);
  EXPECT_EQ(by_source["pg_stat_statements"], 1);
  EXPECT_EQ(correlated, 1);
  EXPECT_EQ(listener_->CountWithStatus(400).value_or(-1), 0);
  EXPECT_EQ(listener_->CountWithStatus(429).value_or(-1), 0);
}

TEST_F(ListenerDeliveryTest, A400DeadLettersEveryRecordOfTheRequestAndIsNeverRetried) {
  ASSERT_TRUE(listener_->FailNext("status", 1, 400).ok());
  Store({System(1), System(2)});
  ASSERT_TRUE(RunUntil([&] { return Buffered() == 0; }, 20s));
  auto letters = buffer_->ListDeadLetters(10);
  ASSERT_EQ(letters->size(), 1u);
  EXPECT_EQ(letters->front().records.size(), 2u);  // both records of the coalesced request
  EXPECT_EQ(listener_->StoredCount().value_or(-1), 0);
  EXPECT_EQ(dispatcher_->stats().dead_lettered, 1u);
}

TEST_F(ListenerDeliveryTest, A401KeepsTheDataAndOpensTheBreaker) {
  MakeDispatcher(listener_->ca_file(), "wrong-key");
  Store({System(1)});
  RunUntil([&] { return dispatcher_->stats().auth_failures > 0; }, 10s);
  EXPECT_EQ(dispatcher_->breaker_state(), BreakerState::kOpen);
  EXPECT_EQ(Buffered(), 1u);
  EXPECT_EQ(listener_->CountWithStatus(401).value_or(-1), 1);
  EXPECT_EQ(buffer_->ListDeadLetters(10)->size(), 0u);
}

TEST_F(ListenerDeliveryTest, A5xxBurstTripsTheBreakerAndRequestsStayBounded) {
  ASSERT_TRUE(listener_->FailNext("status", -1, 503).ok());
  Store({System(1)});
  RunUntil([] { return false; }, 4000ms);
  // 3 failures trip it; then one probe per cooldown (1 s, 2 s, 2 s): at most 3 more in 4 s.
  const int requests = listener_->CountWithStatus(503).value_or(-1);
  EXPECT_GE(requests, 3);
  EXPECT_LE(requests, 6);
  EXPECT_EQ(Buffered(), 1u);
  ASSERT_TRUE(listener_->ClearFailures().ok());
  ASSERT_TRUE(RunUntil([&] { return Buffered() == 0; }, 10s));
}

TEST_F(ListenerDeliveryTest, RetryAfterIsHonouredBeforeTheNextRequest) {
  ASSERT_TRUE(listener_->FailNext("status", 1, 429, 0, /*retry_after_s=*/2).ok());
  Store({System(1)});
  const auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(RunUntil([&] { return Buffered() == 0; }, 15s));
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_GE(elapsed, 2.0);
  EXPECT_EQ(dispatcher_->stats().requests_429, 1u);
  EXPECT_EQ(dispatcher_->breaker_state(), BreakerState::kClosed);
}

TEST_F(ListenerDeliveryTest, AHungRequestTimesOutAndIsRetried) {
  MakeDispatcher(listener_->ca_file(), listener_->options().api_key, 1000ms);
  ASSERT_TRUE(listener_->FailNext("hang", 1, 500, /*seconds=*/5).ok());
  Store({System(1)});
  ASSERT_TRUE(RunUntil([&] { return Buffered() == 0; }, 15s));
  EXPECT_GE(dispatcher_->stats().requests_failed, 1u);
  EXPECT_NE(dispatcher_->stats().last_error.find("DEADLINE_EXCEEDED"), std::string::npos)
      << dispatcher_->stats().last_error;
}

TEST_F(ListenerDeliveryTest, AConnectionResetMidRequestIsRetried) {
  ASSERT_TRUE(listener_->FailNext("reset", 1).ok());
  Store({System(1)});
  ASSERT_TRUE(RunUntil([&] { return Buffered() == 0; }, 15s));
  EXPECT_EQ(dispatcher_->stats().requests_failed, 1u);
  EXPECT_EQ(listener_->StoredCount().value_or(-1), 1);
}

TEST_F(ListenerDeliveryTest, ACertificateFromAnUnknownAuthorityIsRefused) {
  MakeDispatcher(listener_->wrong_ca_file(), listener_->options().api_key);
  Store({System(1)});
  RunUntil([&] { return dispatcher_->stats().requests_failed > 0; }, 10s);
  EXPECT_NE(dispatcher_->stats().last_error.find("PERMISSION_DENIED"), std::string::npos)
      << dispatcher_->stats().last_error;
  EXPECT_EQ(dispatcher_->breaker_state(), BreakerState::kOpen);
  EXPECT_EQ(Buffered(), 1u);
  EXPECT_EQ(listener_->StoredCount().value_or(-1), 0);
}

TEST_F(ListenerDeliveryTest, TheSystemCaStoreDoesNotTrustTheTestCertificate) {
  // No ca_file: verification uses the system store, which must refuse the test CA.
  MakeDispatcher("", listener_->options().api_key);
  Store({System(1)});
  RunUntil([&] { return dispatcher_->stats().requests_failed > 0; }, 10s);
  EXPECT_EQ(Buffered(), 1u);
  EXPECT_EQ(listener_->StoredCount().value_or(-1), 0);
}

}  // namespace
}  // namespace pgagent
