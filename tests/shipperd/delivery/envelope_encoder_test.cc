#include "shipperd/delivery/envelope_encoder.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <set>
#include <string>

namespace pgagent {
namespace {

using google::protobuf::Struct;
using google::protobuf::Value;
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
  EnvelopeEncoder encoder_{EncoderOptions{"proj-7", 1024 * 1024, "9.9.9"}};
};

TEST_F(EnvelopeEncoderTest, EnvelopeHasOnlyTheContractsTopLevelKeys) {
  auto result = encoder_.Encode(Base(pgagent::v1::RECORD_KIND_SYSTEM), 0);
  ASSERT_FALSE(result.ok());  // a system record without payload is refused
  Record r = Base(pgagent::v1::RECORD_KIND_SYSTEM);
  r.mutable_system()->mutable_cpu()->set_percent(12.5);
  r.mutable_system()->mutable_disk_io()->set_read_bytes(9007199254740993ULL);
  result = encoder_.Encode(r, 10);
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  ASSERT_EQ(result->envelopes.size(), 1u);
  const std::string& body = result->envelopes[0].body;
  Struct env = Parse(body);
  std::set<std::string> keys;
  for (const auto& [k, v] : env.fields()) keys.insert(k);
  EXPECT_EQ(keys, (std::set<std::string>{"project", "timestamp", "source", "data"}));
  EXPECT_EQ(Get(env, "project").string_value(), "proj-7");
  EXPECT_EQ(Get(env, "source").string_value(), "system_metrics");
  EXPECT_DOUBLE_EQ(Get(env, "timestamp").number_value(), 1795773600.25);
  const Struct& data = Get(env, "data").struct_value();
  EXPECT_DOUBLE_EQ(Get(Get(data, "cpu").struct_value(), "percent").number_value(), 12.5);
  // 64-bit integers stay exact JSON numbers (not strings, not rounded).
  EXPECT_NE(body.find("\"read_bytes\":9007199254740993"), std::string::npos) << body;
  const Struct& agent = Get(data, "agent").struct_value();
  EXPECT_EQ(Get(agent, "host").string_value(), "db1");
  EXPECT_EQ(Get(agent, "version").string_value(), "9.9.9");
  EXPECT_EQ(Get(agent, "record_id").string_value(), "boot-1:42");
  EXPECT_EQ(Get(agent, "collected_at").string_value(), "2026-11-27T10:00:00.250Z");
}

TEST_F(EnvelopeEncoderTest, EachKindMapsToItsListenerSource) {
  Record statements = Base(pgagent::v1::RECORD_KIND_STATEMENTS);
  statements.mutable_statements()->add_statements()->set_queryid(5);
  statements.mutable_statements()->set_count(1);
  Record health = Base(pgagent::v1::RECORD_KIND_HEALTH);
  health.mutable_health()->set_component("shipperd");
  EXPECT_EQ(encoder_.Encode(Activity(), 0)->envelopes[0].source, "pg_stat_activity");
  EXPECT_EQ(encoder_.Encode(statements, 0)->envelopes[0].source, "pg_stat_statements");
  EXPECT_EQ(encoder_.Encode(Logs({{nullptr, 1.0}}), 0)->envelopes[0].source, "pg_log");
  auto h = encoder_.Encode(health, 0);
  EXPECT_EQ(h->envelopes[0].source, "system_metrics");
  Struct data = Get(Parse(h->envelopes[0].body), "data").struct_value();
  EXPECT_EQ(Get(Get(data, "agent_health").struct_value(), "component").string_value(), "shipperd");
  Struct sdata =
      Get(Parse(encoder_.Encode(statements, 0)->envelopes[0].body), "data").struct_value();
  EXPECT_EQ(Get(sdata, "statements").list_value().values_size(), 1);
  EXPECT_EQ(Get(sdata, "count").number_value(), 1);
}

TEST_F(EnvelopeEncoderTest, ActivityAggregateKeepsTheOldAgentsShapeWithLockWaitsInsideData) {
  auto result = encoder_.Encode(Activity(), 0);
  ASSERT_TRUE(result.ok());
  ASSERT_EQ(result->envelopes.size(), 1u);
  Struct env = Parse(result->envelopes[0].body);
  EXPECT_EQ(Get(env, "correlation_id").kind_case(), Value::KIND_NOT_SET);
  const Struct& data = Get(env, "data").struct_value();
  EXPECT_EQ(Get(data, "sessions").list_value().values_size(), 4);
  EXPECT_EQ(Get(data, "count").number_value(), 4);
  EXPECT_EQ(Get(data, "with_correlation").number_value(), 3);
  EXPECT_EQ(Get(data, "lock_waits").list_value().values_size(), 1);
  // An unset optional is omitted, never null.
  EXPECT_EQ(result->envelopes[0].body.find("null"), std::string::npos);
  EXPECT_EQ(result->unlinked_correlation_ids, 2u);
}

TEST_F(EnvelopeEncoderTest, EveryCorrelationIdGetsAnEnvelopeWithTheIdAtTheTopLevel) {
  auto result = encoder_.Encode(Activity(), 10);
  ASSERT_TRUE(result.ok());
  ASSERT_EQ(result->envelopes.size(), 3u);
  EXPECT_EQ(result->correlation_envelopes, 2u);
  EXPECT_EQ(result->unlinked_correlation_ids, 0u);
  Struct a = Parse(result->envelopes[1].body);
  EXPECT_EQ(Get(a, "correlation_id").string_value(), kIdA);
  EXPECT_EQ(result->envelopes[1].correlation_id.value_or(""), kIdA);
  const Struct& data = Get(a, "data").struct_value();
  const auto& sessions = Get(data, "sessions").list_value();
  ASSERT_EQ(sessions.values_size(), 2);
  EXPECT_EQ(Get(sessions.values(0).struct_value(), "pid").number_value(), 101);
  EXPECT_EQ(Get(sessions.values(1).struct_value(), "pid").number_value(), 104);
  EXPECT_EQ(Get(data, "lock_waits").list_value().values_size(), 1);
  Struct b = Parse(result->envelopes[2].body);
  EXPECT_EQ(Get(b, "correlation_id").string_value(), kIdB);
  EXPECT_EQ(Get(Get(b, "data").struct_value(), "lock_waits").list_value().values_size(), 0);
}

TEST_F(EnvelopeEncoderTest, IdsBeyondTheBudgetStayNestedAndAreCountedAsUnlinked) {
  auto result = encoder_.Encode(Activity(), 1);
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->correlation_envelopes, 1u);
  EXPECT_EQ(result->unlinked_correlation_ids, 1u);
  EXPECT_EQ(result->envelopes.size(), 2u);
}

