// The accounting rules of the end-to-end proof (bench/e2e/delivery_ledger.h) and the
// /proc sample statistics (proc_sampler.h), on hand-written listener rows and samples.
#include "bench/e2e/delivery_ledger.h"

#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include "bench/e2e/e2e_runner.h"
#include "bench/e2e/proc_sampler.h"

namespace pgagent::e2e {
namespace {

google::protobuf::ListValue Rows(const std::string& json) {
  google::protobuf::ListValue rows;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(json, &rows).ok()) << json;
  return rows;
}

// A coalesced snapshot envelope holding one record (as shipperd's encoder writes it).
std::string Snapshot(const std::string& boot, int seq, const std::string& part = "") {
  return R"({"source":"system_metrics","received_at":1795773610.5,"data":{"snapshots":[{"record_id":")" +
         boot + ":" + std::to_string(seq) +
         R"(","collected_at":"2026-11-27T10:00:00.250Z")" +
         (part.empty() ? "" : ",\"part\":" + part) +
         R"(}],"count":1,"agent":{"record_id":")" + boot + ":" + std::to_string(seq) +
         R"(","kind":"system"}}})";
}

TEST(DeliveryLedgerTest, ContiguousSeqsPerBootAreNoLossAndARepeatIsADuplicate) {
  DeliveryLedger ledger;
  ledger.Add(Rows("[" + Snapshot("a", 1) + "," + Snapshot("a", 2) + "," + Snapshot("b", 1) + "," +
                  Snapshot("a", 2) + "]"));
  const LedgerSummary s = ledger.Summarize(0);
  EXPECT_EQ(s.boots, 2u);
  EXPECT_EQ(s.distinct_records, 3u);
  EXPECT_EQ(s.seq_holes, 0u);
  EXPECT_EQ(s.boots_not_starting_at_1, 0u);
  EXPECT_EQ(s.duplicate_record_rows, 1u);
  EXPECT_EQ(s.records_by_kind.at("system"), 3u);
}

TEST(DeliveryLedgerTest, AHoleInsideABootAndALateStartAreCountedAsLoss) {
  DeliveryLedger ledger;
  ledger.Add(Rows("[" + Snapshot("a", 1) + "," + Snapshot("a", 4) + "," + Snapshot("b", 2) + "]"));
  const LedgerSummary s = ledger.Summarize(0);
  EXPECT_EQ(s.seq_holes, 2u);
  EXPECT_EQ(s.boots_not_starting_at_1, 1u);
}

TEST(DeliveryLedgerTest, PartsOfOneRecordAreNotDuplicates) {
  DeliveryLedger ledger;
  ledger.Add(Rows("[" + Snapshot("a", 1, "1") + "," + Snapshot("a", 1, "2") + "]"));
  EXPECT_EQ(ledger.Summarize(0).duplicate_record_rows, 0u);
  EXPECT_EQ(ledger.Summarize(0).distinct_records, 1u);
}

TEST(DeliveryLedgerTest, CoalescedLogEnvelopesAccountForEveryRecordAndMarker) {
  DeliveryLedger ledger;
  ledger.Add(Rows(R"([{"source":"pg_log","data":{
      "entries":[{"message":"pgagent-e2e-mark 1"},{"message":"pgagent-e2e-mark 3"},{"message":"other"}],
      "agent":{"record_id":"a:1","kind":"log","records":["a:1","a:2"]}}},
     {"source":"pg_log","correlation_id":"x","data":{"entries":[{"message":"pgagent-e2e-mark 1"}],
      "agent":{"record_id":"a:1","kind":"log"}}},
     {"source":"pg_log","data":{"entries":[{"message":"pgagent-e2e-mark 3"}],
      "agent":{"record_id":"a:3","kind":"log"}}}])"));
  const LedgerSummary s = ledger.Summarize(4);
  EXPECT_EQ(s.distinct_records, 3u);
  EXPECT_EQ(s.correlation_rows, 1u);
  EXPECT_EQ(s.markers_seen, 2u);
  EXPECT_EQ(s.markers_missing, 2u);
  EXPECT_EQ(s.first_missing_markers, (std::vector<uint64_t>{2, 4}));
  EXPECT_EQ(s.marker_duplicates, 1u);  // the correlation copy is not counted
  EXPECT_EQ(ledger.MarkersSeenUpTo(3), 2u);
}

