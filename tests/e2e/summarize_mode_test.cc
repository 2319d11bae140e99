// Issue 16 item 3: [collection] log_statements = summarize with the real daemons, a real
// PostgreSQL logging every statement (log_min_duration_statement = 0) and the HTTPS test
// listener: every correlation id arrives, errors and slow statements arrive as lines, the
// fast untagged statements arrive as summaries with a redacted example, and the accounting
// is exact: lines shipped + lines summarized = lines read, and the listener holds exactly the
// shipped lines and summaries of exactly the summarized ones.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/harness/pg_cluster.h"
#include "tests/harness/subprocess.h"
#include "tests/harness/test_listener.h"
#include "tests/support/child_process.h"

namespace pgagent {
namespace {

using namespace std::chrono_literals;
using google::protobuf::Struct;
using google::protobuf::Value;
using testing::ChildProcess;
using testing::PgCluster;
using testing::TestListener;

const Value* Field(const Struct& s, const std::string& name) {
  auto it = s.fields().find(name);
  return it == s.fields().end() ? nullptr : &it->second;
}

std::string Text(const Struct& s, const std::string& name) {
  const Value* v = Field(s, name);
  return v == nullptr ? "" : v->string_value();
}

double Number(const Struct& s, const std::string& name) {
  const Value* v = Field(s, name);
  return v == nullptr ? 0 : v->number_value();
}

// What the listener holds of the pg_log entries (per-correlation copies left out).
struct Delivered {
  std::set<std::string> correlation_ids;
  uint64_t lines = 0;  // entries that are log lines (not summaries or accounting)
  uint64_t errors = 0, slow = 0;
  uint64_t summarized = 0;                     // sum of statement_summary.count
  uint64_t read = 0, shipped = 0, folded = 0;  // sums of log_accounting
  uint64_t accounting_entries = 0, inconsistent_accounting = 0;
  std::map<std::string, uint64_t> examples;  // redacted example -> count
};

Delivered Collect(const google::protobuf::ListValue& rows) {
  Delivered d;
  for (const Value& row : rows.values()) {
    const Struct& r = row.struct_value();
    if (Text(r, "source") != "pg_log" || !Text(r, "correlation_id").empty()) continue;
    const Value* data = Field(r, "data");
    const Value* entries = data == nullptr ? nullptr : Field(data->struct_value(), "entries");
    if (entries == nullptr) continue;
    for (const Value& v : entries->list_value().values()) {
      const Struct& e = v.struct_value();
      if (const Value* acc = Field(e, "log_accounting")) {
        const Struct& a = acc->struct_value();
        const auto read = static_cast<uint64_t>(Number(a, "lines_read"));
        const auto shipped = static_cast<uint64_t>(Number(a, "lines_shipped"));
        const auto folded = static_cast<uint64_t>(Number(a, "lines_summarized"));
        ++d.accounting_entries;
        d.inconsistent_accounting += read != shipped + folded;
        d.read += read;
        d.shipped += shipped;
        d.folded += folded;
        continue;
      }
      if (const Value* sum = Field(e, "statement_summary")) {
        const auto count = static_cast<uint64_t>(Number(sum->struct_value(), "count"));
        d.summarized += count;
        d.examples[Text(e, "statement")] += count;
        continue;
      }
      ++d.lines;
      if (!Text(e, "correlation_id").empty()) d.correlation_ids.insert(Text(e, "correlation_id"));
      if (Text(e, "level") == "ERROR") ++d.errors;
      if (Field(e, "duration_ms") != nullptr && Number(e, "duration_ms") >= 1000) ++d.slow;
    }
  }
  return d;
}

std::string Uuid(int i) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "6f1c6a4e-1b2c-4d3e-8f40-%012d", i);
  return buf;
}

