#include "shared/listener/listener_json.h"

#include <gtest/gtest.h>

#include <ctime>
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
      if (c == '\\')
        ++end;
      else if (c == '"')
        in_string = false;
      continue;
    }
    if (c == '"')
      in_string = true;
    else if (c == '{' || c == '[')
      ++depth;
    else if ((c == '}' || c == ']') && depth-- == 0)
      break;
    else if (c == ',' && depth == 0)
      break;
  }
  return json.substr(start, end - start);
}

TEST(ListenerJsonTest, DoublesUseTheShortestTextThatReadsBackExactly) {
  pgagent::v1::LogEntry entry;
  for (const auto& [value, text] :
       std::vector<std::pair<double, std::string>>{{0.1, "0.1"},
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

TEST(ListenerJsonTest, Rfc3339TimestampsAgreeWithTheCLibraryAcrossCenturiesAndLeapDays) {
  std::vector<int64_t> seconds = {
      0,           -1, -86400, 951782400 /*2000-02-29*/, 4107456000 /*2100-02-28*/,
      253402300799 /*9999-12-31*/};
  // Every 97 days and 1 s from 1900 to 2200 lands on every month, weekday and leap rule.
  for (int64_t t = -2208988800; t < 7258118400; t += 97 * 86400 + 1) seconds.push_back(t);
  for (int64_t t : seconds) {
    std::time_t tt = static_cast<std::time_t>(t);
    std::tm tm{};
    ASSERT_NE(gmtime_r(&tt, &tm), nullptr);
    char want[64];
    std::strftime(want, sizeof(want), "%Y-%m-%dT%H:%M:%S", &tm);
    EXPECT_EQ(FormatRfc3339(t, 987654321), std::string(want) + ".987Z") << t;
  }
  EXPECT_EQ(FormatRfc3339(1795773600, 0), "2026-11-27T10:00:00.000Z");
}

// Sets every field of `m` to a non-default value by reflection, so a field added to the
// message later is set here too.
void SetEveryField(google::protobuf::Message* m) {
  using google::protobuf::FieldDescriptor;
  const auto* d = m->GetDescriptor();
  const auto* r = m->GetReflection();
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* f = d->field(i);
    ASSERT_FALSE(f->is_repeated()) << "extend SetEveryField for " << f->name();
    switch (f->cpp_type()) {
      case FieldDescriptor::CPPTYPE_INT32:
        r->SetInt32(m, f, -1000 - i);
        break;
      case FieldDescriptor::CPPTYPE_INT64:
        r->SetInt64(m, f, -9050000000000000000LL + i);
        break;
      case FieldDescriptor::CPPTYPE_UINT32:
        r->SetUInt32(m, f, 4000000000u + i);
        break;
      case FieldDescriptor::CPPTYPE_UINT64:
        r->SetUInt64(m, f, 18000000000000000000ULL + i);
        break;
      case FieldDescriptor::CPPTYPE_DOUBLE:
        r->SetDouble(m, f, 0.1 * (i + 1));
        break;
      case FieldDescriptor::CPPTYPE_FLOAT:
        r->SetFloat(m, f, 0.5f * (i + 1));
        break;
      case FieldDescriptor::CPPTYPE_BOOL:
        r->SetBool(m, f, true);
        break;
      case FieldDescriptor::CPPTYPE_ENUM:
        r->SetEnum(m, f, f->enum_type()->value(f->enum_type()->value_count() - 1));
        break;
      case FieldDescriptor::CPPTYPE_STRING:
        r->SetString(m, f, f->name() + " \"q\" \\ \n\t\x01 \xc3\xa9 " + std::to_string(i));
        break;
      case FieldDescriptor::CPPTYPE_MESSAGE: {
        auto* sub = r->MutableMessage(m, f);
        SetEveryField(sub);
        break;
      }
    }
  }
}

TEST(ListenerJsonTest, TheLogEntryFastPathWritesExactlyWhatReflectionWrites) {
  pgagent::v1::LogEntry entry;
  auto same = [&](const char* what) {
    std::string by_reflection;
    AppendListenerJsonByReflection(entry, &by_reflection);
    EXPECT_EQ(Json(entry), by_reflection) << what;
  };
  same("every field at its default");
  SetEveryField(&entry);
  entry.mutable_timestamp()->set_seconds(1795773600);
  entry.mutable_timestamp()->set_nanos(5000000);
  same("every field set");
  EXPECT_NE(Json(entry).find("\"location\":"), std::string::npos);
  entry.clear_duration_ms();
  entry.clear_correlation_id();
  entry.clear_timestamp();
  same("optional fields and the timestamp unset");
  entry.set_event_class(static_cast<pgagent::v1::LogEventClass>(977));
  same("an enum number this build does not know");
  // Nested in a batch the fast path is used as well.
  pgagent::v1::LogBatch batch;
  *batch.add_entries() = entry;
  *batch.add_entries() = pgagent::v1::LogEntry();
  std::string batch_json;
  AppendListenerJsonByReflection(batch, &batch_json);
  EXPECT_EQ(Json(batch), batch_json);
  EXPECT_EQ(FieldText(batch_json, "entries").front(), '[');
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

TEST(ListenerJsonTest, SixtyFourBitIdentifiersAreStringsAndCountersStayNumbers) {
  pgagent::v1::LogEntry entry;
  entry.set_query_id(-9223372036854775807LL);
  entry.set_transaction_id(18446744073709551615ULL);
  entry.set_session_line_num(18446744073709551615ULL);
  const std::string json = Json(entry);
  // JSON.parse reads numbers as doubles: an identifier above 2^53 would be rounded.
  EXPECT_EQ(FieldText(json, "query_id"), "\"-9223372036854775807\"");
  EXPECT_EQ(FieldText(json, "transaction_id"), "\"18446744073709551615\"");
  EXPECT_EQ(FieldText(json, "session_line_num"), "18446744073709551615");
  std::string by_reflection;
  AppendListenerJsonByReflection(entry, &by_reflection);
  EXPECT_EQ(json, by_reflection);
  pgagent::v1::StatementDelta statement;
  statement.set_queryid(4696375739796055123LL);
  statement.set_calls(9007199254740993ULL);
  const std::string s = Json(statement);
  EXPECT_EQ(FieldText(s, "queryid"), "\"4696375739796055123\"");
  EXPECT_EQ(FieldText(s, "calls"), "9007199254740993");
}

}  // namespace
}  // namespace pgagent
