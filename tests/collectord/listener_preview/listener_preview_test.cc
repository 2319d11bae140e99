// --dry-run prints the envelopes shipperd would send: checked against the shared encoder and
// against the request bodies shipperd's Dispatcher actually POSTs for the same records.
#include "collectord/listener_preview.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "shipperd/delivery/dispatcher.h"
#include "tests/fakes/fake_clock.h"
#include "tests/fakes/fake_record_buffer.h"
#include "tests/fakes/fake_transport.h"

namespace pgagent {
namespace {

using namespace std::chrono_literals;
using pgagent::v1::Record;

class ListenerPreviewTest : public ::testing::Test {
 protected:
  ListenerPreviewTest() {
    listener_.project_id = "shop";
    listener_.max_envelope_bytes = 1024 * 1024;
  }

  Record Base(pgagent::v1::RecordKind kind) {
    Record r;
    r.set_kind(kind);
    r.set_host("db1");
    const auto ns =
        std::chrono::duration_cast<std::chrono::nanoseconds>(clock_.Now().time_since_epoch())
            .count();
    r.mutable_collected_at()->set_seconds(ns / 1000000000);
    r.mutable_collected_at()->set_nanos(static_cast<int32_t>(ns % 1000000000) + 250000000);
    return r;
  }
  // One cycle's records in the order collectord produces them, without ids (the outbox
  // numbers them).
  std::vector<Record> Cycle() {
    std::vector<Record> records;
    Record activity = Base(pgagent::v1::RECORD_KIND_ACTIVITY);
    auto* session = activity.mutable_activity()->add_sessions();
    session->set_pid(4242);
    session->set_state("active");
    session->set_query("SELECT * FROM orders WHERE id = ?");
    activity.mutable_activity()->set_count(1);
    records.push_back(activity);
    Record system = Base(pgagent::v1::RECORD_KIND_SYSTEM);
    system.mutable_system()->mutable_cpu()->set_percent(12.5);
    records.push_back(system);
    Record statements = Base(pgagent::v1::RECORD_KIND_STATEMENTS);
    auto* statement = statements.mutable_statements()->add_statements();
    statement->set_query("UPDATE stock SET n = n - ?");
    statement->set_calls(3);
    records.push_back(statements);
    Record health = Base(pgagent::v1::RECORD_KIND_HEALTH);
    health.mutable_health()->set_component("collectord");
    records.push_back(health);
    Record log = Base(pgagent::v1::RECORD_KIND_LOG);
    auto* entry = log.mutable_log()->add_entries();
    entry->set_message("duration: 1200.5 ms");
    entry->set_level("LOG");
    log.mutable_log()->set_count(1);
    records.push_back(log);
    return records;
  }
  // The bodies shipperd's Dispatcher POSTs for `records` (numbered like the preview numbers
  // them) once they are in its buffer.
  std::vector<std::string> WhatShipperdSends(std::vector<Record> records) {
    FakeRecordBuffer buffer(100ull << 20, &clock_);
    for (size_t i = 0; i < records.size(); ++i) {
      records[i].mutable_id()->set_boot_id("boot-1");
      records[i].mutable_id()->set_seq(i + 1);
    }
    EXPECT_TRUE(buffer.Append(records).ok());
    FakeTransport transport;
    DispatcherOptions options;
    options.url = "https://127.0.0.1:1/ingest/postgres";
    options.api_key = "key";
    options.project_id = listener_.project_id;
    options.max_envelope_bytes = static_cast<size_t>(listener_.max_envelope_bytes);
    Dispatcher dispatcher(
        options, buffer, nullptr, transport, clock_, [] { return 0.5; }, nullptr);
    for (int i = 0; i < 200 && buffer.Stats()->records > 0; ++i) {
      clock_.Advance(std::clamp(dispatcher.Step(), 1ms, 1000ms));
    }
    EXPECT_EQ(buffer.Stats()->records, 0u);
    std::vector<std::string> bodies;
    for (const auto& request : transport.requests()) bodies.push_back(request.body);
    return bodies;
  }

  FakeClock clock_;
  ListenerConfig listener_;
};

TEST_F(ListenerPreviewTest, PrintsWhatShipperdSendsForTheSameRecords) {
  const std::vector<Record> records = Cycle();
  auto preview = PreviewEnvelopes(records, listener_, "boot-1");
  ASSERT_TRUE(preview.ok()) << preview.status().ToString();
  std::vector<std::string> previewed;
  for (const Envelope& envelope : *preview) previewed.push_back(envelope.body);
  std::vector<std::string> sent = WhatShipperdSends(records);
  ASSERT_EQ(previewed.size(), 4u);  // activity, system_metrics (system + health), statements, log
  std::sort(previewed.begin(), previewed.end());
  std::sort(sent.begin(), sent.end());
  EXPECT_EQ(previewed, sent);
}

TEST_F(ListenerPreviewTest, EnvelopesAreTheSharedEncodersBytes) {
  std::vector<Record> records = Cycle();
  auto preview = PreviewEnvelopes(records, listener_, "boot-9");
  ASSERT_TRUE(preview.ok());
  for (size_t i = 0; i < records.size(); ++i) {
    records[i].mutable_id()->set_boot_id("boot-9");
    records[i].mutable_id()->set_seq(i + 1);
  }
  const EnvelopeEncoder encoder(EncoderOptionsFor(listener_));
  auto activity = encoder.EncodeAggregate({&records[0]});
  auto system = encoder.EncodeAggregate({&records[1], &records[3]});
  auto statements = encoder.EncodeAggregate({&records[2]});
  auto log = encoder.EncodeAggregate({&records[4]});
  ASSERT_TRUE(activity.ok() && system.ok() && statements.ok() && log.ok());
  ASSERT_EQ(preview->size(), 4u);
  EXPECT_EQ((*preview)[0].body, activity->front().body);  // in order of first appearance
  EXPECT_EQ((*preview)[1].body, system->front().body);
  EXPECT_EQ((*preview)[2].body, statements->front().body);
  EXPECT_EQ((*preview)[3].body, log->front().body);
  EXPECT_NE((*preview)[0].body.find("\"project\":\"shop\""), std::string::npos);
}

TEST_F(ListenerPreviewTest, RecordsThatAlreadyHaveAnIdKeepIt) {
  std::vector<Record> records = Cycle();
  records[0].mutable_id()->set_boot_id("earlier");
  records[0].mutable_id()->set_seq(77);
  auto preview = PreviewEnvelopes(records, listener_, "boot-1");
  ASSERT_TRUE(preview.ok());
  EXPECT_NE((*preview)[0].body.find("\"record_id\":\"earlier:77\""), std::string::npos)
      << (*preview)[0].body;
  EXPECT_NE((*preview)[1].body.find("\"record_id\":\"boot-1:2\""), std::string::npos)
      << (*preview)[1].body;
}

TEST_F(ListenerPreviewTest, ARecordTheEncoderRefusesIsAnError) {
  std::vector<Record> records = {Base(pgagent::v1::RECORD_KIND_SYSTEM)};  // no payload
  auto preview = PreviewEnvelopes(records, listener_, "boot-1");
  EXPECT_FALSE(preview.ok());
}

}  // namespace
}  // namespace pgagent
