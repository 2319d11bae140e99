#include "collectord/sql/redact.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>

namespace pgagent {
namespace {

using namespace std::string_literals;

std::string Redact(std::string_view sql) { return RedactSql(sql); }

// --- string literals -----------------------------------------------------------------------

TEST(RedactSqlTest, ReplacesAStandardStringWithABarePlaceholder) {
  EXPECT_EQ(Redact("SELECT * FROM users WHERE email = 'bob@example.com'"),
            "SELECT * FROM users WHERE email = ?");
}

TEST(RedactSqlTest, TreatsDoubledQuotesAsPartOfTheString) {
  EXPECT_EQ(Redact("SELECT 'it''s' , 'x'''"), "SELECT ? , ?");
}

TEST(RedactSqlTest, TreatsBackslashAsAnOrdinaryByteInStandardStrings) {
  EXPECT_EQ(Redact(R"(SELECT 'C:\' AS path)"), "SELECT ? AS path");
}

TEST(RedactSqlTest, ReplacesAnEscapeStringWithItsBackslashEscapedQuote) {
  EXPECT_EQ(Redact(R"(SELECT E'it\'s a \\ secret' FROM t)"), "SELECT ? FROM t");
  EXPECT_EQ(Redact(R"(SELECT e'\'')"), "SELECT ?");
  EXPECT_EQ(Redact(R"(SELECT E'a''b')"), "SELECT ?");
}

TEST(RedactSqlTest, ReplacesUnicodeEscapeStrings) {
  EXPECT_EQ(Redact(R"(SELECT U&'d\0061t\+000061' FROM t)"), "SELECT ? FROM t");
  EXPECT_EQ(Redact(R"(SELECT u&'!0061' UESCAPE '!')"), "SELECT ? UESCAPE ?");
}

TEST(RedactSqlTest, KeepsUnicodeEscapeQuotedIdentifiers) {
  EXPECT_EQ(Redact(R"(SELECT U&"d\0061t" FROM t WHERE a = 1)"),
            R"(SELECT U&"d\0061t" FROM t WHERE a = ?)");
}

TEST(RedactSqlTest, ReplacesBitAndHexStringsAndNationalStrings) {
  EXPECT_EQ(Redact("SELECT B'1010', X'1F', b'0', x'ff', N'name'"), "SELECT ?, ?, ?, ?, ?");
}

TEST(RedactSqlTest, KeepsIdentifiersThatMerelyEndInAPrefixLetter) {
  EXPECT_EQ(Redact("SELECT note'x', xe'y'"), "SELECT note?, xe?");
}

TEST(RedactSqlTest, ReplacesStringsThatSpanLines) {
  EXPECT_EQ(Redact("SELECT 'line one\nline two' FROM t"), "SELECT ? FROM t");
}

TEST(RedactSqlTest, ReplacesTypedLiteralsButKeepsTheTypeName) {
  EXPECT_EQ(Redact("SELECT DATE '2024-01-01', INTERVAL '1 day', '1'::int, '{1,2}'::int[]"),
            "SELECT DATE ?, INTERVAL ?, ?::int, ?::int[]");
}

TEST(RedactSqlTest, ReplacesUtf8StringContent) {
  EXPECT_EQ(Redact("SELECT 'Grüße, 東京 🐘' AS ünïcode"), "SELECT ? AS ünïcode");
}

// --- dollar quotes and parameters -----------------------------------------------------------

TEST(RedactSqlTest, ReplacesAnEmptyTagDollarQuotedBody) {
  EXPECT_EQ(Redact("SELECT $$it's 'quoted' $ here$$ FROM t"), "SELECT ? FROM t");
}

TEST(RedactSqlTest, ReplacesATaggedDollarQuotedBodyContainingOtherTags) {
  EXPECT_EQ(Redact("DO $fn$ BEGIN RAISE NOTICE $$x$$; END $fn$ LANGUAGE plpgsql"),
            "DO ? LANGUAGE plpgsql");
  EXPECT_EQ(Redact("SELECT $a_1$ $a$ $A_1$ $a_1$"), "SELECT ?");
}

TEST(RedactSqlTest, KeepsPositionalParameters) {
  EXPECT_EQ(Redact("SELECT * FROM t WHERE a = $1 AND b = $23"),
            "SELECT * FROM t WHERE a = $1 AND b = $23");
  EXPECT_EQ(Redact("SELECT $1::int + $2"), "SELECT $1::int + $2");
}

TEST(RedactSqlTest, KeepsDollarSignsInsideIdentifiers) {
  EXPECT_EQ(Redact("SELECT a$b$ , x$1 FROM t$ WHERE c = 'v'"),
            "SELECT a$b$ , x$1 FROM t$ WHERE c = ?");
}

TEST(RedactSqlTest, KeepsALoneDollarThatStartsNoTag) {
  EXPECT_EQ(Redact("SELECT $ + 1"), "SELECT $ + ?");
}

TEST(RedactSqlTest, LeavesPgStatStatementsTextsUnchanged) {
  const std::string pgss =
      "SELECT u.id, u.name FROM users u JOIN orders o ON o.user_id = u.id "
      "WHERE u.created_at > $1 AND o.status IN ($2, $3, $4) ORDER BY u.id LIMIT $5";
  EXPECT_EQ(Redact(pgss), pgss);
  const std::string update = "UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2";
  EXPECT_EQ(Redact(update), update);
}

TEST(RedactSqlTest, RedactsOnlyTheLiteralsPgStatStatementsLeft) {
  EXPECT_EQ(Redact("SELECT * FROM t WHERE a = $1 LIMIT 10"),
            "SELECT * FROM t WHERE a = $1 LIMIT ?");
}

// --- numbers -------------------------------------------------------------------------------

TEST(RedactSqlTest, ReplacesIntegersDecimalsAndExponents) {
  EXPECT_EQ(Redact("SELECT 42, 4.2, .5, 5., 1e10, 1.5E-3, 2e+7 FROM t"),
            "SELECT ?, ?, ?, ?, ?, ?, ? FROM t");
}

TEST(RedactSqlTest, ReplacesHexOctalBinaryAndUnderscoredNumbers) {
  EXPECT_EQ(Redact("SELECT 0x1F, 0XdeadBEEF, 0o17, 0b1010, 1_000_000, 1_000.5"),
            "SELECT ?, ?, ?, ?, ?, ?");
}

TEST(RedactSqlTest, KeepsDigitsInsideIdentifiers) {
  EXPECT_EQ(Redact("SELECT t1.col2, _3d FROM table_2024 t1 WHERE t1.v9 = 9"),
            "SELECT t1.col2, _3d FROM table_2024 t1 WHERE t1.v9 = ?");
}

TEST(RedactSqlTest, KeepsTheSignOfANegativeNumber) {
  EXPECT_EQ(Redact("SELECT -5, a-1, a - -2.5"), "SELECT -?, a-?, a - -?");
}

TEST(RedactSqlTest, StopsANumberBeforeARangeDotDot) {
  EXPECT_EQ(Redact("FOR i IN 1..10 LOOP"), "FOR i IN ?..? LOOP");
}

TEST(RedactSqlTest, KeepsAnExponentLetterWithoutDigitsAsAWord) {
  EXPECT_EQ(Redact("SELECT 1e FROM t"), "SELECT ?e FROM t");
}

TEST(RedactSqlTest, ReplacesNumbersNextToOperatorsAndPunctuation) {
  EXPECT_EQ(Redact("SELECT a[1:2], f(3,4), x=5, y<>6 FROM t OFFSET 7"),
            "SELECT a[?:?], f(?,?), x=?, y<>? FROM t OFFSET ?");
}

// --- IN lists ------------------------------------------------------------------------------

TEST(RedactSqlTest, CollapsesAnInListOfLiterals) {
  RedactStats stats;
  EXPECT_EQ(RedactSql("SELECT * FROM t WHERE id IN (1, 2, 3, 4)", &stats),
            "SELECT * FROM t WHERE id IN (?)");
  EXPECT_EQ(stats.literals, 4u);
  EXPECT_FALSE(stats.failed);
}

TEST(RedactSqlTest, CollapsesInListsOfStringsMixedKindsAndCasts) {
  EXPECT_EQ(Redact("WHERE s in ('a','b''c', E'd\\'', $$e$$)"), "WHERE s in (?)");
  EXPECT_EQ(Redact("WHERE s NOT IN ( -1 , +2.5, 'x'::text, $1 )"), "WHERE s NOT IN (?)");
  EXPECT_EQ(Redact("WHERE s IN('a')"), "WHERE s IN(?)");
  EXPECT_EQ(Redact("WHERE s IN\n  ('a', ?, 'b')"), "WHERE s IN\n  (?)");
}

TEST(RedactSqlTest, KeepsAnInListOfOnlyPlaceholders) {
  EXPECT_EQ(Redact("WHERE id IN ($1, $2, $3)"), "WHERE id IN ($1, $2, $3)");
}

TEST(RedactSqlTest, RedactsInListElementsOneByOneWhenAnElementIsNotALiteral) {
  EXPECT_EQ(Redact("WHERE id IN (1, col, 3)"), "WHERE id IN (?, col, ?)");
  EXPECT_EQ(Redact("WHERE id IN (SELECT id FROM t WHERE x = 5)"),
            "WHERE id IN (SELECT id FROM t WHERE x = ?)");
  EXPECT_EQ(Redact("WHERE id IN (1 /* c */, 2)"), "WHERE id IN (? /* ? */, ?)");
  EXPECT_EQ(Redact("WHERE id IN ()"), "WHERE id IN ()");
}

TEST(RedactSqlTest, DoesNotTreatInsideOfAWordAsIn) {
  EXPECT_EQ(Redact("SELECT min(1, 2), join_in (3)"), "SELECT min(?, ?), join_in (?)");
}

TEST(RedactSqlTest, HandlesAnInKeywordAtTheEndOfTheText) {
  EXPECT_EQ(Redact("SELECT a IN"), "SELECT a IN");
  EXPECT_EQ(Redact("SELECT a IN (1,"), "SELECT a IN (?,");
}

// --- comments and identifiers ----------------------------------------------------------------

TEST(RedactSqlTest, KeepsTheCorrelationTagAndMasksEveryOtherBlockComment) {
  const std::string sql =
      "/* correlation:3f2b8c1e-4a5d-4e6f-8a9b-0c1d2e3f4a5b */ SELECT 1 /* 'not a string' 42 */";
  EXPECT_EQ(Redact(sql), "/* correlation:3f2b8c1e-4a5d-4e6f-8a9b-0c1d2e3f4a5b */ SELECT ? /* ? */");
  EXPECT_EQ(Redact("SELECT 1 /* password=hunter2 */"), "SELECT ? /* ? */");
  EXPECT_EQ(Redact("/* correlation:3f2b8c1e-4a5d-4e6f-8a9b-0c1d2e3f4a5b and more */ SELECT 1"),
            "/* ? */ SELECT ?");
}

TEST(RedactSqlTest, MasksNestedBlockCommentsWhole) {
  EXPECT_EQ(Redact("SELECT /* outer /* inner 'x' */ still comment 1 */ 2"), "SELECT /* ? */ ?");
}

TEST(RedactSqlTest, MasksLineCommentsUntilTheNewline) {
  EXPECT_EQ(Redact("SELECT 1 -- it's 2\nFROM t WHERE a = 'x' --tail"),
            "SELECT ? -- ?\nFROM t WHERE a = ? -- ?");
}

TEST(RedactSqlTest, MasksSqlcommenterComments) {
  const std::string sql =
      "SELECT * FROM t /*action='index',traceparent='00-4bf92f3577b34da6a3ce929d0e0e4736-"
      "00f067aa0ba902b7-01'*/";
  EXPECT_EQ(Redact(sql), "SELECT * FROM t /* ? */");
}

TEST(RedactSqlTest, CountsMaskedComments) {
  RedactStats stats;
  RedactSql("SELECT 1 -- a\n/* b */ /* correlation:3f2b8c1e-4a5d-4e6f-8a9b-0c1d2e3f4a5b */", &stats);
  EXPECT_EQ(stats.comments, 2u);
}

TEST(RedactSqlTest, KeepsQuotedIdentifiersIncludingDoubledQuotes) {
  EXPECT_EQ(Redact(R"(SELECT "Weird ""name"" 1", "t'x" FROM "T2" WHERE "a" = 'b')"),
            R"(SELECT "Weird ""name"" 1", "t'x" FROM "T2" WHERE "a" = ?)");
}

TEST(RedactSqlTest, KeepsOperatorsThatLookLikeCommentStartsOnlyWhenTheyAreNot) {
  EXPECT_EQ(Redact("SELECT 4 / 2, 3 * 1, 5 - 1"), "SELECT ? / ?, ? * ?, ? - ?");
}

TEST(RedactSqlTest, CountsReplacedLiterals) {
  RedactStats stats;
  RedactSql("SELECT 'a', 1, $$b$$, $1 FROM t -- 2", &stats);
  EXPECT_EQ(stats.literals, 3u);
  EXPECT_FALSE(stats.failed);
}

TEST(RedactSqlTest, ReturnsEmptyTextForEmptyInput) {
  RedactStats stats;
  EXPECT_EQ(RedactSql("", &stats), "");
  EXPECT_FALSE(stats.failed);
}

TEST(RedactSqlTest, CopiesNulAndInvalidUtf8BytesOutsideLiterals) {
  const std::string sql = "SELECT\0 \xff\xfe col \x80 FROM t WHERE a = '\0\xc3'"s;
  EXPECT_EQ(Redact(sql), "SELECT\0 \xff\xfe col \x80 FROM t WHERE a = ?"s);
}

// --- malformed input fails closed ------------------------------------------------------------

class RedactSqlMalformedTest : public ::testing::TestWithParam<std::string> {};

TEST_P(RedactSqlMalformedTest, MasksTheTextFailClosed) {
  RedactStats stats;
  const std::string out = RedactSql(GetParam(), &stats);
  EXPECT_TRUE(stats.failed);
  EXPECT_EQ(out, MaskFailClosed(GetParam()));
  for (std::string_view secret : {"secret", "body", "'x'", "ident", "it\\'s"}) {
    EXPECT_EQ(out.find(secret), std::string::npos) << GetParam() << " -> " << out;
  }
  EXPECT_EQ(out.find('\''), std::string::npos) << out;
}

INSTANTIATE_TEST_SUITE_P(UnterminatedTokens, RedactSqlMalformedTest,
                         ::testing::Values("SELECT 'secret", "SELECT 'a'' ", "SELECT E'secret\\'",
                                           "SELECT E'\\", "SELECT U&'x", "SELECT B'01",
                                           "SELECT X'ff", "SELECT \"ident", "SELECT $$body",
                                           "SELECT $tag$body$tag", "SELECT $a$ $b$",
                                           "SELECT /* open", "SELECT /* a /* b */ still open", "'",
                                           "SELECT 1 WHERE a IN ('x', 'y", "SELECT 'it\\'s' FROM t",
                                           "SELECT 1 /* ok */ 'bad"));

// --- text cut at a length limit -----------------------------------------------------------

RedactOptions Truncated() {
  RedactOptions options;
  options.truncated_input = true;
  return options;
}

TEST(RedactSqlTest, ReplacesAStringCutByTruncationWhenTheCallerSaysSo) {
  RedactStats stats;
  EXPECT_EQ(RedactSql("SELECT 1 FROM t WHERE a = 'secret va", Truncated(), &stats),
            "SELECT ? FROM t WHERE a = ?");
  EXPECT_TRUE(stats.truncated_tail);
  EXPECT_FALSE(stats.failed);
  EXPECT_EQ(stats.literals, 2u);
  EXPECT_EQ(RedactSql("SELECT E'a\\", Truncated()), "SELECT ?");
  EXPECT_EQ(RedactSql("SELECT $f$ body", Truncated()), "SELECT ?");
  EXPECT_EQ(RedactSql("SELECT x WHERE y IN (1, 'a", Truncated()), "SELECT x WHERE y IN (?, ?");
}

TEST(RedactSqlTest, KeepsAQuotedIdentifierAndMasksACommentCutByTruncation) {
  EXPECT_EQ(RedactSql("SELECT 1 /* password=abc", Truncated()), "SELECT ? /* ?");
  EXPECT_EQ(RedactSql("SELECT \"Long Col", Truncated()), "SELECT \"Long Col");
  EXPECT_EQ(RedactSql("SELECT U&\"x", Truncated()), "SELECT U&\"x");
}

TEST(RedactSqlTest, ReportsNoTruncatedTailForCompleteText) {
  RedactStats stats;
  EXPECT_EQ(RedactSql("SELECT 'a'", Truncated(), &stats), "SELECT ?");
  EXPECT_FALSE(stats.truncated_tail);
}

TEST(RedactSqlTest, FailsClosedOnCutTextByDefault) {
  RedactStats stats;
  EXPECT_EQ(RedactSql("SELECT 'secret va", RedactOptions{}, &stats), "SELECT ?");
  EXPECT_TRUE(stats.failed);
  EXPECT_FALSE(stats.truncated_tail);
}

// --- random bytes never crash ------------------------------------------------------------------

TEST(RedactSqlTest, NeverCrashesOrPassesLiteralsThroughOnRandomInput) {
  // Bounded, deterministic: 20000 inputs biased towards SQL's special bytes.
  std::mt19937 rng(20261127);
  const std::string alphabet = "'\"$E e U&uBX01234567.9_-/*\n()IN,in:?\\\0\xff\x80tag"s;
  std::uniform_int_distribution<size_t> length(0, 64);
  std::uniform_int_distribution<int> coin(0, 3);
  std::uniform_int_distribution<int> any_byte(0, 255);
  std::uniform_int_distribution<size_t> pick(0, alphabet.size() - 1);
  size_t failed = 0;
  for (int round = 0; round < 20000; ++round) {
    std::string input;
    const size_t len = length(rng);
    for (size_t k = 0; k < len; ++k) {
      input.push_back(coin(rng) == 0 ? static_cast<char>(any_byte(rng)) : alphabet[pick(rng)]);
    }
    RedactStats cut_stats;
    const std::string cut = RedactSql(input, Truncated(), &cut_stats);
    ASSERT_FALSE(cut_stats.failed) << "input: " << input;
    ASSERT_EQ(RedactSql(cut, Truncated()), cut) << "input: " << input;
    RedactStats stats;
    const std::string out = RedactSql(input, &stats);
    if (stats.failed) {
      ++failed;
      ASSERT_EQ(out.find_first_of("'\""), std::string::npos) << "input: " << input;
      continue;
    }
    // A successful result is redacted already and holds no quote that opens a string.
    ASSERT_EQ(RedactSql(out), out) << "input: " << input;
  }
  EXPECT_GT(failed, 0u);  // the generator does produce malformed text
}

TEST(RedactSqlTest, HandlesLongInputsInLinearTime) {
  std::string big;
  for (int k = 0; k < 20000; ++k) big += "SELECT a1, 'str' FROM t WHERE x IN (1, 2) -- c\n";
  RedactStats stats;
  const std::string out = RedactSql(big, &stats);
  EXPECT_FALSE(stats.failed);
  EXPECT_EQ(stats.literals, 60000u);  // 'str', 1 and 2 per line
  EXPECT_EQ(out.find("str"), std::string::npos);
}

}  // namespace
}  // namespace pgagent

namespace pgagent {
namespace {

// --- MaskFailClosed ----------------------------------------------------------------------------

TEST(MaskFailClosedTest, MasksFromTheFirstQuoteToTheLast) {
  EXPECT_EQ(MaskFailClosed("a 'x' b \"y\" c"), "a ? c");
  EXPECT_EQ(MaskFailClosed("SELECT 'it\\'s secret' FROM t"), "SELECT ?");  // 3 quotes: open
  EXPECT_EQ(MaskFailClosed("SELECT 'C:\\', 'secret' FROM t"), "SELECT ? FROM t");
}

TEST(MaskFailClosedTest, MasksToTheEndWhenAQuoteIsLeftOpen) {
  EXPECT_EQ(MaskFailClosed("SELECT * FROM t WHERE a = 'secret"), "SELECT * FROM t WHERE a = ?");
  EXPECT_EQ(MaskFailClosed("ALTER ROLE x PASSWORD 'secret"), "ALTER ROLE x PASSWORD ?");
  EXPECT_EQ(MaskFailClosed("SELECT E'a\\'b' WHERE c = 'secret"), "SELECT E?");
  EXPECT_EQ(MaskFailClosed("near \"'secret\" at 1"), "near ?");
}

TEST(MaskFailClosedTest, MasksDollarBodiesEvenWithMismatchedTags) {
  EXPECT_EQ(MaskFailClosed("DO $a$ x $a$ $b$ secret $b$; SELECT 1"), "DO ?; SELECT ?");
  EXPECT_EQ(MaskFailClosed("DO $a$ x $b$ secret"), "DO ?");
  EXPECT_EQ(MaskFailClosed("SELECT $$x$$, $1"), "SELECT ?, $1");
}

TEST(MaskFailClosedTest, MasksUnquotedKeyAndRowValues) {
  EXPECT_EQ(MaskFailClosed("Key (k)=(secret) already exists."), "Key (k)=(?) already exists.");
  EXPECT_EQ(MaskFailClosed("Failing row contains (1, secret (x))."),
            "Failing row contains (?).");
  EXPECT_EQ(MaskFailClosed("Key (k)=(secret"), "Key (k)=(?");
}

TEST(MaskFailClosedTest, MasksNumbersAndCommentsOutsideQuotesAndKeepsWords) {
  EXPECT_EQ(MaskFailClosed("t1 x = -42 AND y = 1.5e3 /* c */ -- d\nz"),
            "t1 x = -? AND y = ? /* ? */ -- ?\nz");
}

TEST(MaskFailClosedTest, MasksSecretsThatAreNotQuoted) {
  EXPECT_EQ(MaskFailClosed("host=h password=hunter2 user=u"), "host=h password=*** user=u");
}

TEST(MaskFailClosedTest, NeverLeavesAQuoteOnRandomBytes) {
  std::mt19937 rng(14);
  std::uniform_int_distribution<int> any_byte(0, 255);
  std::uniform_int_distribution<size_t> length(0, 200);
  for (int round = 0; round < 5000; ++round) {
    std::string input(length(rng), '\0');
    for (char& c : input) c = static_cast<char>(any_byte(rng));
    const std::string out = MaskFailClosed(input);
    ASSERT_EQ(out.find_first_of("'\""), std::string::npos);
  }
}

}  // namespace
}  // namespace pgagent