TEST(DeliveryLedgerTest, EachRecordsFirstArrivalGivesItsDeliveryLag) {
  DeliveryLedger ledger;
  ledger.Add(Rows("[" + Snapshot("a", 1) + "," + Snapshot("a", 1) + "]"));
  ASSERT_EQ(ledger.arrivals().size(), 1u);  // the duplicate is not a second arrival
  EXPECT_DOUBLE_EQ(ledger.arrivals()[0].collected_unix_s, 1795773600.25);
  EXPECT_DOUBLE_EQ(ledger.arrivals()[0].lag_s, 10.25);
  EXPECT_DOUBLE_EQ(Percentile({5, 1, 3, 2, 4}, 99), 5);
  EXPECT_DOUBLE_EQ(Percentile({5, 1, 3, 2, 4}, 50), 3);
}

TEST(DeliveryLedgerTest, TopLevelCorrelationIdsAreLinkedAtTheirFirstRow) {
  DeliveryLedger ledger;
  ledger.Add(Rows(R"([{"source":"pg_log","correlation_id":"u1","received_at":20,"data":{}},
      {"source":"pg_log","correlation_id":"u1","received_at":10,"data":{}},
      {"source":"pg_log","received_at":5,"data":{"entries":[{"correlation_id":"u2"}],
       "agent":{"record_id":"a:1","kind":"log"}}}])"));
  EXPECT_EQ(ledger.linked_at().size(), 1u);  // u2 is only nested: not linked
  EXPECT_DOUBLE_EQ(ledger.linked_at().at("u1"), 10);
}

TEST(DeliveryLedgerTest, ShipperdsBufferDepthIsReadFromItsHealth) {
  DeliveryLedger ledger;
  ledger.Add(Rows(R"([{"source":"system_metrics","received_at":30,"data":{"snapshots":[],
      "agent_health":[{"record_id":"s:1","collected_at":"2026-11-27T10:00:00.000Z",
      "component":"shipperd","buffer_records":"42"}],"agent":{"record_id":"s:1","kind":"health"}}}])"));
  ASSERT_EQ(ledger.shipper_buffer().size(), 1u);
  EXPECT_EQ(ledger.shipper_buffer()[0].second, 42u);
  EXPECT_EQ(ledger.Summarize(0).records_by_kind.at("health"), 1u);
}

TEST(DeliveryLedgerTest, SnapshotsAreCountedByTheirSourceWhateverTheFirstRecordIs) {
  DeliveryLedger ledger;
  ledger.Add(Rows(R"([{"source":"system_metrics","received_at":30,"data":{
      "snapshots":[{"record_id":"c:2","collected_at":"2026-11-27T10:00:00.000Z"}],
      "cluster":[{"record_id":"c:1","collected_at":"2026-11-27T10:00:00.000Z"}],
      "agent":{"record_id":"c:1","kind":"cluster"}}}])"));
  const LedgerSummary s = ledger.Summarize(0);
  EXPECT_EQ(s.records_by_kind.at("system"), 1u);
  EXPECT_EQ(s.records_by_kind.at("cluster"), 1u);
  EXPECT_EQ(s.seq_holes, 0u);
}

TEST(DeliveryLedgerTest, MarkerTextIsWhatTheLedgerLooksFor) {
  DeliveryLedger ledger;
  ledger.Add(Rows(R"([{"source":"pg_log","data":{"entries":[{"message":")" + MarkerText(12) +
                  R"("}],"agent":{"record_id":"a:1","kind":"log"}}}])"));
  EXPECT_EQ(ledger.MarkersSeenUpTo(12), 1u);
}

TEST(ProcSamplerTest, SlopeOfALineIsItsGradientAndOfFewPointsZero) {
  EXPECT_DOUBLE_EQ(Slope({0, 1, 2, 3}, {1, 3, 5, 7}), 2.0);
  EXPECT_DOUBLE_EQ(Slope({1}, {5}), 0.0);
  EXPECT_DOUBLE_EQ(Slope({2, 2}, {1, 5}), 0.0);
}

TEST(ProcSamplerTest, SeriesStatsGiveCpuPercentAndGrowthPerHour) {
  SampleSeries s;
  s.Add({0, 10240, 5120, 1.0});
  s.Add({1800, 10240, 5632, 19.0});
  s.Add({3600, 10240, 6144, 37.0});
  const SeriesStats st = s.Stats();
  EXPECT_EQ(st.samples, 3u);
  EXPECT_DOUBLE_EQ(st.seconds, 3600);
  EXPECT_NEAR(st.cpu_percent, 1.0, 1e-9);
  EXPECT_NEAR(st.rss_anon_slope_mb_per_h, 1.0, 1e-9);
  EXPECT_NEAR(st.rss_slope_mb_per_h, 0.0, 1e-9);
  EXPECT_DOUBLE_EQ(st.rss_max_mb, 10.0);
}

