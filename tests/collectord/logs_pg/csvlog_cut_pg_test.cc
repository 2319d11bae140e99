// A real PostgreSQL's csvlog with a statement longer than log_max_line_bytes: the tailer's
// line splitter cuts the line inside the quoted message, and every entry after it must still
// arrive, parsed (the assembler resynchronises at the next record).
#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "collectord/logs/log_entry_assembler.h"
#include "collectord/logtail/line_splitter.h"
#include "tests/harness/pg_cluster.h"

namespace pgagent {
namespace {

using namespace std::chrono_literals;
using testing::PgCluster;

constexpr char kApp[] = "csv-cut-test";
constexpr size_t kMaxLineBytes = 64 << 10;  // [collection] log_max_line_bytes

std::string ReadCsv(const PgCluster& c) {
  std::string all;
  for (const std::string& f : c.LogFiles(".csv")) {
    std::ifstream in(f, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    all += ss.str();
  }
  return all;
}

// Feeds the bytes through the tailer's line splitter and the csvlog assembler, as collectord.
std::vector<AssembledEntry> Tail(std::string_view bytes, LogParseStats* stats,
                                 uint64_t* cut_line_bytes) {
  LogParserOptions o;
  o.format = LogFormat::kCsvlog;
  auto parser = LogParser::Create(o);
  EXPECT_TRUE(parser.ok());
  LogEntryAssembler assembler(**parser);
  logtail::LineSplitter splitter(kMaxLineBytes);
  std::vector<logtail::TailLine> lines;
  std::vector<AssembledEntry> out;
  for (size_t p = 0; p < bytes.size(); p += 256 << 10) {
    lines.clear();
    splitter.Feed(bytes.substr(p, 256 << 10), &lines);
    for (const auto& l : lines) {
      assembler.Push(LogLine{l.text, l.truncated, l.end_offset}, {}, &out);
    }
  }
  assembler.Flush(&out);
  *stats = assembler.stats();
  *cut_line_bytes = splitter.stats().truncated_bytes;
  return out;
}

TEST(CsvlogCutPgTest, AStatementLongerThanTheLineCapIsOneTruncatedEntryAndNoneAfterItIsLost) {
  PgCluster& c = PgCluster::Shared();
  ASSERT_TRUE(c.SetAndReload("log_min_duration_statement", "0").ok());
  const size_t start = ReadCsv(c).size();
  PGconn* conn = PQconnectdb((c.ConnString() + " application_name=" + kApp).c_str());
  ASSERT_EQ(PQstatus(conn), CONNECTION_OK) << PQerrorMessage(conn);
  auto exec = [&](const std::string& sql) {
    PGresult* r = PQexec(conn, sql.c_str());
    EXPECT_EQ(PQresultStatus(r), PGRES_TUPLES_OK) << PQerrorMessage(conn);
    PQclear(r);
  };
  // 1.1 MiB, with quotes that csvlog doubles, so the cut lands inside a quoted field.
  std::string big = "SELECT length('";
  for (size_t i = 0; big.size() < (1100u << 10); ++i) big += i % 64 == 0 ? "\"\"" : "x";
  big += "') AS csv_cut_big";
  for (int round = 1; round <= 3; ++round) {
    exec(big);
    for (int i = 1; i <= 5; ++i) {
      exec("SELECT " + std::to_string(i) + " AS csv_cut_after_" + std::to_string(round) + "_" +
           std::to_string(i));
    }
  }
  exec("SELECT 1 AS csv_cut_done");
  PQfinish(conn);
  std::string csv;
  for (int i = 0; i < 200 && csv.find("csv_cut_done") == std::string::npos; ++i) {
    std::this_thread::sleep_for(50ms);
    csv = ReadCsv(c);
  }
  ASSERT_NE(csv.find("csv_cut_done"), std::string::npos);

  LogParseStats stats;
  uint64_t cut_line_bytes = 0;
  auto entries = Tail(std::string_view(csv).substr(start), &stats, &cut_line_bytes);
  std::vector<std::string> after;
  int big_entries = 0;
  for (const auto& a : entries) {
    if (a.entry.truncated()) {
      // The cut statement: its columns up to the cut (application_name comes after the
      // message, so it is gone), its text masked (an unterminated literal is not understood).
      ++big_entries;
      EXPECT_TRUE(a.entry.parsed());
      EXPECT_EQ(a.entry.level(), "LOG");
      EXPECT_GT(a.entry.pid(), 0);
      EXPECT_LE(a.entry.message().size(), kMaxLineBytes);
      continue;
    }
    if (a.entry.application_name() != kApp) continue;
    ASSERT_TRUE(a.entry.parsed()) << a.entry.message().substr(0, 200);
    const std::string& m = a.entry.message();
    if (m.find("csv_cut_after_") != std::string::npos) {
      after.push_back(m.substr(m.find("csv_cut_after_")));
    }
  }
  EXPECT_EQ(big_entries, 3);
  ASSERT_EQ(after.size(), 15u) << ::testing::PrintToString(after);
  for (int round = 1; round <= 3; ++round) {
    for (int i = 1; i <= 5; ++i) {
      EXPECT_EQ(after[(round - 1) * 5 + i - 1],
                "csv_cut_after_" + std::to_string(round) + "_" + std::to_string(i));
    }
  }
  EXPECT_EQ(stats.truncated, 3u);
  EXPECT_GT(cut_line_bytes, 3u * (1000u << 10));  // what was cut is counted
}

}  // namespace
}  // namespace pgagent