TEST_F(EnvelopeEncoderTest, LogCorrelationEnvelopesCarryTheSummedDuration) {
  auto result = encoder_.Encode(Logs({{kIdA, 12.5}, {nullptr, 3}, {kIdA, 7.5}, {kIdB, 0}}), 10);
  ASSERT_TRUE(result.ok());
  ASSERT_EQ(result->envelopes.size(), 3u);
  Struct agg = Parse(result->envelopes[0].body);
  const Struct& data = Get(agg, "data").struct_value();
  EXPECT_EQ(Get(data, "count").number_value(), 4);
  EXPECT_EQ(Get(Get(data, "levels").struct_value(), "LOG").number_value(), 3);
  EXPECT_EQ(Get(Get(data, "levels").struct_value(), "ERROR").number_value(), 1);
  Struct a = Parse(result->envelopes[1].body);
  EXPECT_EQ(Get(a, "correlation_id").string_value(), kIdA);
  EXPECT_DOUBLE_EQ(Get(Get(a, "data").struct_value(), "duration_ms").number_value(), 20.0);
  Struct b = Parse(result->envelopes[2].body);
  EXPECT_EQ(Get(Get(b, "data").struct_value(), "duration_ms").kind_case(), Value::KIND_NOT_SET);
}

TEST_F(EnvelopeEncoderTest, BackloggedLogRecordsAreCoalescedIntoOneEnvelope) {
  Record r1 = Logs({{nullptr, 1}, {nullptr, 2}});
  Record r2 = Logs({{nullptr, 3}});
  r2.mutable_id()->set_seq(43);
  auto result = encoder_.EncodeLogs({&r1, &r2}, 0);
  ASSERT_TRUE(result.ok());
  ASSERT_EQ(result->envelopes.size(), 1u);
  const Struct data = Get(Parse(result->envelopes[0].body), "data").struct_value();
  EXPECT_EQ(Get(data, "count").number_value(), 3);
  const auto& ids = Get(data, "records").list_value();
  ASSERT_EQ(ids.values_size(), 2);
  EXPECT_EQ(ids.values(1).string_value(), "boot-1:43");
}

