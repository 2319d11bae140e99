// Every record kind, every IPC frame type and the control messages survive a binary and a
// JSON (protobuf JSON mapping, snake_case names) round trip unchanged.
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include "common/ipc_frame.h"
#include "pgagent/v1/control.pb.h"
#include "pgagent/v1/ipc.pb.h"
#include "pgagent/v1/records.pb.h"

namespace pgagent {
namespace {

using google::protobuf::Message;
using google::protobuf::util::MessageDifferencer;
using pgagent::v1::Record;

Record Base(pgagent::v1::RecordKind kind) {
  Record r;
  r.mutable_id()->set_boot_id("3f1e1c1a-1111-4222-8333-444455556666");
  r.mutable_id()->set_seq(18446744073709551000ULL);
  r.set_kind(kind);
  r.mutable_collected_at()->set_seconds(1795773600);
  r.mutable_collected_at()->set_nanos(123000000);
  r.set_project_id("project");
  r.set_host("db1");
  r.set_burst(true);
  return r;
}

std::vector<Record> EveryKind() {
  std::vector<Record> all;
  Record a = Base(pgagent::v1::RECORD_KIND_ACTIVITY);
  auto* s = a.mutable_activity()->add_sessions();
  s->set_pid(42);
  s->set_query("SELECT ? /* correlation:abc */");
  s->set_query_id(-9050898131454713901LL);
  s->set_correlation_id("abc");
  s->mutable_query_start()->set_seconds(1795773500);
  s->mutable_resources()->set_cpu_user_ms(1.5);
  s->mutable_resources()->set_read_bytes(0);
  auto* w = a.mutable_activity()->add_lock_waits();
  w->set_blocked_pid(42);
  w->add_blocking_pids(41);
  w->set_root_blocker_pid(40);
  w->set_chain_depth(2);
  a.mutable_activity()->set_count(1);
  all.push_back(a);

  Record st = Base(pgagent::v1::RECORD_KIND_STATEMENTS);
  auto* d = st.mutable_statements()->add_statements();
  d->set_queryid(1234567890123456789LL);
  d->set_calls(7);
  d->set_total_exec_time_ms(1.25);
  st.mutable_statements()->set_pgss_version("1.10");
  all.push_back(st);

  Record sys = Base(pgagent::v1::RECORD_KIND_SYSTEM);
  sys.mutable_system()->mutable_cpu()->set_percent(12.5);
  sys.mutable_system()->mutable_memory()->set_available(1ULL << 40);
  sys.mutable_system()->mutable_disk_io()->add_devices()->set_device("vda");
  sys.mutable_system()->mutable_pressure()->mutable_cpu()->mutable_some()->set_avg10(3.5);
  auto* du = sys.mutable_system()->add_disk_usage();
  du->set_label("root");
  du->set_path("/");
  all.push_back(sys);

  Record log = Base(pgagent::v1::RECORD_KIND_LOG);
  auto* e = log.mutable_log()->add_entries();
  e->set_level("ERROR");
  e->set_message("deadlock detected");
  e->set_event_class(pgagent::v1::LOG_EVENT_CLASS_DEADLOCK);
  e->set_duration_ms(0);  // present-but-zero must survive (proto3 optional)
  (*log.mutable_log()->mutable_levels())["ERROR"] = 1;
  log.mutable_log()->mutable_cursor()->set_inode(99);
  all.push_back(log);

  Record h = Base(pgagent::v1::RECORD_KIND_HEALTH);
  h.mutable_health()->set_component("collectord");
  (*h.mutable_health()->mutable_counters())["ipc_resyncs"] = 3;
  h.mutable_health()->add_collectors()->set_name("pg_stat_activity");
  all.push_back(h);
  return all;
}

void ExpectRoundTrips(const Message& original) {
  std::string bytes;
  ASSERT_TRUE(original.SerializeToString(&bytes));
  std::unique_ptr<Message> parsed(original.New());
  ASSERT_TRUE(parsed->ParseFromString(bytes));
  EXPECT_TRUE(MessageDifferencer::Equals(original, *parsed)) << original.DebugString();

  google::protobuf::util::JsonPrintOptions print;
  print.preserve_proto_field_names = true;
  std::string json;
  ASSERT_TRUE(google::protobuf::util::MessageToJsonString(original, &json, print).ok());
  std::unique_ptr<Message> from_json(original.New());
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(json, from_json.get()).ok()) << json;
  EXPECT_TRUE(MessageDifferencer::Equals(original, *from_json)) << json;
}

TEST(ProtoRoundTripTest, EveryRecordKindSurvivesBinaryAndJson) {
  for (const Record& r : EveryKind()) {
    SCOPED_TRACE(RecordKindName(r.kind()));
    EXPECT_TRUE(ValidateRecord(r).ok()) << ValidateRecord(r).ToString();
    ExpectRoundTrips(r);
  }
}

TEST(ProtoRoundTripTest, JsonUsesSnakeCaseFieldNames) {
  google::protobuf::util::JsonPrintOptions print;
  print.preserve_proto_field_names = true;
  std::string json;
  ASSERT_TRUE(google::protobuf::util::MessageToJsonString(EveryKind()[0], &json, print).ok());
  EXPECT_NE(json.find("\"collected_at\""), std::string::npos);
  EXPECT_NE(json.find("\"lock_waits\""), std::string::npos);
  EXPECT_EQ(json.find("collectedAt"), std::string::npos);
}

TEST(ProtoRoundTripTest, EveryIpcFrameTypeRoundTripsThroughTheFraming) {
  std::vector<pgagent::v1::Frame> frames(7);
  frames[0].mutable_hello()->set_boot_id("b");
  frames[1].mutable_welcome()->set_high_water_mark(5);
  *frames[2].mutable_record()->mutable_record() = EveryKind()[3];
  frames[2].mutable_record()->set_seq(18446744073709551000ULL);
  frames[3].mutable_ack()->set_high_water_mark(5);
  frames[4].mutable_reject()->set_reason("r");
  frames[5].mutable_heartbeat()->set_sent_ms(1);
  frames[6].mutable_hello_required()->set_reason("x");
  for (const auto& f : frames) {
    auto decoded = DecodeFrame(EncodeFrame(f), 1 << 20);
    ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
    EXPECT_TRUE(MessageDifferencer::Equals(f, *decoded));
  }
}

TEST(ProtoRoundTripTest, FramingRejectsGarbageEmptyAndOversizedFrames) {
  EXPECT_EQ(DecodeFrame("\xff\xff\xff", 1 << 20).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(DecodeFrame("", 1 << 20).status().code(), StatusCode::kInvalidArgument);
  pgagent::v1::Frame big;
  big.mutable_hello()->set_boot_id(std::string(2000, 'x'));
  EXPECT_EQ(DecodeFrame(EncodeFrame(big), 1000).status().code(), StatusCode::kResourceExhausted);
}

TEST(ProtoRoundTripTest, ControlMessagesRoundTrip) {
  pgagent::v1::ControlRequest req;
  req.mutable_queue_peek()->set_limit(5);
  req.mutable_queue_peek()->set_kind(pgagent::v1::RECORD_KIND_LOG);
  ExpectRoundTrips(req);
  pgagent::v1::ControlResponse resp;
  resp.set_ok(true);
  auto* rec = resp.mutable_queue_peek()->add_records();
  rec->set_id(7);
  *rec->mutable_record() = EveryKind()[1];
  ExpectRoundTrips(resp);
}

TEST(ProtoRoundTripTest, ValidationCatchesAKindThatDoesNotMatchThePayload) {
  Record r = EveryKind()[2];
  r.set_kind(pgagent::v1::RECORD_KIND_LOG);
  EXPECT_EQ(ValidateRecord(r).code(), StatusCode::kInvalidArgument);
  r = EveryKind()[2];
  r.clear_id();
  EXPECT_EQ(ValidateRecord(r).code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace pgagent