TEST(SummarizeModeTest, CorrelatedErrorAndSlowLinesArriveAndFastOnesAreSummarizedExactly) {
  testing::PgClusterOptions po;
  po.all_log_formats = false;
  po.settings["log_min_duration_statement"] = "0";
  auto pg = PgCluster::Start(po);
  ASSERT_TRUE(pg.ok()) << pg.status().ToString();
  ASSERT_TRUE((*pg)->Psql("CREATE ROLE monitor LOGIN; GRANT pg_monitor TO monitor;").ok());
  auto listener = TestListener::Start();
  ASSERT_TRUE(listener.ok()) << listener.status().ToString();
  auto dir = testing::MakeTempDir("pgagent-summ-");
  ASSERT_TRUE(dir.ok());
  const std::string config = *dir + "/pgagent.ini";
  {
    std::ofstream f(config);
    f << "[database]\nhost = 127.0.0.1\nport = " << (*pg)->port() << "\nuser = monitor\n"
      << "[collection]\ninterval_s = 2\nlog_path = auto\nlog_start = beginning\n"
      << "log_statements = summarize\nlog_slow_ms = 1000\nlog_summary_interval_s = 2\n"
      << "[listener]\nurl = " << (*listener)->ingest_url()
      << "\napi_key = " << (*listener)->options().api_key
      << "\nproject_id = summ\nca_file = " << (*listener)->ca_file() << "\n"
      << "[buffer]\npath = " << *dir << "/buffer\n[ipc]\nruntime_dir = " << *dir << "/run\n"
      << "[agent]\nstate_dir = " << *dir << "/state\n";
  }
  ::chmod(config.c_str(), 0600);
  const std::string bin = testing::BinaryDir();
  auto shipper =
      ChildProcess::Start({bin + "/shipperd/pgagent-shipperd", config}, *dir + "/shipperd.log");
  auto collector = ChildProcess::Start({bin + "/collectord/pgagent-collectord", config},
                                       *dir + "/collectord.log");
  ASSERT_TRUE(shipper.ok() && collector.ok());

  // The PHP side: fast untagged statements in bulk, some tagged, an error and a slow one.
  constexpr int kFast = 400, kTagged = 40;
  std::string sql;
  for (int i = 0; i < kFast; ++i) {
    sql += "SELECT count(*) FROM pg_class WHERE relname = 'tbl_" + std::to_string(i) + "';\n";
    if (i % 10 == 0) {
      sql += "SELECT /* correlation:" + Uuid(i / 10) + " */ " + std::to_string(i) + ";\n";
    }
  }
  sql += "SELECT pg_sleep(1.1);\n";
  ASSERT_TRUE((*pg)->Psql(sql).ok());
  auto failed = (*pg)->Psql("SELECT 1/0;");
  EXPECT_FALSE(failed.ok());

  // Every correlation id at the listener's correlation view.
  for (int i = 0; i < kTagged; ++i) {
    EXPECT_TRUE(testing::WaitUntil(
        [&] {
          auto n = (*listener)->CorrelationRowCount(Uuid(i));
          return n.ok() && *n > 0;
        },
        90s))
        << Uuid(i) << "\n"
        << testing::FileTail(*dir + "/collectord.log");
  }
  // A graceful stop flushes the open interval; then the listener gets everything.
  EXPECT_EQ((*collector)->Stop(15s), 0);
  Delivered d;
  auto quiet_since = std::chrono::steady_clock::now();
  uint64_t last_read = 0;
  while (std::chrono::steady_clock::now() - quiet_since < 20s) {
    auto rows = (*listener)->StoredRows();
    ASSERT_TRUE(rows.ok());
    d = Collect(*rows);
    if (d.read != last_read || d.read != d.lines + d.summarized) {
      last_read = d.read;
      quiet_since = std::chrono::steady_clock::now();
    }
    std::this_thread::sleep_for(1s);
  }
  EXPECT_EQ((*shipper)->Stop(15s), 0);

  EXPECT_EQ(d.correlation_ids.size(), static_cast<size_t>(kTagged));
  EXPECT_GE(d.errors, 1u);
  EXPECT_GE(d.slow, 1u);
  // Exact accounting, per interval and over all, and as the listener sees it.
  EXPECT_GT(d.accounting_entries, 0u);
  EXPECT_EQ(d.inconsistent_accounting, 0u);
  EXPECT_EQ(d.read, d.shipped + d.folded);
  EXPECT_EQ(d.shipped, d.lines);
  EXPECT_EQ(d.folded, d.summarized);
  // The fast untagged statements are in summaries, with one redacted example.
  const std::string example =
      "SELECT count(*) FROM pg_class WHERE relname = ?;";  // as psql sent it
  std::string examples;
  for (const auto& [text, count] : d.examples)
    examples += std::to_string(count) + " x " + text + "\n";
  EXPECT_GE(d.examples[example], static_cast<uint64_t>(kFast)) << examples;
  for (const auto& [text, count] : d.examples) {
    EXPECT_EQ(text.find("tbl_"), std::string::npos) << text;
  }
  RecordProperty("lines_read", static_cast<int>(d.read));
  RecordProperty("lines_summarized", static_cast<int>(d.folded));
  testing::RemoveTree(*dir);
}

}  // namespace
}  // namespace pgagent
