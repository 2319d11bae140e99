#include "collectord/logs/log_redact.h"

#include <gtest/gtest.h>

#include <string>

namespace pgagent {
namespace {

std::string Text(std::string_view s, int* fail_closed = nullptr) {
  FieldRedactStats stats;
  std::string out = RedactLogText(s, &stats);
  if (fail_closed != nullptr) *fail_closed = stats.fail_closed;
  return out;
}

std::string Detail(std::string_view s) {
  FieldRedactStats stats;
  return RedactLogDetail(s, &stats);
}

std::string Context(std::string_view s, int* fail_closed = nullptr) {
  FieldRedactStats stats;
  std::string out = RedactLogContext(s, &stats);
  if (fail_closed != nullptr) *fail_closed = stats.fail_closed;
  return out;
}

// --- messages and hints ----------------------------------------------------------------------

TEST(RedactLogTextTest, KeepsObjectNamesAfterTheirNoun) {
  EXPECT_EQ(Text(R"(duplicate key value violates unique constraint "t_pkey")"),
            R"(duplicate key value violates unique constraint "t_pkey")");
  EXPECT_EQ(Text(R"(null value in column "c" of relation "t" violates not-null constraint)"),
            R"(null value in column "c" of relation "t" violates not-null constraint)");
  EXPECT_EQ(Text(R"(password authentication failed for user "bob")"),
            R"(password authentication failed for user "bob")");
}

TEST(RedactLogTextTest, MasksQuotedValuesThatAreNotObjectNames) {
  EXPECT_EQ(Text(R"(invalid input syntax for type integer: "secret")"),
            R"(invalid input syntax for type integer: "?")");
  EXPECT_EQ(Text(R"(Token "secret" is invalid.)"), R"(Token "?" is invalid.)");
  EXPECT_EQ(Text(R"(invalid value for parameter "search_path": "se"cret")"),
            R"(invalid value for parameter "search_path": "?")");
}

TEST(RedactLogTextTest, MasksTheStatementFragmentOfSyntaxErrors) {
  EXPECT_EQ(Text(R"(syntax error at or near "'secret'" at character 10)"),
            R"(syntax error at or near "?" at character 10)");
  int fail_closed = 0;
  EXPECT_EQ(Text(R"(unterminated quoted string at or near "'secret)", &fail_closed),
            R"(unterminated quoted string at or near "?)");
  EXPECT_EQ(fail_closed, 1);
  EXPECT_EQ(Text(R"(syntax error at or near "FROM" at character 15)"),
            R"(syntax error at or near "FROM" at character 15)");
}

TEST(RedactLogTextTest, MasksSingleQuotedValuesAndDollarBodiesAndSecrets) {
  EXPECT_EQ(Text("parameters: $1 = 'a''b', $2 = NULL, $3 = 'c\nd'"),
            "parameters: $1 = '?', $2 = NULL, $3 = '?'");
  EXPECT_EQ(Text("x $f$ secret $f$ y"), "x ? y");
  EXPECT_EQ(Text("could not connect: host=h password=hunter2"),
            "could not connect: host=h password=***");
}

TEST(RedactLogTextTest, KeepsNumbersAndPlainProse) {
  const std::string m = "checkpoint complete: wrote 3 buffers (0.0%); 0 WAL file(s) added";
  EXPECT_EQ(Text(m), m);
}

TEST(RedactLogTextTest, MasksJsonDataToTheEndOfItsLine) {
  EXPECT_EQ(Text("JSON data, line 1: {\"a\": secret...\nnext"), "JSON data, line 1: ?\nnext");
}

// --- DETAIL ----------------------------------------------------------------------------------

TEST(RedactLogDetailTest, MasksMultiLineKeyValuesWhole) {
  EXPECT_EQ(Detail("Key (k)=(key_line1\nsecret_key) already exists."),
            "Key (k)=(?) already exists.");
  EXPECT_EQ(Detail("Key (a, b)=(1, x)) is not present in table \"parent\"."),
            "Key (a, b)=(?) is not present in table \"parent\".");
  EXPECT_EQ(Detail("Key (lower(e))=(a) conflicts with existing key (lower(e))=(b)."),
            "Key (lower(e))=(?).");
}

TEST(RedactLogDetailTest, MasksFailingRowsWithParenthesesAndNewlines) {
  EXPECT_EQ(Detail("Failing row contains (1, se)cret\nline2, null)."), "Failing row contains (?).");
}

TEST(RedactLogDetailTest, MasksMultiLineBindParameters) {
  EXPECT_EQ(Detail("parameters: $1 = '1234', $2 = 'abc\ndef', $3 = 'secret'"),
            "parameters: $1 = '?', $2 = '?', $3 = '?'");
}

TEST(RedactLogDetailTest, RedactsThePreparedStatementOfAnExecute) {
  EXPECT_EQ(Detail("prepare: PREPARE p AS SELECT $1::text || 'secret' /* pw */"),
            "prepare: PREPARE p AS SELECT $1::text || ? /* ? */");
}

TEST(RedactLogDetailTest, RedactsEachQueryOfADeadlockReport) {
  EXPECT_EQ(Detail("Process 11 waits for ShareLock on transaction 7; blocked by process 12.\n"
                   "Process 12 waits for ShareLock on transaction 8; blocked by process 11.\n"
                   "Process 11: UPDATE t SET v = 'a\nsecret' WHERE id = 1\n"
                   "Process 12: UPDATE t SET v = 'b' WHERE id = 2"),
            "Process 11 waits for ShareLock on transaction 7; blocked by process 12.\n"
            "Process 12 waits for ShareLock on transaction 8; blocked by process 11.\n"
            "Process 11: UPDATE t SET v = ? WHERE id = ?\n"
            "Process 12: UPDATE t SET v = ? WHERE id = ?");
}

// --- CONTEXT ---------------------------------------------------------------------------------

TEST(RedactLogContextTest, RedactsMultiLineSqlStatementFramesAndKeepsFunctionFrames) {
  EXPECT_EQ(Context("SQL statement \"INSERT INTO t\n       VALUES ('secret'), (42)\"\n"
                    "PL/pgSQL function f(text) line 3 at SQL statement"),
            "SQL statement \"INSERT INTO t\n       VALUES (?), (?)\"\n"
            "PL/pgSQL function f(text) line 3 at SQL statement");
}

TEST(RedactLogContextTest, FindsTheFrameEndPastQuotedIdentifiersAndStringsWithQuotes) {
  EXPECT_EQ(Context("SQL statement \"SELECT \"a\"\nFROM t WHERE b = 'x\"\ny'\"\n"
                    "PL/pgSQL function g() line 2 at PERFORM"),
            "SQL statement \"SELECT \"a\"\nFROM t WHERE b = ?\"\n"
            "PL/pgSQL function g() line 2 at PERFORM");
}

TEST(RedactLogContextTest, MasksPortalParametersAndCopyData) {
  EXPECT_EQ(Context("unnamed portal with parameters: $1 = 'se\ncret', $2 = '2'"),
            "unnamed portal with parameters: $1 = '?', $2 = '?'");
  EXPECT_EQ(Context("COPY t, line 1, column a: \"secret\""), "COPY t, line 1, column a: \"?\"");
}

TEST(RedactLogContextTest, FailsClosedWhenAFrameNeverEnds) {
  int fail_closed = 0;
  const std::string out = Context("SQL statement \"SELECT 'secret\nmore secret", &fail_closed);
  EXPECT_EQ(out.find("secret"), std::string::npos) << out;
  EXPECT_GE(fail_closed, 1);
}

}  // namespace
}  // namespace pgagent
