#include "collectord/logs/stderr_prefix.h"

#include <gtest/gtest.h>

#include <string>

namespace pgagent {
namespace {

using F = PrefixField;

StderrLine MustMatch(std::string_view prefix, std::string_view line) {
  auto m = StderrPrefixMatcher::Compile(prefix);
  EXPECT_TRUE(m.ok()) << m.status().ToString();
  StderrLine out;
  EXPECT_TRUE((*m)->Match(line, &out)) << "prefix '" << prefix << "' line '" << line << "'";
  return out;
}

bool Matches(std::string_view prefix, std::string_view line) {
  auto m = StderrPrefixMatcher::Compile(prefix);
  StderrLine out;
  return m.ok() && (*m)->Match(line, &out);
}

TEST(StderrPrefixMatcherTest, DefaultPrefixSplitsTimestampPidLevelAndMessage) {
  StderrLine l =
      MustMatch("%m [%p] ", "2026-11-27 10:26:01.123 UTC [4242] LOG:  checkpoint starting: time");
  EXPECT_EQ(l.Get(F::kTimestampMs), "2026-11-27 10:26:01.123 UTC");
  EXPECT_EQ(l.Get(F::kPid), "4242");
  EXPECT_EQ(l.level, "LOG");
  EXPECT_EQ(l.message, "checkpoint starting: time");
}

TEST(StderrPrefixMatcherTest, HarnessPrefixReadsSessionFields) {
  StderrLine l = MustMatch("%m [%p] %q%u@%d %a ",
                           "2026-11-27 10:26:01.123 UTC [77] alice@shop psql ERROR:  boom");
  EXPECT_EQ(l.Get(F::kUser), "alice");
  EXPECT_EQ(l.Get(F::kDatabase), "shop");
  EXPECT_EQ(l.Get(F::kApplicationName), "psql");
  EXPECT_EQ(l.level, "ERROR");
  EXPECT_EQ(l.message, "boom");
}

TEST(StderrPrefixMatcherTest, SessionStopLetsBackgroundProcessesOmitTheRest) {
  StderrLine l = MustMatch("%m [%p] %q%u@%d %a ",
                           "2026-11-27 10:26:01.123 UTC [12] LOG:  checkpoint complete: wrote 3");
  EXPECT_EQ(l.level, "LOG");
  EXPECT_FALSE(l.Has(F::kUser));
  EXPECT_EQ(l.message, "checkpoint complete: wrote 3");
}

TEST(StderrPrefixMatcherTest, ApplicationNameHoldingTheDelimiterStillParses) {
  StderrLine l = MustMatch("%m [%p] %q%u@%d %a ",
                           "2026-11-27 10:26:01.123 UTC [77] bob@db my app v2 LOG:  statement: x");
  EXPECT_EQ(l.Get(F::kApplicationName), "my app v2");
  EXPECT_EQ(l.message, "statement: x");
}

TEST(StderrPrefixMatcherTest, EmptySessionFieldsAreAccepted) {
  StderrLine l = MustMatch("%m [%p] %q%u@%d %a ", "2026-11-27 10:26:01.123 UTC [77] @  LOG:  x");
  EXPECT_EQ(l.Get(F::kUser), "");
  EXPECT_EQ(l.Get(F::kApplicationName), "");
  EXPECT_EQ(l.level, "LOG");
}

TEST(StderrPrefixMatcherTest, ClassicTimestampUserDatabasePrefix) {
  StderrLine l = MustMatch("%t [%p]: [%l-1] user=%u,db=%d,app=%a,client=%h ",
                           "2026-11-27 10:26:01 CET [900]: [3-1] user=u1,db=d1,app=pgbench,"
                           "client=10.0.0.5 LOG:  duration: 1.5 ms");
  EXPECT_EQ(l.Get(F::kTimestamp), "2026-11-27 10:26:01 CET");
  EXPECT_EQ(l.Get(F::kLineNum), "3");
  EXPECT_EQ(l.Get(F::kRemoteHost), "10.0.0.5");
  EXPECT_EQ(l.message, "duration: 1.5 ms");
}

TEST(StderrPrefixMatcherTest, EveryEscapeIsUnderstood) {
  StderrLine l = MustMatch(
      "%m|%n|%p|%P|%c|%l|%s|%v|%x|%e|%Q|%i|%b|%r|%h|%u|%d|%a|%%|",
      "2026-11-27 10:26:01.123 +01|1795775161.123|55|54|6746f0a1.37|9|2026-11-27 10:00:00 +01|"
      "3/12|0|42601|-7011|SELECT|client backend|[local]|[local]|u|d|a|%|ERROR:  syntax error");
  EXPECT_EQ(l.Get(F::kEpoch), "1795775161.123");
  EXPECT_EQ(l.Get(F::kLeaderPid), "54");
  EXPECT_EQ(l.Get(F::kSessionId), "6746f0a1.37");
  EXPECT_EQ(l.Get(F::kSessionStart), "2026-11-27 10:00:00 +01");
  EXPECT_EQ(l.Get(F::kVxid), "3/12");
  EXPECT_EQ(l.Get(F::kSqlstate), "42601");
  EXPECT_EQ(l.Get(F::kQueryId), "-7011");
  EXPECT_EQ(l.Get(F::kCommandTag), "SELECT");
  EXPECT_EQ(l.Get(F::kBackendType), "client backend");
  EXPECT_EQ(l.Get(F::kRemoteHostPort), "[local]");
  EXPECT_EQ(l.level, "ERROR");
}

TEST(StderrPrefixMatcherTest, PaddedFieldsAreTrimmed) {
  StderrLine l = MustMatch("%-10a|%8p|%-6u ", "psql      |     123|bob    LOG:  hi");
  EXPECT_EQ(l.Get(F::kApplicationName), "psql");
  EXPECT_EQ(l.Get(F::kPid), "123");
  EXPECT_EQ(l.Get(F::kUser), "bob");
}

TEST(StderrPrefixMatcherTest, RemoteHostWithPortAndEmptyPrefix) {
  EXPECT_EQ(MustMatch("%r ", "127.0.0.1(54321) LOG:  x").Get(F::kRemoteHostPort),
            "127.0.0.1(54321)");
  StderrLine l = MustMatch("", "WARNING:  no prefix");
  EXPECT_EQ(l.level, "WARNING");
  EXPECT_EQ(l.message, "no prefix");
}

TEST(StderrPrefixMatcherTest, FreeTextFieldLastBeforeTheLevel) {
  StderrLine l = MustMatch("[%p] %a", "[5] my appLOG:  x");
  EXPECT_EQ(l.Get(F::kApplicationName), "my app");
}

TEST(StderrPrefixMatcherTest, AllSeveritiesAndFollowUpsAreKnown) {
  for (const char* level :
       {"LOG", "ERROR", "FATAL", "PANIC", "WARNING", "NOTICE", "INFO", "DEBUG1", "DEBUG5", "DETAIL",
        "HINT", "CONTEXT", "STATEMENT", "QUERY", "LOCATION"}) {
    EXPECT_TRUE(Matches("[%p] ", std::string("[1] ") + level + ":  m")) << level;
  }
  EXPECT_FALSE(Matches("[%p] ", "[1] DEBUG6:  m"));
  EXPECT_FALSE(Matches("[%p] ", "[1] BANANA:  m"));
}

TEST(StderrPrefixMatcherTest, LinesThatDoNotFitThePrefixAreRejected) {
  EXPECT_FALSE(Matches("%m [%p] ", "2026-11-27 10:26:01 UTC [1] LOG:  no millis"));
  EXPECT_FALSE(Matches("%m [%p] ", "garbage"));
  EXPECT_FALSE(Matches("%m [%p] ", ""));
  EXPECT_FALSE(Matches("%m [%p] ", "2026-11-27 10:26:01.123 UTC [x] LOG:  pid not numeric"));
  EXPECT_FALSE(Matches("%m [%p] ", "\tcontinuation"));
}

TEST(StderrPrefixMatcherTest, AdjacentFreeTextEscapesAreRefused) {
  EXPECT_FALSE(StderrPrefixMatcher::Compile("%u%d ").ok());
}

TEST(StderrPrefixMatcherTest, TrailingPercentAndUnknownEscapesAreHarmless) {
  EXPECT_TRUE(Matches("%z[%p] %", "[1] %LOG:  x"));
}

TEST(StderrPrefixMatcherTest, HostileLineWithManyDelimitersStaysBounded) {
  std::string line = "2026-11-27 10:26:01.123 UTC [1] a@b ";
  line += std::string(200000, ' ');
  auto m = StderrPrefixMatcher::Compile("%m [%p] %q%u@%d %a ");
  ASSERT_TRUE(m.ok());
  StderrLine out;
  EXPECT_FALSE((*m)->Match(line, &out));
}

}  // namespace
}  // namespace pgagent
