#include "collectord/sql/correlation.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

#include "collectord/sql/redact.h"

namespace pgagent {
namespace {

using namespace std::string_literals;

constexpr char kUuid[] = "3f2b8c1e-4a5d-4e6f-8a9b-0c1d2e3f4a5b";
constexpr char kTraceparent[] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

CorrelationExtractor Make(const CorrelationOptions& options = {}) {
  Result<CorrelationExtractor> x = CorrelationExtractor::Create(options);
  EXPECT_TRUE(x.ok()) << x.status().ToString();
  return std::move(x).value();
}

CorrelationExtractor MakeWithTraceparent() {
  CorrelationOptions options;
  options.extract_traceparent = true;
  return Make(options);
}

// --- application_name ----------------------------------------------------------------------

TEST(CorrelationExtractorTest, ExtractsTheIdFromABitvilleApplicationName) {
  EXPECT_EQ(Make().FromApplicationName(std::string("bitville-") + kUuid), kUuid);
}

TEST(CorrelationExtractorTest, AcceptsUppercaseHexInTheApplicationName) {
  EXPECT_EQ(Make().FromApplicationName("bitville-3F2B8C1E-4A5D-4E6F-8A9B-0C1D2E3F4A5B"),
            "3F2B8C1E-4A5D-4E6F-8A9B-0C1D2E3F4A5B");
}

TEST(CorrelationExtractorTest, RejectsApplicationNameNearMisses) {
  const CorrelationExtractor x = Make();
  EXPECT_EQ(x.FromApplicationName("bitville-monitor"), std::nullopt);
  EXPECT_EQ(x.FromApplicationName(std::string("xbitville-") + kUuid), std::nullopt);
  EXPECT_EQ(x.FromApplicationName(std::string("bitville-") + kUuid + "0"), std::nullopt);
  EXPECT_EQ(x.FromApplicationName("bitville-3f2b8c1e-4a5d-4e6f-8a9b-0c1d2e3f4a5"), std::nullopt);
  EXPECT_EQ(x.FromApplicationName("Bitville-3f2b8c1e-4a5d-4e6f-8a9b-0c1d2e3f4a5b"), std::nullopt);
  EXPECT_EQ(x.FromApplicationName("bitville-3f2b8c1e-4a5d-4e6f-8a9b-0c1d2e3f4g5b"), std::nullopt);
  EXPECT_EQ(x.FromApplicationName(""), std::nullopt);
  EXPECT_EQ(x.FromApplicationName("psql"), std::nullopt);
}

// --- SQL comment ---------------------------------------------------------------------------

TEST(CorrelationExtractorTest, ExtractsTheIdFromALeadingComment) {
  EXPECT_EQ(Make().FromQuery(std::string("/* correlation:") + kUuid + " */ SELECT 1"), kUuid);
}

TEST(CorrelationExtractorTest, ExtractsTheIdFromACommentAnywhereInTheQuery) {
  const CorrelationExtractor x = Make();
  EXPECT_EQ(x.FromQuery(std::string("SELECT * FROM t WHERE a = 1 /*correlation:") + kUuid + "*/"),
            kUuid);
  EXPECT_EQ(x.FromQuery(std::string("SELECT 1,\n /*\tcorrelation:") + kUuid + "\n*/ FROM t"),
            kUuid);
  std::string long_query(5000, ' ');
  long_query += std::string("/* correlation:") + kUuid + " */";
  long_query += std::string(5000, 'x');
  EXPECT_EQ(x.FromQuery(long_query), kUuid);
}

TEST(CorrelationExtractorTest, FindsTheCommentAfterAnEarlierNearMiss) {
  const std::string q =
      std::string("/* correlation:not-a-uuid */ SELECT 1 /* correlation:") + kUuid + " */";
  EXPECT_EQ(Make().FromQuery(q), kUuid);
}

TEST(CorrelationExtractorTest, RejectsCommentNearMisses) {
  const CorrelationExtractor x = Make();
  EXPECT_EQ(x.FromQuery("SELECT 1"), std::nullopt);
  EXPECT_EQ(x.FromQuery(std::string("SELECT 'correlation:") + kUuid + "'"), std::nullopt);
  EXPECT_EQ(x.FromQuery(std::string("/* correlation: ") + kUuid + " */"), std::nullopt);
  EXPECT_EQ(x.FromQuery(std::string("/* Correlation:") + kUuid + " */"), std::nullopt);
  EXPECT_EQ(x.FromQuery(std::string("/* correlation:") + kUuid + " "), std::nullopt);
  EXPECT_EQ(x.FromQuery("/* correlation:3f2b8c1e-4a5d-4e6f-8a9b */"), std::nullopt);
  EXPECT_EQ(x.FromQuery(""), std::nullopt);
}

TEST(CorrelationExtractorTest, PrefersTheApplicationNameOverTheComment) {
  const std::string other = "11111111-2222-3333-4444-555555555555";
  const std::string query = "/* correlation:" + other + " */ SELECT 1";
  const CorrelationExtractor x = Make();
  EXPECT_EQ(x.Extract(std::string("bitville-") + kUuid, query), kUuid);
  EXPECT_EQ(x.Extract("psql", query), other);
  EXPECT_EQ(x.Extract("psql", "SELECT 1"), std::nullopt);
}

TEST(CorrelationExtractorTest, ExtractsBeforeRedactionAndTheCommentSurvivesRedaction) {
  const std::string query =
      std::string("SELECT * FROM t WHERE id = 42 /* correlation:") + kUuid + " */";
  const CorrelationExtractor x = Make();
  EXPECT_EQ(x.FromQuery(query), kUuid);
  EXPECT_EQ(x.FromQuery(RedactSql(query)), kUuid);
}

TEST(CorrelationExtractorTest, SurvivesHugeAndHostileInputs) {
  const CorrelationExtractor x = Make();
  std::string spaces = "/*" + std::string(1 << 20, ' ') + "correlation:";
  EXPECT_EQ(x.FromQuery(spaces), std::nullopt);
  std::string repeated;
  for (int k = 0; k < 10000; ++k) repeated += "/* correlation:";
  EXPECT_EQ(x.FromQuery(repeated), std::nullopt);
  EXPECT_EQ(x.FromApplicationName(std::string(1 << 20, '-')), std::nullopt);
}

// --- custom and invalid patterns -------------------------------------------------------------

TEST(CorrelationExtractorTest, UsesCustomPatterns) {
  CorrelationOptions options;
  options.application_name_pattern = R"(^shop\.(\d+)$)";
  options.comment_pattern = R"(request_id=([a-z0-9]+))";
  const CorrelationExtractor x = Make(options);
  EXPECT_EQ(x.FromApplicationName("shop.12345"), "12345");
  EXPECT_EQ(x.FromApplicationName("shop.12345x"), std::nullopt);
  EXPECT_EQ(x.FromQuery("SELECT 1 -- request_id=abc123"), "abc123");
  EXPECT_EQ(x.FromQuery(std::string("/* correlation:") + kUuid + " */"), std::nullopt);
}

TEST(CorrelationExtractorTest, UsesCustomPatternsWithAlternationAndOptionalParts) {
  CorrelationOptions options;
  options.application_name_pattern = R"(^(?:app|web)-(\w+)$)";
  options.comment_pattern = R"(/\*\s*(?:corr|trace)?id:(\w+)\s*\*/)";
  const CorrelationExtractor x = Make(options);
  EXPECT_EQ(x.FromApplicationName("web-abc"), "abc");
  EXPECT_EQ(x.FromApplicationName("app-xyz"), "xyz");
  EXPECT_EQ(x.FromQuery("SELECT 1 /* id:q1 */"), "q1");
  EXPECT_EQ(x.FromQuery("SELECT 1 /* traceid:q2 */"), "q2");
}

TEST(CorrelationExtractorTest, UsesCustomPatternsWithOptionalCharactersAndHexEscapes) {
  CorrelationOptions options;
  options.application_name_pattern = R"(^colou?r\x3A(\d+)$)";  // \x3A is ':'
  options.comment_pattern = R"(req\.id\s*=\s*([a-f0-9]{8})\b)";
  const CorrelationExtractor x = Make(options);
  EXPECT_EQ(x.FromApplicationName("color:12"), "12");
  EXPECT_EQ(x.FromApplicationName("colour:34"), "34");
  EXPECT_EQ(x.FromApplicationName("colouur:34"), std::nullopt);
  EXPECT_EQ(x.FromQuery("SELECT 1 -- req.id = deadbeef"), "deadbeef");
  EXPECT_EQ(x.FromQuery("SELECT 1 -- req.id = deadbeef0"), std::nullopt);
  EXPECT_EQ(x.FromQuery("SELECT 1 -- reqXid = deadbeef"), std::nullopt);
}

TEST(CorrelationExtractorTest, HonoursAnchorsOutsideTheSearchWindow) {
  CorrelationOptions options;
  options.comment_pattern = R"(^/\* corr=(\w+) \*/)";
  const CorrelationExtractor x = Make(options);
  EXPECT_EQ(x.FromQuery("/* corr=a1 */ SELECT 1"), "a1");
  EXPECT_EQ(x.FromQuery(std::string(300, ' ') + "/* corr=a1 */ SELECT 1"), std::nullopt);
}

TEST(CorrelationExtractorTest, RejectsAPatternThatDoesNotCompile) {
  CorrelationOptions options;
  options.comment_pattern = "/\\*(unclosed";
  Result<CorrelationExtractor> x = CorrelationExtractor::Create(options);
  ASSERT_FALSE(x.ok());
  EXPECT_EQ(x.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(x.status().message().find("comment_pattern"), std::string::npos);
}

TEST(CorrelationExtractorTest, RejectsAPatternWithoutACaptureGroup) {
  CorrelationOptions options;
  options.application_name_pattern = "^bitville-[0-9a-f-]{36}$";
  Result<CorrelationExtractor> x = CorrelationExtractor::Create(options);
  ASSERT_FALSE(x.ok());
  EXPECT_EQ(x.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(x.status().message().find("application_name_pattern"), std::string::npos);
}

TEST(CorrelationExtractorTest, RejectsAnOverlongPattern) {
  CorrelationOptions options;
  options.comment_pattern = "(" + std::string(CorrelationExtractor::kMaxPatternLength, 'a') + ")";
  Result<CorrelationExtractor> x = CorrelationExtractor::Create(options);
  ASSERT_FALSE(x.ok());
  EXPECT_EQ(x.status().code(), StatusCode::kInvalidArgument);
}

// --- traceparent ---------------------------------------------------------------------------

TEST(CorrelationExtractorTest, ExtractsASqlcommenterTraceparent) {
  const std::string q = std::string("SELECT * FROM t /*action='index',traceparent='") +
                        kTraceparent + "',tracestate='congo%3Dt61rcWkgMzE'*/";
  EXPECT_EQ(MakeWithTraceparent().TraceparentFromQuery(q), kTraceparent);
}

TEST(CorrelationExtractorTest, DecodesAUrlEncodedTraceparent) {
  const std::string q =
      "SELECT 1 /*traceparent='00%2D4bf92f3577b34da6a3ce929d0e0e4736%2d00f067aa0ba902b7%2D01'*/";
  EXPECT_EQ(MakeWithTraceparent().TraceparentFromQuery(q), kTraceparent);
}

TEST(CorrelationExtractorTest, IgnoresTheTraceparentWhenTheOptionIsOff) {
  const std::string q = std::string("SELECT 1 /*traceparent='") + kTraceparent + "'*/";
  EXPECT_EQ(Make().TraceparentFromQuery(q), std::nullopt);
}

TEST(CorrelationExtractorTest, RejectsInvalidTraceparents) {
  const CorrelationExtractor x = MakeWithTraceparent();
  auto in_comment = [](const std::string& v) { return "SELECT 1 /*traceparent='" + v + "'*/"; };
  EXPECT_EQ(
      x.TraceparentFromQuery(in_comment("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")),
      std::nullopt);
  EXPECT_EQ(
      x.TraceparentFromQuery(in_comment("00-00000000000000000000000000000000-00f067aa0ba902b7-01")),
      std::nullopt);
  EXPECT_EQ(
      x.TraceparentFromQuery(in_comment("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01")),
      std::nullopt);
  EXPECT_EQ(
      x.TraceparentFromQuery(in_comment("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01")),
      std::nullopt);
  EXPECT_EQ(
      x.TraceparentFromQuery(in_comment("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7")),
      std::nullopt);
  EXPECT_EQ(x.TraceparentFromQuery(
                in_comment("00%2-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")),
            std::nullopt);
  EXPECT_EQ(x.TraceparentFromQuery("SELECT 1 /*traceparent='00-4bf9"), std::nullopt);
}

TEST(CorrelationExtractorTest, IgnoresATraceparentOutsideAComment) {
  const std::string q = std::string("SELECT 'traceparent=''") + kTraceparent + "''' /* x */";
  EXPECT_EQ(MakeWithTraceparent().TraceparentFromQuery(q), std::nullopt);
}

TEST(CorrelationExtractorTest, NeverCrashesOnRandomInput) {
  const CorrelationExtractor x = MakeWithTraceparent();
  std::mt19937 rng(7);
  const std::string alphabet =
      "/* correlation:0123456789abcdef-traceparent='%2D\0\xff"
      "bitville-\n"s;
  std::uniform_int_distribution<size_t> length(0, 200);
  std::uniform_int_distribution<size_t> pick(0, alphabet.size() - 1);
  size_t found = 0;
  for (int round = 0; round < 5000; ++round) {
    std::string input;
    const size_t len = length(rng);
    for (size_t k = 0; k < len; ++k) input.push_back(alphabet[pick(rng)]);
    if (x.Extract(input, input)) ++found;
    if (x.TraceparentFromQuery(input)) ++found;
  }
  EXPECT_EQ(found, 0u);  // random text never forms a full 36-character id or a traceparent
}

}  // namespace
}  // namespace pgagent
