#include "collectord/pg/query_text.h"

#include <gtest/gtest.h>

#include "collectord/pg/pg_session.h"
#include "collectord/sql/redact.h"

namespace pgagent {
namespace {

const char kUuid[] = "0f8fad5b-d9cb-469f-a165-70867728950e";

class QueryTextTest : public ::testing::Test {
 protected:
  CorrelationExtractor extractor_ = CorrelationExtractor::Create({}).value();
};

TEST_F(QueryTextTest, ExtractsCorrelationBeforeRedactionAndTruncation) {
  std::string sql =
      "SELECT * FROM t WHERE name = 'secret' /* correlation:" + std::string(kUuid) + " */";
  auto q = ProcessQueryText(&extractor_, "", sql, false, {20, false});
  ASSERT_TRUE(q.correlation_id.has_value());
  EXPECT_EQ(*q.correlation_id, kUuid);
  EXPECT_TRUE(q.truncated);
  EXPECT_LE(q.text.size(), 20u);
  EXPECT_EQ(q.text.find("secret"), std::string::npos);
}

TEST_F(QueryTextTest, ApplicationNameCarriesTheId) {
  auto q = ProcessQueryText(&extractor_, "bitville-" + std::string(kUuid), "SELECT 1", false, {});
  ASSERT_TRUE(q.correlation_id.has_value());
  EXPECT_EQ(*q.correlation_id, kUuid);
}

TEST_F(QueryTextTest, LiteralsAreRedactedByDefault) {
  auto q = ProcessQueryText(&extractor_, "", "SELECT 'password123', 42", false, {});
  EXPECT_EQ(q.text.find("password123"), std::string::npos);
  EXPECT_EQ(q.text.find("42"), std::string::npos);
  EXPECT_FALSE(q.truncated);
}

TEST_F(QueryTextTest, RawTextWhenConfigured) {
  auto q = ProcessQueryText(&extractor_, "", "SELECT 'x'", false, {100, true});
  EXPECT_EQ(q.text, "SELECT 'x'");
}

TEST_F(QueryTextTest, ServerCutInsideALiteralIsStillRedactedNotFailed) {
  auto q = ProcessQueryText(&extractor_, "", "SELECT * FROM t WHERE a = 'abc", true, {});
  EXPECT_FALSE(q.redaction_failed);
  EXPECT_EQ(q.text.find("abc"), std::string::npos);
  EXPECT_TRUE(q.truncated);
}

TEST_F(QueryTextTest, MalformedTextFailsClosed) {
  auto q = ProcessQueryText(&extractor_, "", "SELECT 'abc", false, {});
  EXPECT_TRUE(q.redaction_failed);
  EXPECT_EQ(q.text, "SELECT ?");
}

TEST_F(QueryTextTest, ServerCutInsideADollarBodyOrCommentIsMasked) {
  auto body = ProcessQueryText(&extractor_, "", "DO $$BEGIN PERFORM 'secret", true, {});
  EXPECT_FALSE(body.redaction_failed);
  EXPECT_EQ(body.text, "DO ?");
  auto comment = ProcessQueryText(&extractor_, "", "SELECT 1 /* password=secret", true, {});
  EXPECT_EQ(comment.text, "SELECT ? /* ?");
}

TEST_F(QueryTextTest, UtilityStatementsKeptVerbatimByPgssLoseTheirSecrets) {
  for (const char* raw :
       {"ALTER ROLE x PASSWORD 'secret'", "CREATE ROLE x LOGIN ENCRYPTED PASSWORD $p$secret$p$",
        "CREATE USER MAPPING FOR u SERVER s OPTIONS (user 'u', password 'secret')",
        "SELECT dblink_connect('host=h password=secret')", "SELECT 1 /* password=secret */",
        "ALTER USER MAPPING FOR u SERVER s OPTIONS (SET password 'secret'"}) {
    auto q = ProcessQueryText(&extractor_, "", raw, false, {});
    EXPECT_EQ(q.text.find("secret"), std::string::npos) << raw << " -> " << q.text;
  }
}

TEST_F(QueryTextTest, KeepsPgagentsOwnQueryTag) {
  const std::string raw = std::string(kPgagentQueryTag) + "SELECT 1 FROM t /* other */";
  auto q = ProcessQueryText(&extractor_, "", raw, false, {});
  EXPECT_EQ(q.text, std::string(kPgagentQueryTag) + "SELECT ? FROM t /* ? */");
}

TEST_F(QueryTextTest, InsufficientPrivilegeIsPassedThrough) {
  auto q = ProcessQueryText(&extractor_, "", kInsufficientPrivilege, false, {});
  EXPECT_EQ(q.text, kInsufficientPrivilege);
}

TEST_F(QueryTextTest, NullExtractorYieldsNoId) {
  auto q = ProcessQueryText(nullptr, "bitville-" + std::string(kUuid), "SELECT 1", false, {});
  EXPECT_FALSE(q.correlation_id.has_value());
}

TEST(Utf8PrefixTest, NeverCutsInsideAMultiByteSequence) {
  std::string s = "ab\xC3\xA9";  // "abé"
  EXPECT_EQ(Utf8Prefix(s, 3), "ab");
  EXPECT_EQ(Utf8Prefix(s, 4), s);
  EXPECT_EQ(Utf8Prefix(s, 2), "ab");
  std::string euro = "\xE2\x82\xAC";
  EXPECT_EQ(Utf8Prefix(euro, 2), "");
}

}  // namespace
}  // namespace pgagent
