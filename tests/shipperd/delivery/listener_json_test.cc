#include "shipperd/delivery/listener_json.h"

#include <gtest/gtest.h>

#include <limits>
#include <string>
#include <vector>

#include "pgagent/v1/records.pb.h"

namespace pgagent {
namespace {

std::string Json(const google::protobuf::Message& message) {
  std::string out;
  AppendListenerJson(message, &out);
  return out;
}

std::string FieldText(const std::string& json, const std::string& name) {
  const std::string key = "\"" + name + "\":";
  const size_t at = json.find(key);
  if (at == std::string::npos) return "<absent>";
  const size_t start = at + key.size();
  size_t end = start;
  int depth = 0;
  bool in_string = false;
  for (; end < json.size(); ++end) {
    const char c = json[end];
    if (in_string) {
      if (c == '\\') ++end;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') in_string = true;
    else if (c == '{' || c == '[') ++depth;
    else if ((c == '}' || c == ']') && depth-- == 0) break;
    else if (c == ',' && depth == 0) break;
  }
  return json.substr(start, end - start);
}

TEST(ListenerJsonTest, DoublesUseTheShortestTextThatReadsBackExactly) {
  pgagent::v1::LogEntry entry;
  for (const auto& [value, text] : std::vector<std::pair<double, std::string>>{
           {0.1, "0.1"},
           {5, "5"},
           {0.042, "0.042"},
           {1234.5678, "1234.5678"},
           {1e21, "1e+21"},
           {-2.5e-7, "-2.5e-07"},
           {1.0 / 3, "0.3333333333333333"}}) {
    entry.set_duration_ms(value);
    EXPECT_EQ(FieldText(Json(entry), "duration_ms"), text) << value;
  }
}

TEST(ListenerJsonTest, NonFiniteDoublesBecomeNull) {
  pgagent::v1::LogEntry entry;
  entry.set_duration_ms(std::numeric_limits<double>::infinity());
  EXPECT_EQ(FieldText(Json(entry), "duration_ms"), "null");
}

TEST(ListenerJsonTest, EnumsLoseTheirTypePrefixAndTimestampsAreRfc3339) {
  pgagent::v1::LogEntry entry;
  entry.set_event_class(pgagent::v1::LOG_EVENT_CLASS_SLOW_STATEMENT);
  entry.mutable_timestamp()->set_seconds(1795773600);  // 2026-11-27T10:00:00Z
  entry.mutable_timestamp()->set_nanos(123456789);
  const std::string json = Json(entry);
  EXPECT_EQ(FieldText(json, "event_class"), "\"slow_statement\"");
  EXPECT_EQ(FieldText(json, "timestamp"), "\"2026-11-27T10:00:00.123Z\"");
  // Written twice (the per-thread name cache) and for another value.
  EXPECT_EQ(FieldText(Json(entry), "event_class"), "\"slow_statement\"");
  entry.set_event_class(pgagent::v1::LOG_EVENT_CLASS_DEADLOCK);
  EXPECT_EQ(FieldText(Json(entry), "event_class"), "\"deadlock\"");
}

TEST(ListenerJsonTest, UnsetOptionalFieldsAreOmittedAndOthersAlwaysPresent) {
  pgagent::v1::LogEntry entry;
  const std::string json = Json(entry);
  EXPECT_EQ(FieldText(json, "duration_ms"), "<absent>");
  EXPECT_EQ(FieldText(json, "correlation_id"), "<absent>");
  EXPECT_EQ(FieldText(json, "timestamp"), "<absent>");
  EXPECT_EQ(FieldText(json, "pid"), "0");
  EXPECT_EQ(FieldText(json, "message"), "\"\"");
  EXPECT_EQ(FieldText(json, "parsed"), "false");
}

TEST(ListenerJsonTest, SixtyFourBitIntegersStayNumbers) {
  pgagent::v1::LogEntry entry;
  entry.set_query_id(-9223372036854775807LL);
  entry.set_session_line_num(18446744073709551615ULL);
  const std::string json = Json(entry);
  EXPECT_EQ(FieldText(json, "query_id"), "-9223372036854775807");
  EXPECT_EQ(FieldText(json, "session_line_num"), "18446744073709551615");
}

}  // namespace
}  // namespace pgagent