TEST(ProcSamplerTest, ReadsThisProcessAndFailsForAMissingOne) {
  auto self = ReadProcSample(getpid());
  ASSERT_TRUE(self.ok()) << self.status().ToString();
  EXPECT_GT(self->rss_kb, 0);
  EXPECT_GT(self->rss_anon_kb, 0);
  EXPECT_EQ(ReadProcSample(getpid(), "/nonexistent-proc").status().code(), StatusCode::kNotFound);
}

TEST(ProcSamplerTest, ReadsOwnAndReapedChildrenCpuPastACommandNameWithSpaces) {
  char dir[] = "/tmp/pgagent-procpid-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string pid_dir = std::string(dir) + "/42";
  ASSERT_EQ(mkdir(pid_dir.c_str(), 0700), 0);
  const double tick = static_cast<double>(sysconf(_SC_CLK_TCK));
  {
    std::ofstream status(pid_dir + "/status");
    status << "Name:\tpostgres\nVmRSS:\t    2048 kB\nRssAnon:\t    1024 kB\n";
    // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
    // utime stime cutime cstime ...
    std::ofstream stat(pid_dir + "/stat");
    stat << "42 (postgres: logger (x)) S 1 42 42 0 -1 4194560 10 20 0 0 300 100 5000 700 20 0\n";
  }
  auto s = ReadProcSample(42, dir);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_DOUBLE_EQ(s->cpu_s, 400 / tick);
  EXPECT_DOUBLE_EQ(s->reaped_children_cpu_s, 5700 / tick);
  EXPECT_DOUBLE_EQ(s->rss_kb, 2048);
  unlink((pid_dir + "/stat").c_str());
  unlink((pid_dir + "/status").c_str());
  rmdir(pid_dir.c_str());
  rmdir(dir);
}

TEST(ProcSamplerTest, MachineCpuSplitsBusyFromIdleTicks) {
  char dir[] = "/tmp/pgagent-procstat-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string path = std::string(dir) + "/stat";
  const double tick = static_cast<double>(sysconf(_SC_CLK_TCK));
  {
    std::ofstream f(path);
    // user nice system idle iowait irq softirq steal guest guest_nice
    f << "cpu  100 10 50 800 20 5 15 20 0 0\ncpu0 50 5 25 400 10 2 8 10 0 0\n";
  }
  auto m = ReadMachineCpu(dir);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_DOUBLE_EQ(m->busy_s, 200 / tick);
  EXPECT_DOUBLE_EQ(m->total_s, 1020 / tick);
  {
    std::ofstream f(path);
    f << "intr 1 2 3\n";
  }
  EXPECT_EQ(ReadMachineCpu(dir).status().code(), StatusCode::kInvalidArgument);
  unlink(path.c_str());
  rmdir(dir);
  EXPECT_EQ(ReadMachineCpu(dir).status().code(), StatusCode::kNotFound);
  auto real = ReadMachineCpu();
  ASSERT_TRUE(real.ok()) << real.status().ToString();
  EXPECT_GT(real->total_s, real->busy_s);
}

TEST(E2eReportTest, JsonIsValidAndCarriesTheFiguresAndStrings) {
  E2eReport r;
  r.environment["postgresql"] = "15 \"quoted\"\n";
  r.overhead.emplace_back();
  r.overhead[0].ran = true;
  r.overhead[0].tps_without = {100, 110};
  r.overhead[0].tps_with = {99, 108};
  r.overhead[0].pair_ratios = {0.99, 108.0 / 110};
  r.overhead[0].median_ratio = 0.985;
  r.soak.ran = true;
  r.soak.events = {{1.5, "kill collectord"}, {2.5, "listener up"}};
  r.soak.listener_stats_json = R"({"requests":3})";
  r.soak.ledger.rows_by_source["pg_log"] = 7;
  r.footprints.resize(2);
  const std::string json = r.ToJson();
  google::protobuf::Struct parsed;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(json, &parsed).ok()) << json;
  const auto& overhead = parsed.fields().at("overhead").list_value().values(0).struct_value();
  EXPECT_DOUBLE_EQ(overhead.fields().at("median_ratio").number_value(), 0.985);
  EXPECT_EQ(overhead.fields().at("tps_with_agent").list_value().values_size(), 2);
  EXPECT_EQ(
      parsed.fields().at("environment").struct_value().fields().at("postgresql").string_value(),
      "15 \"quoted\"\n");
  const auto& soak = parsed.fields().at("soak").struct_value();
  EXPECT_EQ(soak.fields().at("events").list_value().values_size(), 2);
  EXPECT_EQ(
      soak.fields().at("listener_stats").struct_value().fields().at("requests").number_value(), 3);
  EXPECT_EQ(parsed.fields().at("footprint").list_value().values_size(), 2);
  EXPECT_NE(r.ToMarkdown().find("0.9850"), std::string::npos);
}

}  // namespace
}  // namespace pgagent::e2e
