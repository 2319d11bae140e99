#include "collectord/logs/statement_summarizer.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "collectord/logtail/fingerprint.h"
#include "tests/fakes/fake_clock.h"

namespace pgagent {
namespace {

using namespace std::chrono_literals;
using pgagent::v1::LogEntry;

// "duration: <ms> ms  statement: <sql>" as the enricher leaves it.
AssembledEntry Statement(double ms, const std::string& sql, uint64_t end_offset,
                         const std::string& db = "app", const std::string& user = "web") {
  AssembledEntry a;
  LogEntry& e = a.entry;
  e.set_level("LOG");
  e.set_parsed(true);
  e.set_database(db);
  e.set_user(user);
  e.set_duration_ms(ms);
  e.set_statement(sql);
  e.set_message("duration: " + std::to_string(ms) + " ms  statement: " + sql);
  e.set_event_class(pgagent::v1::LOG_EVENT_CLASS_SLOW_STATEMENT);
  a.end_offset = end_offset;
  return a;
}

class StatementSummarizerTest : public ::testing::Test {
 protected:
  StatementSummarizerOptions Options() {
    StatementSummarizerOptions o;
    o.interval = 60s;
    o.slow_ms = 100;
    o.text_hash = &logtail::Fingerprint;
    return o;
  }
  static std::vector<const LogEntry*> Summaries(const std::vector<AssembledEntry>& v) {
    std::vector<const LogEntry*> out;
    for (const auto& a : v) {
      if (a.entry.has_statement_summary()) out.push_back(&a.entry);
    }
    return out;
  }
  static const LogEntry* Accounting(const std::vector<AssembledEntry>& v) {
    for (const auto& a : v) {
      if (a.entry.has_log_accounting()) return &a.entry;
    }
    return nullptr;
  }

