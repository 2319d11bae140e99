#include "collectord/logs/log_enricher.h"

#include <gtest/gtest.h>

#include "collectord/sql/redact.h"

namespace pgagent {
namespace {

using v1::LogEntry;

LogEntry Entry(std::string level, std::string message, std::string sqlstate = "") {
  LogEntry e;
  e.set_level(std::move(level));
  e.set_message(std::move(message));
  e.set_sqlstate(std::move(sqlstate));
  return e;
}

LogEntry Finished(LogEntry e, bool redact = true) {
  auto enricher = LogEnricher::Create(redact, CorrelationOptions{});
  EXPECT_TRUE(enricher.ok());
  std::unordered_map<std::string, std::string> cache;
  EnrichCounters c;
  (*enricher)->Finish(&e, &cache, &c);
  return e;
}

v1::LogEventClass ClassOf(std::string level, std::string message, std::string sqlstate = "") {
  return Finished(Entry(std::move(level), std::move(message), std::move(sqlstate))).event_class();
}

TEST(LogEnricherTest, CommonEventsAreClassified) {
  EXPECT_EQ(ClassOf("LOG", "duration: 1203.5 ms  statement: select pg_sleep(1)"),
            v1::LOG_EVENT_CLASS_SLOW_STATEMENT);
  EXPECT_EQ(ClassOf("ERROR", "deadlock detected", "40P01"), v1::LOG_EVENT_CLASS_DEADLOCK);
  EXPECT_EQ(ClassOf("ERROR", "deadlock detected"), v1::LOG_EVENT_CLASS_DEADLOCK);
  EXPECT_EQ(ClassOf("LOG",
                    "process 123 still waiting for ShareLock on transaction 456 after "
                    "1000.062 ms"),
            v1::LOG_EVENT_CLASS_LOCK_WAIT);
  EXPECT_EQ(ClassOf("LOG", "process 123 acquired ShareLock on transaction 456 after 2.1 ms"),
            v1::LOG_EVENT_CLASS_LOCK_WAIT);
  EXPECT_EQ(ClassOf("LOG", "checkpoint starting: time"), v1::LOG_EVENT_CLASS_CHECKPOINT);
  EXPECT_EQ(ClassOf("LOG", "checkpoint complete: wrote 10 buffers (0.1%)"),
            v1::LOG_EVENT_CLASS_CHECKPOINT);
  EXPECT_EQ(ClassOf("LOG", "automatic vacuum of table \"db.public.t\": index scans: 0"),
            v1::LOG_EVENT_CLASS_AUTOVACUUM);
  EXPECT_EQ(ClassOf("LOG", "automatic analyze of table \"db.public.t\""),
            v1::LOG_EVENT_CLASS_AUTOVACUUM);
  EXPECT_EQ(ClassOf("LOG", "connection received: host=127.0.0.1 port=5555"),
            v1::LOG_EVENT_CLASS_CONNECTION);
  EXPECT_EQ(ClassOf("LOG", "connection authorized: user=a database=b"),
            v1::LOG_EVENT_CLASS_CONNECTION);
  EXPECT_EQ(ClassOf("LOG", "disconnection: session time: 0:00:01.000 user=a"),
            v1::LOG_EVENT_CLASS_CONNECTION);
  EXPECT_EQ(ClassOf("FATAL", "password authentication failed for user \"a\"", "28P01"),
            v1::LOG_EVENT_CLASS_AUTHENTICATION);
  EXPECT_EQ(ClassOf("FATAL", "no pg_hba.conf entry for host \"1.2.3.4\""),
            v1::LOG_EVENT_CLASS_AUTHENTICATION);
  EXPECT_EQ(ClassOf("ERROR", "out of memory", "53200"), v1::LOG_EVENT_CLASS_OUT_OF_MEMORY);
  EXPECT_EQ(ClassOf("LOG", "temporary file: path \"base/pgsql_tmp/pgsql_tmp1.0\", size 1024"),
            v1::LOG_EVENT_CLASS_TEMP_FILE);
  EXPECT_EQ(ClassOf("ERROR", "syntax error at or near \"x\"", "42601"),
            v1::LOG_EVENT_CLASS_SYNTAX_ERROR);
  EXPECT_EQ(ClassOf("ERROR", "syntax error at end of input"), v1::LOG_EVENT_CLASS_SYNTAX_ERROR);
  EXPECT_EQ(ClassOf("ERROR", "x", "23505"), v1::LOG_EVENT_CLASS_CONSTRAINT_ERROR);
  EXPECT_EQ(ClassOf("ERROR",
                    "null value in column \"a\" of relation \"t\" violates not-null "
                    "constraint"),
            v1::LOG_EVENT_CLASS_CONSTRAINT_ERROR);
  EXPECT_EQ(ClassOf("LOG", "database system is ready to accept connections"),
            v1::LOG_EVENT_CLASS_OTHER);
}

TEST(LogEnricherTest, DurationIsReadFromDurationMessages) {
  EXPECT_EQ(ParseDurationMs("duration: 12.345 ms"), 12.345);
  EXPECT_EQ(ParseDurationMs("duration: 0.010 ms  statement: select 1"), 0.010);
  EXPECT_EQ(ParseDurationMs("duration: 7 ms  execute S_1: select 1"), 7.0);
  EXPECT_EQ(ParseDurationMs("duration: x ms"), std::nullopt);
  EXPECT_EQ(ParseDurationMs("duration: 5 s"), std::nullopt);
  EXPECT_EQ(ParseDurationMs("statement: select 1"), std::nullopt);
}

TEST(LogEnricherTest, StatementIsSplitOutOfItsMessage) {
  std::string_view head, sql;
  ASSERT_TRUE(SplitStatementMessage("duration: 1.5 ms  statement: select 1", &head, &sql));
  EXPECT_EQ(head, "duration: 1.5 ms  statement: ");
  EXPECT_EQ(sql, "select 1");
  ASSERT_TRUE(SplitStatementMessage("execute <unnamed>: select $1", &head, &sql));
  EXPECT_EQ(sql, "select $1");
  ASSERT_TRUE(SplitStatementMessage("duration: 2 ms  bind S_1/C_2: select 2", &head, &sql));
  EXPECT_EQ(sql, "select 2");
  EXPECT_FALSE(SplitStatementMessage("duration: 2 ms", &head, &sql));
  EXPECT_FALSE(SplitStatementMessage("checkpoint starting: time", &head, &sql));
}

TEST(LogEnricherTest, DurationStatementFillsTheStatementField) {
  LogEntry e = Finished(Entry("LOG", "duration: 3.5 ms  statement: select * from t where a = 'x'"));
  EXPECT_DOUBLE_EQ(e.duration_ms(), 3.5);
  EXPECT_EQ(e.statement(), "select * from t where a = ?");
  EXPECT_EQ(e.message(), "duration: 3.5 ms  statement: select * from t where a = ?");
}

TEST(LogEnricherTest, BindParametersDeadlockQueriesAndKeyValuesAreRedacted) {
  LogEntry e = Entry("ERROR", "deadlock detected", "40P01");
  e.set_detail(
      "Process 10 waits for ShareLock on transaction 5; blocked by process 11.\n"
      "Process 11 waits for ShareLock on transaction 6; blocked by process 10.\n"
      "Process 10: update t set v = 'secret-a' where id = 1\n"
      "Process 11: update t set v = 'secret-b' where id = 2");
  e = Finished(e);
  EXPECT_EQ(e.detail().find("secret"), std::string::npos) << e.detail();
  EXPECT_NE(e.detail().find("Process 10: update t set v = ? where id = ?"), std::string::npos);
  EXPECT_NE(e.detail().find("blocked by process 11."), std::string::npos);

  LogEntry p = Entry("LOG", "duration: 1 ms  execute S_1: select $1");
  p.set_detail("parameters: $1 = 'card-4111'");
  EXPECT_EQ(Finished(p).detail().find("4111"), std::string::npos);

  LogEntry k = Entry("ERROR", "duplicate key value violates unique constraint \"u\"", "23505");
  k.set_detail("Key (email)=(bob@example.com) already exists.");
  EXPECT_EQ(Finished(k).detail(), "Key (email)=(?) already exists.");

  LogEntry r = Entry("ERROR", "new row violates check constraint \"c\"", "23514");
  r.set_detail("Failing row contains (1, secret).");
  EXPECT_EQ(Finished(r).detail(), "Failing row contains (?).");
}

TEST(LogEnricherTest, ContextSqlAndConnectionStringsAreRedacted) {
  LogEntry e = Entry("ERROR", "could not connect: host=db password=s3cr3t");
  e.set_context("SQL statement \"insert into t values ('s3cr3t')\"\nPL/pgSQL function f() line 3");
  e = Finished(e);
  EXPECT_EQ(e.DebugString().find("s3cr3t"), std::string::npos) << e.DebugString();
  EXPECT_NE(e.context().find("PL/pgSQL function f() line 3"), std::string::npos);
}

TEST(LogEnricherTest, CorrelationIsExtractedBeforeRedaction) {
  LogEntry e = Entry("LOG",
                     "statement: /* correlation:3f2b8c1e-4a5d-4e6f-8a9b-0c1d2e3f4a5b */ "
                     "select 1");
  e = Finished(e);
  EXPECT_EQ(e.correlation_id(), "3f2b8c1e-4a5d-4e6f-8a9b-0c1d2e3f4a5b");
}

TEST(LogEnricherTest, NoCorrelationWhenExtractionIsDisabled) {
  auto enricher = LogEnricher::Create(true, std::nullopt);
  ASSERT_TRUE(enricher.ok());
  LogEntry e = Entry("LOG", "x");
  e.set_application_name("bitville-3f2b8c1e-4a5d-4e6f-8a9b-0c1d2e3f4a5b");
  std::unordered_map<std::string, std::string> cache;
  EnrichCounters c;
  (*enricher)->Finish(&e, &cache, &c);
  EXPECT_FALSE(e.has_correlation_id());
}

TEST(LogEnricherTest, BadCorrelationPatternIsAnError) {
  CorrelationOptions o;
  o.comment_pattern = "([";
  EXPECT_FALSE(LogEnricher::Create(true, o).ok());
}

}  // namespace
}  // namespace pgagent

