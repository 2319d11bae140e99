#include "collectord/logs/explain_redact.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

namespace pgagent {
namespace {

std::string Fixture(const std::string& name) {
  std::ifstream in(std::string(PGAGENT_SOURCE_DIR) + "/tests/collectord/logs/fixtures/" + name);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

std::optional<std::string> Plan(std::string_view plan, int* fail_closed = nullptr) {
  FieldRedactStats stats;
  auto out = RedactExplainPlan(plan, &stats);
  if (fail_closed != nullptr) *fail_closed = stats.fail_closed;
  return out;
}

void ExpectNoLiteral(const std::string& out) {
  for (const char* secret : {"SECRET", "98765"}) {
    EXPECT_EQ(out.find(secret), std::string::npos) << secret << " in:\n" << out;
  }
}

class ExplainFormatTest : public ::testing::TestWithParam<std::string> {};

TEST_P(ExplainFormatTest, RedactsEveryLiteralOfARealPlanAndKeepsItsNumbers) {
  const std::string plan = Fixture("auto_explain." + GetParam());
  ASSERT_NE(plan.find("SECRETcond"), std::string::npos) << "fixture missing";
  int fail_closed = -1;
  auto out = Plan(plan, &fail_closed);
  ASSERT_TRUE(out.has_value());
  EXPECT_EQ(fail_closed, 0);
  ExpectNoLiteral(*out);
  // Costs, rows, widths, loops and buffers stay as PostgreSQL wrote them.
  for (const char* number : {"48.61", "49.67", "424", "96", "30.11"}) {
    EXPECT_NE(out->find(number), std::string::npos) << number << " lost in:\n" << *out;
  }
  EXPECT_NE(out->find("Seq Scan"), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(AllFormats, ExplainFormatTest,
                         ::testing::Values("text", "json", "yaml", "xml"));

TEST(ExplainRedactTest, TextPlanKeepsActualTimesAndMasksConditions) {
  auto out = Plan(Fixture("auto_explain.text"));
  ASSERT_TRUE(out.has_value());
  EXPECT_NE(out->find("Filter: ((t.k = ?::text) OR (t.n > ?))"), std::string::npos) << *out;
  EXPECT_NE(out->find("Rows Removed by Filter: 2"), std::string::npos) << *out;
  EXPECT_NE(out->find("(actual time=0.014..0.015 rows=0 loops=1)"), std::string::npos) << *out;
  EXPECT_NE(out->find("Buffers: shared hit=4"), std::string::npos) << *out;
  EXPECT_NE(out->find("Sort Method: quicksort  Memory: 25kB"), std::string::npos) << *out;
}

TEST(ExplainRedactTest, TextPlanFollowsALiteralAcrossLines) {
  const std::string plan =
      "\nQuery Text: INSERT INTO t VALUES ('SECRETa\nSECRETb', 1);\n"
      "Insert on public.t  (cost=0.00..0.01 rows=0 width=0) (actual time=0.154..0.154 rows=0 "
      "loops=1)\n"
      "  ->  Result  (cost=0.00..0.01 rows=1 width=36) (actual time=0.003..0.003 rows=1 loops=1)\n"
      "        Output: 'SECRETa\nSECRETb'::text, 1";
  auto out = Plan(plan);
  ASSERT_TRUE(out.has_value());
  ExpectNoLiteral(*out);
  EXPECT_NE(out->find("Query Text: INSERT INTO t VALUES (?, ?);\nInsert on public.t  (cost=0.00"),
            std::string::npos)
      << *out;
  EXPECT_NE(out->find("Output: ?::text, ?"), std::string::npos) << *out;
}

TEST(ExplainRedactTest, JsonValuesGoThroughTheSqlRedactorAndKeysAndNumbersStay) {
  auto out = Plan(
      "\n{\"Query Text\": \"select 'SECRET\\n\\\"x'\", \"Plan\": {\"Actual Rows\": 3, "
      "\"Filter\": \"(a = 'SECRET'::text)\", \"Output\": [\"'SECRET'::text\"]}}");
  ASSERT_TRUE(out.has_value());
  EXPECT_EQ(*out,
            "\n{\"Query Text\": \"select ?\", \"Plan\": {\"Actual Rows\": 3, "
            "\"Filter\": \"(a = ?::text)\", \"Output\": [\"?::text\"]}}");
}

TEST(ExplainRedactTest, UnreadablePlansAreDroppedNeverSentRaw) {
  EXPECT_FALSE(Plan("\n{\"Query Text\": \"select 'SECRET").has_value());
  EXPECT_FALSE(Plan("\n{\"Query Text\": SECRET}").has_value());
  EXPECT_FALSE(Plan("\nQuery Text: \"select 1\"\nPlan: \n  Filter: SECRET").has_value());
  EXPECT_FALSE(
      Plan("\n<explain xmlns=\"x\"><Query-Text>SECRET</Query-Text></explain>").has_value());
  EXPECT_FALSE(Plan("\n<explain xmlns=\"http://www.postgresql.org/2009/explain\">"
                    "<Filter a='SECRET'>x</Filter></explain>")
                   .has_value());
}

TEST(ExplainRedactTest, XmlNumbersInsideExpressionsAreMasked) {
  auto out = Plan(
      "\n<explain xmlns=\"http://www.postgresql.org/2009/explain\"><Plan>"
      "<Output><Item>98765</Item></Output><Plan-Rows>7</Plan-Rows></Plan></explain>");
  ASSERT_TRUE(out.has_value());
  EXPECT_EQ(out->find("98765"), std::string::npos) << *out;
  EXPECT_NE(out->find("<Plan-Rows>7</Plan-Rows>"), std::string::npos) << *out;
}

TEST(ExplainRedactTest, TextPlanThatDoesNotLexFailsClosedForTheRest) {
  int fail_closed = 0;
  auto out = Plan(
      "\nQuery Text: select 1\nResult  (cost=0.00..0.01 rows=1 width=4)\n"
      "  Output: 'SECRET",
      &fail_closed);
  ASSERT_TRUE(out.has_value());
  ExpectNoLiteral(*out);
  EXPECT_EQ(fail_closed, 1);
  EXPECT_NE(out->find("rows=1 width=4"), std::string::npos) << *out;
}

}  // namespace
}  // namespace pgagent
