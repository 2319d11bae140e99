#include "common/log.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace pgagent::log {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr int64_t kNewYear2026Ms = 1767225600123;  // 2026-01-01T00:00:00.123Z

TEST(LogFormatTest, ALineIsOneJsonObjectWithTsLevelComponentEventAndFields) {
  const std::string line = FormatLine(Level::kWarn, "collectord", "db.reconnect",
                                      {{"attempt", 3},
                                       {"error", "connection refused"},
                                       {"ok", false},
                                       {"lag_s", 1.5},
                                       {"bytes", uint64_t{18446744073709551615u}},
                                       {"delta", -7L}},
                                      kNewYear2026Ms);
  EXPECT_EQ(line,
            "{\"ts\":\"2026-01-01T00:00:00.123Z\",\"level\":\"warn\",\"component\":\"collectord\","
            "\"event\":\"db.reconnect\",\"attempt\":3,\"error\":\"connection refused\","
            "\"ok\":false,\"lag_s\":1.5,\"bytes\":18446744073709551615,\"delta\":-7}");
}

TEST(LogFormatTest, EveryLevelHasItsName) {
  EXPECT_THAT(FormatLine(Level::kDebug, "c", "e", {}, 0), HasSubstr("\"level\":\"debug\""));
  EXPECT_THAT(FormatLine(Level::kInfo, "c", "e", {}, 0), HasSubstr("\"level\":\"info\""));
  EXPECT_THAT(FormatLine(Level::kError, "c", "e", {}, 0), HasSubstr("\"level\":\"error\""));
  EXPECT_THAT(FormatLine(Level::kInfo, "c", "e", {}, 0),
              HasSubstr("\"ts\":\"1970-01-01T00:00:00.000Z\""));
}

TEST(LogFormatTest, SecretFieldsAreRedactedWhateverTheirValue) {
  const std::string line = FormatLine(Level::kInfo, "shipperd", "config.loaded",
                                      {{"password", "hunter2"},
                                       {"db_password", "hunter3"},
                                       {"API_KEY", "k-1"},
                                       {"Authorization", "Bearer k-2"},
                                       {"token", 42},
                                       {"client_secret", true},
                                       {"credentials_dir", "/run/credentials"},
                                       {"host", "db1"}},
                                      kNewYear2026Ms);
  for (const char* secret : {"hunter2", "hunter3", "k-1", "k-2", "42", "/run/credentials"}) {
    EXPECT_THAT(line, Not(HasSubstr(secret))) << secret;
  }
  EXPECT_THAT(line, HasSubstr("\"password\":\"[redacted]\""));
  EXPECT_THAT(line, HasSubstr("\"API_KEY\":\"[redacted]\""));
  EXPECT_THAT(line, HasSubstr("\"client_secret\":\"[redacted]\""));
  EXPECT_THAT(line, HasSubstr("\"host\":\"db1\""));
}

TEST(LogFormatTest, IsSecretKeyMatchesSecretWordsCaseInsensitively) {
  for (const char* key : {"password", "PASSWD", "api_key", "apiKey", "x_token", "Secret",
                          "authorization", "credential"}) {
    EXPECT_TRUE(IsSecretKey(key)) << key;
  }
  for (const char* key : {"host", "port", "user", "event", "path"}) {
    EXPECT_FALSE(IsSecretKey(key)) << key;
  }
}

TEST(LogFormatTest, InvalidUtf8IsReplacedAndControlCharactersEscaped) {
  const std::string line =
      FormatLine(Level::kInfo, "c", "e\xff",
                 {{"text", std::string("a\xc3(b\x80\"q\"\n\t\x01\\ ok\xc3\xa9")}}, 0);
  EXPECT_THAT(line, HasSubstr("\"event\":\"e\xEF\xBF\xBD\""));
  EXPECT_THAT(line, HasSubstr("\"text\":\"a\xEF\xBF\xBD(b\xEF\xBF\xBD\\\"q\\\"\\n\\t\\u0001\\\\ "
                              "ok\xc3\xa9\""));
}

TEST(LogFormatTest, NonFiniteNumbersBecomeNull) {
  const std::string line =
      FormatLine(Level::kInfo, "c", "e",
                 {{"nan", std::nan("")}, {"inf", std::numeric_limits<double>::infinity()}}, 0);
  EXPECT_THAT(line, HasSubstr("\"nan\":null,\"inf\":null}"));
}

TEST(LogLevelTest, ParseLevelKnowsTheNamesAndFallsBackToInfo) {
  EXPECT_EQ(ParseLevel("debug"), Level::kDebug);
  EXPECT_EQ(ParseLevel("INFO"), Level::kInfo);
  EXPECT_EQ(ParseLevel("warn"), Level::kWarn);
  EXPECT_EQ(ParseLevel("Warning"), Level::kWarn);
  EXPECT_EQ(ParseLevel("error"), Level::kError);
  EXPECT_EQ(ParseLevel("off"), Level::kOff);
  EXPECT_EQ(ParseLevel("verbose"), Level::kInfo);
}

class LogSinkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SetSinkForTest([this](const std::string& line) { lines_.push_back(line); });
  }
  void TearDown() override {
    SetSinkForTest(nullptr);
    Init("pgagent", Level::kInfo);
  }
  std::vector<std::string> lines_;
};

TEST_F(LogSinkTest, LinesBelowTheMinimumLevelAreDropped) {
  Init("collectord", Level::kWarn);
  Debug("a.debug");
  Info("a.info");
  Warn("a.warn", {{"n", 1}});
  Error("a.error");
  ASSERT_EQ(lines_.size(), 2u);
  EXPECT_THAT(lines_[0], HasSubstr("\"level\":\"warn\",\"component\":\"collectord\","
                                   "\"event\":\"a.warn\",\"n\":1}"));
  EXPECT_THAT(lines_[1], HasSubstr("\"event\":\"a.error\""));
}

TEST_F(LogSinkTest, SetLevelChangesTheFilterAtRuntime) {
  Init("shipperd", Level::kError);
  Info("before");
  SetLevel(Level::kDebug);
  Debug("after");
  SetLevel(Level::kOff);
  Error("silenced");
  ASSERT_EQ(lines_.size(), 1u);
  EXPECT_THAT(lines_[0], HasSubstr("\"event\":\"after\""));
}

TEST_F(LogSinkTest, AnEmittedLineIsExactlyOneLineOfJson) {
  Init("collectord", Level::kInfo);
  Info("multi", {{"text", "line1\nline2"}, {"password", "p"}});
  ASSERT_EQ(lines_.size(), 1u);
  EXPECT_THAT(lines_[0], Not(HasSubstr("\n")));
  EXPECT_EQ(lines_[0].front(), '{');
  EXPECT_EQ(lines_[0].back(), '}');
  EXPECT_THAT(lines_[0], HasSubstr("\"password\":\"[redacted]\""));
}

}  // namespace
}  // namespace pgagent::log