namespace pgagent {
namespace {

TEST(DefaultCommentCorrelationTest, AgreesWithTheRegexOfTheDefaultPattern) {
  auto extractor = CorrelationExtractor::Create(CorrelationOptions{});
  ASSERT_TRUE(extractor.ok());
  const std::string id = "3f2b8c1e-4a5d-4e6f-8a9b-0c1d2e3f4a5b";
  const std::vector<std::string> texts = {
      "/* correlation:" + id + " */ select 1",
      "select 1 /*correlation:" + id + "*/",
      "select /*\t\ncorrelation:" + id + "\n*/ 1",
      "/* correlation:" + id.substr(0, 35) + " */",
      "/* correlation:" + id + "0 */",
      "/* x correlation:" + id + " */",
      "correlation:" + id + " */",
      "/* correlation:" + id,
      "/* correlation:3F2B8C1E-4A5D-4E6F-8A9B-0C1D2E3F4A5B */",
      "/* correlation:zzzzzzzz-4a5d-4e6f-8a9b-0c1d2e3f4a5b */ /* correlation:" + id + " */",
      "no comment at all",
      "",
  };
  for (const std::string& t : texts) {
    EXPECT_EQ(extractor->FromQuery(t), extractor->FromQueryByRegexForTest(t)) << t;
  }
}

}  // namespace
}  // namespace pgagent
