#include "shared/listener/envelope_encoder.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <set>
#include <string>

namespace pgagent {
namespace {

using google::protobuf::Struct;
using google::protobuf::Value;
using pgagent::v1::CorrelationRow;
using pgagent::v1::Record;

constexpr char kIdA[] = "0b7c8c1e-1111-4a4a-8b8b-000000000001";
constexpr char kIdB[] = "0b7c8c1e-2222-4a4a-8b8b-000000000002";

Struct Parse(const std::string& json) {
  Struct s;
  auto status = google::protobuf::util::JsonStringToMessage(json, &s);
  EXPECT_TRUE(status.ok()) << status.ToString() << "\n" << json;
  return s;
}

const Value& Get(const Struct& s, const std::string& key) {
  static const Value kNull;
  auto it = s.fields().find(key);
  return it == s.fields().end() ? kNull : it->second;
}

Record Base(pgagent::v1::RecordKind kind) {
  Record r;
  r.mutable_id()->set_boot_id("boot-1");
  r.mutable_id()->set_seq(42);
  r.set_kind(kind);
  r.mutable_collected_at()->set_seconds(1795773600);
  r.mutable_collected_at()->set_nanos(250000000);
  r.set_project_id("ignored-here");
  r.set_host("db1");
  return r;
}

Record Activity() {
  Record r = Base(pgagent::v1::RECORD_KIND_ACTIVITY);
  auto* a = r.mutable_activity();
  auto add = [&](int pid, const char* id) {
    auto* s = a->add_sessions();
    s->set_pid(pid);
    s->set_state("active");
    s->set_query("SELECT ?");
    s->set_query_id(-8781398127364519123LL);
    if (id) s->set_correlation_id(id);
  };
  add(101, kIdA);
  add(102, nullptr);
  add(103, kIdB);
  add(104, kIdA);
  a->set_count(4);
  a->set_with_correlation(3);
  auto* w = a->add_lock_waits();
  w->set_blocked_pid(104);
  w->add_blocking_pids(102);
  w->set_root_blocker_pid(102);
  w->set_chain_depth(1);
  w->set_blocked_correlation_id(kIdA);
  return r;
}

Record Logs(std::initializer_list<std::pair<const char*, double>> entries) {
  Record r = Base(pgagent::v1::RECORD_KIND_LOG);
  auto* b = r.mutable_log();
  b->set_format("stderr");
  for (const auto& [id, duration] : entries) {
    auto* e = b->add_entries();
    e->set_level(duration > 0 ? "LOG" : "ERROR");
    e->set_message("m");
    if (id) e->set_correlation_id(id);
    if (duration > 0) e->set_duration_ms(duration);
  }
  b->set_count(static_cast<uint32_t>(b->entries_size()));
  return r;
}

class EnvelopeEncoderTest : public ::testing::Test {
 protected:
  // One envelope for one record (most tests).
  std::string One(const Record& r) {
    auto result = encoder_.EncodeAggregate({&r});
    EXPECT_TRUE(result.ok()) << result.status().ToString();
    if (!result.ok() || result->empty()) return "";
    EXPECT_EQ(result->size(), 1u);
    return result->front().body;
  }
  EnvelopeEncoder encoder_{EncoderOptions{"proj-7", 1024 * 1024, "9.9.9"}};
};

TEST_F(EnvelopeEncoderTest, EnvelopeHasOnlyTheContractsTopLevelKeys) {
  Record empty = Base(pgagent::v1::RECORD_KIND_SYSTEM);
  EXPECT_FALSE(encoder_.EncodeAggregate({&empty}).ok());  // no payload: refused
  Record r = Base(pgagent::v1::RECORD_KIND_SYSTEM);
  r.mutable_system()->mutable_cpu()->set_percent(12.5);
  r.mutable_system()->mutable_disk_io()->set_read_bytes(9007199254740993ULL);
  const std::string body = One(r);
  Struct env = Parse(body);
  std::set<std::string> keys;
  for (const auto& [k, v] : env.fields()) keys.insert(k);
  EXPECT_EQ(keys, (std::set<std::string>{"project", "timestamp", "source", "data"}));
  EXPECT_EQ(Get(env, "project").string_value(), "proj-7");
  EXPECT_EQ(Get(env, "source").string_value(), "system_metrics");
  EXPECT_DOUBLE_EQ(Get(env, "timestamp").number_value(), 1795773600.25);
  const Struct& data = Get(env, "data").struct_value();
  const auto& snapshots = Get(data, "snapshots").list_value();
  ASSERT_EQ(snapshots.values_size(), 1);
  const Struct& snapshot = snapshots.values(0).struct_value();
  EXPECT_DOUBLE_EQ(Get(Get(snapshot, "cpu").struct_value(), "percent").number_value(), 12.5);
  EXPECT_EQ(Get(snapshot, "record_id").string_value(), "boot-1:42");
  EXPECT_EQ(Get(snapshot, "collected_at").string_value(), "2026-11-27T10:00:00.250Z");
  // Counters stay exact JSON numbers.
  EXPECT_NE(body.find("\"read_bytes\":9007199254740993"), std::string::npos) << body;
  const Struct& agent = Get(data, "agent").struct_value();
  EXPECT_EQ(Get(agent, "host").string_value(), "db1");
  EXPECT_EQ(Get(agent, "version").string_value(), "9.9.9");
  EXPECT_EQ(Get(agent, "record_id").string_value(), "boot-1:42");
}

TEST_F(EnvelopeEncoderTest, ACheckEnvelopeHasTheSameHeadAsARecordsEnvelope) {
  google::protobuf::Timestamp at;
  at.set_seconds(1795773600);
  at.set_nanos(250000000);
  const Envelope check = encoder_.EncodeCheck("pgagentctl test-connection", "db1", at);
  EXPECT_EQ(check.source, "system_metrics");
  EXPECT_FALSE(check.correlation_id.has_value());
  Record r = Base(pgagent::v1::RECORD_KIND_SYSTEM);
  r.mutable_system()->mutable_cpu()->set_percent(1);
  const std::string record_body = One(r);
  // The bytes up to "data" (project, timestamp with milliseconds, source) are the same.
  const std::string head = record_body.substr(0, record_body.find(",\"data\":"));
  EXPECT_EQ(check.body.substr(0, head.size()), head);
  EXPECT_NE(head.find("\"timestamp\":1795773600.250"), std::string::npos) << head;
  Struct env = Parse(check.body);
  const Struct& agent = Get(Get(env, "data").struct_value(), "agent").struct_value();
  EXPECT_EQ(Get(agent, "check").string_value(), "pgagentctl test-connection");
  EXPECT_EQ(Get(agent, "host").string_value(), "db1");
  EXPECT_EQ(Get(agent, "version").string_value(), "9.9.9");
  EXPECT_EQ(Get(agent, "collected_at").string_value(), "2026-11-27T10:00:00.250Z");
}

TEST(EncoderOptionsForTest, TakesProjectAndEnvelopeLimitFromTheListenerSection) {
  ListenerConfig listener;
  listener.project_id = "shop";
  listener.max_envelope_bytes = 65536;
  const EncoderOptions options = EncoderOptionsFor(listener);
  EXPECT_EQ(options.project_id, "shop");
  EXPECT_EQ(options.max_envelope_bytes, 65536u);
  EXPECT_EQ(options.agent_version, PGAGENT_VERSION);
}

TEST_F(EnvelopeEncoderTest, SixtyFourBitIdentifiersAreDecimalStrings) {
  Record statements = Base(pgagent::v1::RECORD_KIND_STATEMENTS);
  statements.mutable_statements()->add_statements()->set_queryid(4696375739796055123LL);
  const std::string body = One(statements);
  // JSON.parse would read 4696375739796055123 as 4696375739796055000.
  EXPECT_NE(body.find("\"queryid\":\"4696375739796055123\""), std::string::npos) << body;
  EXPECT_NE(One(Activity()).find("\"query_id\":\"-8781398127364519123\""), std::string::npos);
  Record log = Logs({{nullptr, 1}});
  log.mutable_log()->mutable_entries(0)->set_transaction_id(18446744073709551615ULL);
  EXPECT_NE(One(log).find("\"transaction_id\":\"18446744073709551615\""), std::string::npos);
}

TEST_F(EnvelopeEncoderTest, EachKindMapsToItsListenerSourceAndHealthRidesWithSystemMetrics) {
  Record statements = Base(pgagent::v1::RECORD_KIND_STATEMENTS);
  statements.mutable_statements()->add_statements()->set_queryid(5);
  statements.mutable_statements()->set_count(1);
  Record system = Base(pgagent::v1::RECORD_KIND_SYSTEM);
  system.mutable_system()->mutable_cpu()->set_percent(1);
  Record health = Base(pgagent::v1::RECORD_KIND_HEALTH);
  health.mutable_health()->set_component("shipperd");
  EXPECT_EQ(Get(Parse(One(Activity())), "source").string_value(), "pg_stat_activity");
  EXPECT_EQ(Get(Parse(One(statements)), "source").string_value(), "pg_stat_statements");
  EXPECT_EQ(Get(Parse(One(Logs({{nullptr, 1.0}}))), "source").string_value(), "pg_log");
  auto both = encoder_.EncodeAggregate({&system, &health});
  ASSERT_TRUE(both.ok());
  ASSERT_EQ(both->size(), 1u);
  Struct data = Get(Parse(both->front().body), "data").struct_value();
  EXPECT_EQ(Get(data, "snapshots").list_value().values_size(), 1);
  const auto& health_list = Get(data, "agent_health").list_value();
  ASSERT_EQ(health_list.values_size(), 1);
  EXPECT_EQ(Get(health_list.values(0).struct_value(), "component").string_value(), "shipperd");
  EXPECT_EQ(Get(data, "count").number_value(), 2);
  // Records of different sources are never coalesced.
  EXPECT_FALSE(encoder_.EncodeAggregate({&system, &statements}).ok());
}

TEST_F(EnvelopeEncoderTest, ConsecutiveSnapshotsOfOneSourceShareOneEnvelope) {
  std::vector<Record> records;
  for (int i = 0; i < 60; ++i) {
    records.push_back(Activity());
    records.back().mutable_id()->set_seq(100 + i);
    records.back().mutable_collected_at()->set_seconds(1795773600 + i);
  }
  std::vector<const Record*> ptrs;
  for (const Record& r : records) ptrs.push_back(&r);
  auto result = encoder_.EncodeAggregate(ptrs);
  ASSERT_TRUE(result.ok());
  ASSERT_EQ(result->size(), 1u);
  Struct env = Parse(result->front().body);
  EXPECT_DOUBLE_EQ(Get(env, "timestamp").number_value(), 1795773659.25);  // the newest
  const Struct& data = Get(env, "data").struct_value();
  EXPECT_EQ(Get(data, "count").number_value(), 60);
  const auto& snapshots = Get(data, "snapshots").list_value();
  ASSERT_EQ(snapshots.values_size(), 60);
  const Struct& first = snapshots.values(0).struct_value();
  EXPECT_EQ(Get(first, "sessions").list_value().values_size(), 4);
  EXPECT_EQ(Get(first, "lock_waits").list_value().values_size(), 1);
  EXPECT_EQ(Get(Get(data, "agent").struct_value(), "records").list_value().values_size(), 60);
  // The aggregate never carries a correlation id at the top level.
  EXPECT_EQ(Get(env, "correlation_id").kind_case(), Value::KIND_NOT_SET);
  EXPECT_EQ(result->front().body.find("null"), std::string::npos);
}

TEST_F(EnvelopeEncoderTest, ACorrelationRowIsOneEnvelopeWithItsIdAtTheTopLevel) {
  CorrelationRow row;
  row.set_correlation_id(kIdA);
  row.set_score(1000123);
  row.add_reasons("seen");
  row.add_reasons("failed");
  row.set_query("UPDATE t SET v = ?");
  row.set_duration_ms(12.5);
  row.set_host("db1");
  *row.mutable_first_seen() = Base(pgagent::v1::RECORD_KIND_LOG).collected_at();
  *row.mutable_last_seen() = Base(pgagent::v1::RECORD_KIND_LOG).collected_at();
  *row.add_records() = Base(pgagent::v1::RECORD_KIND_LOG).id();
  auto* e = row.add_entries();
  e->set_level("ERROR");
  e->set_correlation_id(kIdA);
  *row.add_sessions() = Activity().activity().sessions(0);
  auto envelope = encoder_.EncodeCorrelation(row);
  ASSERT_TRUE(envelope.ok());
  EXPECT_EQ(envelope->correlation_id.value_or(""), kIdA);
  Struct env = Parse(envelope->body);
  EXPECT_EQ(Get(env, "correlation_id").string_value(), kIdA);
  EXPECT_EQ(Get(env, "source").string_value(), "pg_log");
  const Struct& data = Get(env, "data").struct_value();
  EXPECT_EQ(Get(data, "query").string_value(), "UPDATE t SET v = ?");
  EXPECT_DOUBLE_EQ(Get(data, "duration_ms").number_value(), 12.5);
  EXPECT_EQ(Get(data, "reasons").list_value().values_size(), 2);
  EXPECT_EQ(Get(data, "entries").list_value().values_size(), 1);
  EXPECT_EQ(Get(data, "sessions").list_value().values_size(), 1);
  EXPECT_EQ(Get(Get(data, "agent").struct_value(), "kind").string_value(), "correlation");
  row.clear_entries();
  EXPECT_EQ(Get(Parse(encoder_.EncodeCorrelation(row)->body), "source").string_value(),
            "pg_stat_activity");
  row.clear_correlation_id();
  EXPECT_FALSE(encoder_.EncodeCorrelation(row).ok());
}

TEST_F(EnvelopeEncoderTest, CoalescedLogRecordsShareOneEnvelope) {
  Record r1 = Logs({{nullptr, 1}, {nullptr, 2}});
  Record r2 = Logs({{nullptr, 3}});
  r2.mutable_id()->set_seq(43);
  auto result = encoder_.EncodeAggregate({&r1, &r2});
  ASSERT_TRUE(result.ok());
  ASSERT_EQ(result->size(), 1u);
  const Struct data = Get(Parse(result->front().body), "data").struct_value();
  EXPECT_EQ(Get(data, "count").number_value(), 3);
  EXPECT_EQ(Get(Get(data, "levels").struct_value(), "LOG").number_value(), 3);
  const auto& ids = Get(Get(data, "agent").struct_value(), "records").list_value();
  ASSERT_EQ(ids.values_size(), 2);
  EXPECT_EQ(ids.values(1).string_value(), "boot-1:43");
}

TEST_F(EnvelopeEncoderTest, ASnapshotOverTheSizeLimitIsSplitIntoParts) {
  EnvelopeEncoder small(EncoderOptions{"p", 4096, "1"});
  Record r = Base(pgagent::v1::RECORD_KIND_ACTIVITY);
  for (int i = 0; i < 40; ++i) {
    auto* s = r.mutable_activity()->add_sessions();
    s->set_pid(i);
    s->set_query(std::string(200, 'q'));
  }
  auto result = small.EncodeAggregate({&r});
  ASSERT_TRUE(result.ok());
  ASSERT_GT(result->size(), 1u);
  int sessions = 0;
  for (size_t i = 0; i < result->size(); ++i) {
    EXPECT_LE((*result)[i].body.size(), 4096u);
    const Struct data = Get(Parse((*result)[i].body), "data").struct_value();
    for (const auto& snapshot : Get(data, "snapshots").list_value().values()) {
      const Struct& part = snapshot.struct_value();
      sessions += static_cast<int>(Get(part, "count").number_value());
      EXPECT_EQ(Get(part, "parts").number_value(), static_cast<double>(result->size()));
    }
  }
  EXPECT_EQ(sessions, 40);
}

TEST_F(EnvelopeEncoderTest, ManySnapshotsOverTheSizeLimitAreCutIntoFullEnvelopes) {
  EnvelopeEncoder small(EncoderOptions{"p", 8192, "1"});
  std::vector<Record> records;
  for (int i = 0; i < 30; ++i) {
    records.push_back(Activity());
    records.back().mutable_id()->set_seq(100 + i);
  }
  std::vector<const Record*> ptrs;
  for (const Record& r : records) ptrs.push_back(&r);
  auto result = small.EncodeAggregate(ptrs);
  ASSERT_TRUE(result.ok());
  ASSERT_GT(result->size(), 1u);
  int total = 0;
  for (const auto& envelope : *result) {
    EXPECT_LE(envelope.body.size(), 8192u);
    total += static_cast<int>(Get(Get(Parse(envelope.body), "data").struct_value(), "count")
                                  .number_value());
  }
  EXPECT_EQ(total, 30);
}

TEST_F(EnvelopeEncoderTest, CoalescedLogsOverTheSizeLimitAreCutIntoFullPartsKeepingEveryEntry) {
  EnvelopeEncoder small(EncoderOptions{"p", 8192, "1"});
  std::vector<Record> records;
  for (int r = 0; r < 6; ++r) {
    records.push_back(Logs({{nullptr, 1}, {"corr-1", 0}, {nullptr, 2.5}}));
    records.back().mutable_id()->set_seq(100 + r);
    records.back().mutable_log()->set_unparsed(1);
    for (auto& e : *records.back().mutable_log()->mutable_entries()) {
      e.set_message(std::string(700, 'a' + r));
    }
  }
  std::vector<const Record*> ptrs;
  for (const Record& r : records) ptrs.push_back(&r);
  auto result = small.EncodeAggregate(ptrs);
  ASSERT_TRUE(result.ok());
  const size_t parts = result->size();
  ASSERT_GT(parts, 1u);
  int entries = 0;
  std::string messages;
  for (size_t i = 0; i < parts; ++i) {
    const std::string& body = (*result)[i].body;
    EXPECT_LE(body.size(), 8192u);
    const Struct data = Get(Parse(body), "data").struct_value();
    const auto& list = Get(data, "entries").list_value();
    EXPECT_EQ(Get(data, "count").number_value(), list.values_size());
    double per_level = 0;
    for (const auto& [level, n] : Get(data, "levels").struct_value().fields()) {
      per_level += n.number_value();
    }
    EXPECT_EQ(per_level, list.values_size());
    EXPECT_EQ(Get(data, "unparsed").number_value(), i == 0 ? 6 : 0);
    EXPECT_EQ(Get(data, "part").number_value(), static_cast<double>(i + 1));
    EXPECT_EQ(Get(data, "parts").number_value(), static_cast<double>(parts));
    for (const auto& e : list.values()) {
      messages += Get(e.struct_value(), "message").string_value().substr(0, 1);
    }
    entries += list.values_size();
  }
  // Every entry once, in order; parts are filled (not halved).
  EXPECT_EQ(entries, 18);
  EXPECT_EQ(messages, "aaabbbcccdddeeefff");
  EXPECT_LE(parts, 18u * 760 / (8192 - 1024 - 400) + 1);
}

TEST_F(EnvelopeEncoderTest, EnumsAndTimestampsAreReadable) {
  Record r = Logs({{nullptr, 1}});
  auto* e = r.mutable_log()->mutable_entries(0);
  e->set_event_class(pgagent::v1::LOG_EVENT_CLASS_DEADLOCK);
  e->mutable_timestamp()->set_seconds(1795773600);
  const std::string body = One(r);
  EXPECT_NE(body.find("\"event_class\":\"deadlock\""), std::string::npos) << body;
  EXPECT_NE(body.find("\"timestamp\":\"2026-11-27T10:00:00.000Z\""), std::string::npos) << body;
}

}  // namespace
}  // namespace pgagent