  FakeClock clock_;
};

TEST_F(StatementSummarizerTest, FastUntaggedStatementsAreFoldedAndEverythingElseIsShipped) {
  StatementSummarizer s(clock_, Options());
  std::vector<AssembledEntry> in;
  in.push_back(Statement(0.2, "SELECT * FROM t WHERE id = ?", 10));
  in.push_back(Statement(250, "SELECT pg_sleep(?)", 20));  // slow
  AssembledEntry tagged = Statement(0.3, "SELECT ? /* correlation:x */", 30);
  tagged.entry.set_correlation_id("6f1c6a4e-0000-4000-8000-000000000001");
  in.push_back(tagged);
  AssembledEntry warning = Statement(0.1, "SELECT ?", 40);
  warning.entry.set_level("WARNING");
  in.push_back(warning);
  AssembledEntry checkpoint;
  checkpoint.entry.set_level("LOG");
  checkpoint.entry.set_parsed(true);
  checkpoint.entry.set_message("checkpoint complete: wrote 3 buffers");
  checkpoint.entry.set_event_class(pgagent::v1::LOG_EVENT_CLASS_CHECKPOINT);
  checkpoint.end_offset = 50;
  in.push_back(checkpoint);
  AssembledEntry lock_wait = Statement(1000.5, "UPDATE t SET x = ?", 60);
  lock_wait.entry.set_event_class(pgagent::v1::LOG_EVENT_CLASS_LOCK_WAIT);
  in.push_back(lock_wait);
  AssembledEntry cut = Statement(0.1, "SELECT ?", 70);
  cut.entry.set_truncated(true);
  in.push_back(cut);
  s.Process(&in, false);
  ASSERT_EQ(in.size(), 6u);
  EXPECT_EQ(in[0].entry.statement(), "SELECT pg_sleep(?)");
  EXPECT_TRUE(in[1].entry.has_correlation_id());
  EXPECT_EQ(in[2].entry.level(), "WARNING");
  EXPECT_EQ(in[3].entry.event_class(), pgagent::v1::LOG_EVENT_CLASS_CHECKPOINT);
  EXPECT_EQ(in[4].entry.event_class(), pgagent::v1::LOG_EVENT_CLASS_LOCK_WAIT);
  EXPECT_TRUE(in[5].entry.truncated());
  EXPECT_EQ(s.open_groups(), 1u);
}

TEST_F(StatementSummarizerTest, AStatementAtTheThresholdIsShipped) {
  StatementSummarizer s(clock_, Options());
  std::vector<AssembledEntry> in = {Statement(99.99, "SELECT ?", 1), Statement(100, "SELECT ?", 2)};
  s.Process(&in, false);
  ASSERT_EQ(in.size(), 1u);
  EXPECT_EQ(in[0].entry.duration_ms(), 100);
}

TEST_F(StatementSummarizerTest, AnIntervalEndsWithOneSummaryPerGroupAndExactAccounting) {
  StatementSummarizer s(clock_, Options());
  std::vector<AssembledEntry> in;
  uint64_t offset = 0;
  for (int i = 1; i <= 100; ++i)
    in.push_back(Statement(i * 0.1, "SELECT a FROM t WHERE id = ?", ++offset));
  for (int i = 0; i < 10; ++i)
    in.push_back(Statement(1, "SELECT a FROM t WHERE id = ?", ++offset, "other"));
  for (int i = 0; i < 5; ++i) in.push_back(Statement(2, "UPDATE t SET a = ?", ++offset));
  in.push_back(Statement(500, "SELECT slow()", ++offset));
  s.Process(&in, false);
  ASSERT_EQ(in.size(), 1u);  // only the slow one; the interval is still open
  clock_.Advance(59s);
  std::vector<AssembledEntry> none;
  s.Process(&none, false);
  EXPECT_TRUE(none.empty());
  clock_.Advance(1s);
  s.Process(&none, false);
  const auto summaries = Summaries(none);
  ASSERT_EQ(summaries.size(), 3u);
  const LogEntry* acc = Accounting(none);
  ASSERT_NE(acc, nullptr);
  EXPECT_EQ(acc->log_accounting().lines_read(), 116u);
  EXPECT_EQ(acc->log_accounting().lines_shipped(), 1u);
  EXPECT_EQ(acc->log_accounting().lines_summarized(), 115u);
  EXPECT_EQ(acc->log_accounting().lines_read(),
            acc->log_accounting().lines_shipped() + acc->log_accounting().lines_summarized());
  EXPECT_DOUBLE_EQ(acc->log_accounting().interval_s(), 60);
  EXPECT_EQ(acc->log_accounting().summaries(), 3u);
  uint32_t folded = 0;
  for (const LogEntry* e : summaries) {
    folded += e->statement_summary().count();
    EXPECT_EQ(e->event_class(), pgagent::v1::LOG_EVENT_CLASS_STATEMENT_SUMMARY);
    EXPECT_EQ(e->level(), "LOG");
    EXPECT_FALSE(e->has_correlation_id());
  }
  EXPECT_EQ(folded, 115u);
  // Every entry the interval produced ends where the last entry read ended.
  for (const auto& a : none) EXPECT_EQ(a.end_offset, offset);
  EXPECT_EQ(s.stats().lines_read, 116u);
  EXPECT_EQ(s.stats().lines_summarized, 115u);
  EXPECT_EQ(s.open_groups(), 0u);
}

TEST_F(StatementSummarizerTest, DurationsGiveTotalMinMaxAndPercentilesWithinTwoPercent) {
  StatementSummarizer s(clock_, Options());
  std::vector<AssembledEntry> in;
  for (int i = 1; i <= 1000; ++i) in.push_back(Statement(i * 0.05, "SELECT ?", i));  // 0.05..50
  s.Process(&in, true);
  const auto summaries = Summaries(in);
  ASSERT_EQ(summaries.size(), 1u);
  const auto& sum = summaries[0]->statement_summary();
  EXPECT_EQ(sum.count(), 1000u);
  EXPECT_NEAR(sum.total_ms(), 0.05 * 1000 * 1001 / 2, 1e-6);
  EXPECT_DOUBLE_EQ(sum.min_ms(), 0.05);
  EXPECT_DOUBLE_EQ(sum.max_ms(), 50);
  EXPECT_NEAR(sum.p50_ms(), 25.0, 25.0 * 0.02);
  EXPECT_NEAR(sum.p95_ms(), 47.5, 47.5 * 0.02);
  EXPECT_NEAR(sum.p99_ms(), 49.5, 49.5 * 0.02);
}

TEST_F(StatementSummarizerTest, GroupsAreKeyedByDatabaseRoleAndQueryIdWhenTheLogHasIt) {
  StatementSummarizer s(clock_, Options());
  std::vector<AssembledEntry> in;
  AssembledEntry a = Statement(1, "SELECT ? FROM t", 1);
  a.entry.set_query_id(-4242);
  AssembledEntry b = Statement(1, "select   ?  from t", 2);  // other text, same query id
  b.entry.set_query_id(-4242);
  in = {a, b, Statement(1, "SELECT ? FROM t", 3, "app", "batch")};
  s.Process(&in, true);
  const auto summaries = Summaries(in);
  ASSERT_EQ(summaries.size(), 2u);
  int by_query_id = 0;
  for (const LogEntry* e : summaries) {
    if (e->statement_summary().fingerprint() == "query_id:-4242") {
      ++by_query_id;
      EXPECT_EQ(e->statement_summary().count(), 2u);
      EXPECT_EQ(e->query_id(), -4242);
      EXPECT_EQ(e->user(), "web");
    } else {
      EXPECT_EQ(e->statement_summary().fingerprint().rfind("text:", 0), 0u);
      EXPECT_EQ(e->user(), "batch");
    }
  }
  EXPECT_EQ(by_query_id, 1);
}

TEST_F(StatementSummarizerTest, TheExampleIsRedactedEvenWhenRawTextIsSent) {
  StatementSummarizerOptions o = Options();
  o.statements_redacted = false;  // send_raw_query_text = true
  StatementSummarizer s(clock_, o);
  std::vector<AssembledEntry> in = {Statement(1, "SELECT * FROM users WHERE email = 'a@b.c'", 1),
                                    Statement(1, "SELECT * FROM users WHERE email = 'x@y.z'", 2)};
  s.Process(&in, true);
  const auto summaries = Summaries(in);
  ASSERT_EQ(summaries.size(), 1u);  // one fingerprint: the redacted text is the same
  EXPECT_EQ(summaries[0]->statement(), "SELECT * FROM users WHERE email = ?");
  EXPECT_EQ(summaries[0]->statement_summary().count(), 2u);
}

TEST_F(StatementSummarizerTest, AFlushEndsTheIntervalEarlyAndAnEmptyIntervalEmitsNothing) {
  StatementSummarizer s(clock_, Options());
  std::vector<AssembledEntry> none;
  s.Process(&none, true);
  EXPECT_TRUE(none.empty());
  std::vector<AssembledEntry> in = {Statement(1, "SELECT ?", 7)};
  clock_.Advance(5s);
  s.Process(&in, false);
  EXPECT_TRUE(in.empty());
  clock_.Advance(2s);
  s.Process(&in, true);  // the file ended
  ASSERT_EQ(in.size(), 2u);
  EXPECT_DOUBLE_EQ(Accounting(in)->log_accounting().interval_s(), 2);
  EXPECT_EQ(in.back().end_offset, 7u);
}

TEST_F(StatementSummarizerTest, AnEntryThatWouldOpenOneGroupTooManyIsShippedAndCounted) {
  StatementSummarizerOptions o = Options();
  o.max_groups = 2;
  StatementSummarizer s(clock_, o);
  std::vector<AssembledEntry> in = {Statement(1, "SELECT 1", 1), Statement(1, "SELECT 2", 2),
                                    Statement(1, "SELECT 3", 3), Statement(1, "SELECT 1", 4)};
  s.Process(&in, false);
  ASSERT_EQ(in.size(), 1u);
  EXPECT_EQ(in[0].entry.statement(), "SELECT 3");
  EXPECT_EQ(s.stats().group_overflows, 1u);
  std::vector<AssembledEntry> end;
  s.Process(&end, true);
  const LogEntry* acc = Accounting(end);
  ASSERT_NE(acc, nullptr);
  EXPECT_EQ(acc->log_accounting().lines_read(), 4u);
  EXPECT_EQ(acc->log_accounting().lines_shipped(), 1u);
  EXPECT_EQ(acc->log_accounting().lines_summarized(), 3u);
}

TEST_F(StatementSummarizerTest, SummariesComeWhereTheIntervalEndedInFileOrder) {
  StatementSummarizer s(clock_, Options());
  std::vector<AssembledEntry> in = {Statement(1, "SELECT ?", 1)};
  s.Process(&in, false);
  clock_.Advance(61s);
  in = {Statement(500, "SELECT slow()", 2), Statement(1, "SELECT ?", 3)};
  s.Process(&in, false);
  // The old interval's summary and accounting first (ending at offset 1), then the slow
  // entry of the new interval.
  ASSERT_EQ(in.size(), 3u);
  EXPECT_TRUE(in[0].entry.has_statement_summary());
  EXPECT_EQ(in[0].end_offset, 1u);
  EXPECT_TRUE(in[1].entry.has_log_accounting());
  EXPECT_EQ(in[2].entry.statement(), "SELECT slow()");
  EXPECT_EQ(s.open_groups(), 1u);
}

}  // namespace
}  // namespace pgagent