TEST_F(EnvelopeEncoderTest, AggregatesOverTheSizeLimitAreSplitIntoParts) {
  EnvelopeEncoder small(EncoderOptions{"p", 4096, "1"});
  Record r = Base(pgagent::v1::RECORD_KIND_ACTIVITY);
  for (int i = 0; i < 40; ++i) {
    auto* s = r.mutable_activity()->add_sessions();
    s->set_pid(i);
    s->set_query(std::string(200, 'q'));
  }
  auto result = small.Encode(r, 0);
  ASSERT_TRUE(result.ok());
  ASSERT_GT(result->envelopes.size(), 1u);
  int sessions = 0;
  for (size_t i = 0; i < result->envelopes.size(); ++i) {
    EXPECT_LE(result->envelopes[i].body.size(), 4096u);
    const Struct data = Get(Parse(result->envelopes[i].body), "data").struct_value();
    sessions += static_cast<int>(Get(data, "count").number_value());
    EXPECT_EQ(Get(data, "part").number_value(), static_cast<double>(i + 1));
    EXPECT_EQ(Get(data, "parts").number_value(), static_cast<double>(result->envelopes.size()));
  }
  EXPECT_EQ(sessions, 40);
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
  auto result = small.EncodeLogs(ptrs, 10);
  ASSERT_TRUE(result.ok());
  ASSERT_EQ(result->correlation_envelopes, 1u);
  const size_t parts = result->envelopes.size() - 1;  // the last one is corr-1's
  ASSERT_GT(parts, 1u);
  int entries = 0;
  std::string messages;
  for (size_t i = 0; i < parts; ++i) {
    const std::string& body = result->envelopes[i].body;
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
    EXPECT_EQ(Get(data, "records").list_value().values_size(), 6);
    for (const auto& e : list.values()) {
      messages += Get(e.struct_value(), "message").string_value().substr(0, 1);
    }
    entries += list.values_size();
  }
  // Every entry once, in order; parts are filled (not halved), so there is at most one
  // more part than 18 entries of ~760 bytes need in bodies of 8 KiB less the envelope.
  EXPECT_EQ(entries, 18);
  EXPECT_EQ(messages, "aaabbbcccdddeeefff");
  EXPECT_LE(parts, 18u * 760 / (8192 - 1024 - 400) + 1);
  const Struct corr = Get(Parse(result->envelopes.back().body), "data").struct_value();
  EXPECT_EQ(Get(corr, "count").number_value(), 6);
}

TEST_F(EnvelopeEncoderTest, EnumsAndTimestampsAreReadable) {
  Record r = Logs({{nullptr, 1}});
  auto* e = r.mutable_log()->mutable_entries(0);
  e->set_event_class(pgagent::v1::LOG_EVENT_CLASS_DEADLOCK);
  e->mutable_timestamp()->set_seconds(1795773600);
  auto result = encoder_.Encode(r, 0);
  ASSERT_TRUE(result.ok());
  const std::string& body = result->envelopes[0].body;
  EXPECT_NE(body.find("\"event_class\":\"deadlock\""), std::string::npos) << body;
  EXPECT_NE(body.find("\"timestamp\":\"2026-11-27T10:00:00.000Z\""), std::string::npos) << body;
}

}  // namespace
}  // namespace pgagent
