#include "shared/listener/listener_json.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/timestamp.pb.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <unordered_map>
#include <vector>

#include "common/json_util.h"
#include "pgagent/v1/options.pb.h"
#include "pgagent/v1/records.pb.h"

namespace pgagent {
namespace {

using google::protobuf::EnumValueDescriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

void AppendDouble(double v, std::string* out) {
  if (!std::isfinite(v)) {
    *out += "null";  // JSON has no NaN/Inf; null marks "no value"
    return;
  }
  // The shortest form that round-trips (0.1, not 0.10000000000000001).
  char buf[40];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  out->append(buf, ec == std::errc() ? end : buf);
}

std::string ComputeEnumName(const EnumValueDescriptor* value) {
  const std::string& name = value->name();
  // Strip the enum type prefix: LOG_EVENT_CLASS_DEADLOCK in LogEventClass -> "deadlock".
  std::string prefix;
  for (char c : value->type()->name()) {
    if (std::isupper(static_cast<unsigned char>(c)) && !prefix.empty()) prefix += '_';
    prefix += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  prefix += '_';
  std::string out = name.rfind(prefix, 0) == 0 ? name.substr(prefix.size()) : name;
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Enum values are a fixed, small set: their names are computed once per thread.
const std::string& EnumName(const EnumValueDescriptor* value) {
  thread_local std::unordered_map<const EnumValueDescriptor*, std::string> names;
  auto it = names.find(value);
  if (it == names.end()) it = names.emplace(value, ComputeEnumName(value)).first;
  return it->second;
}

void AppendMessage(const Message& m, std::string* out);

// Fields marked [(json_string) = true] (64-bit identifiers) are written as decimal strings:
// the listener's JSON.parse would round them to doubles. Looked up once per field per thread.
bool AsString(const FieldDescriptor* f) {
  thread_local std::unordered_map<const FieldDescriptor*, bool> marked;
  auto it = marked.find(f);
  if (it == marked.end()) {
    it = marked.emplace(f, f->options().GetExtension(pgagent::v1::json_string)).first;
  }
  return it->second;
}

template <typename Int>
void AppendIntMaybeQuoted(Int v, bool quoted, std::string* out) {
  if (quoted) *out += '"';
  *out += std::to_string(v);
  if (quoted) *out += '"';
}

void AppendScalar(const Message& m, const FieldDescriptor* f, int index, std::string* out) {
  const Reflection* r = m.GetReflection();
  const bool rep = index >= 0;
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
      *out += std::to_string(rep ? r->GetRepeatedInt32(m, f, index) : r->GetInt32(m, f));
      break;
    case FieldDescriptor::CPPTYPE_INT64:
      AppendIntMaybeQuoted(rep ? r->GetRepeatedInt64(m, f, index) : r->GetInt64(m, f),
                           AsString(f), out);
      break;
    case FieldDescriptor::CPPTYPE_UINT32:
      *out += std::to_string(rep ? r->GetRepeatedUInt32(m, f, index) : r->GetUInt32(m, f));
      break;
    case FieldDescriptor::CPPTYPE_UINT64:
      AppendIntMaybeQuoted(rep ? r->GetRepeatedUInt64(m, f, index) : r->GetUInt64(m, f),
                           AsString(f), out);
      break;
    case FieldDescriptor::CPPTYPE_DOUBLE:
      AppendDouble(rep ? r->GetRepeatedDouble(m, f, index) : r->GetDouble(m, f), out);
      break;
    case FieldDescriptor::CPPTYPE_FLOAT:
      AppendDouble(rep ? r->GetRepeatedFloat(m, f, index) : r->GetFloat(m, f), out);
      break;
    case FieldDescriptor::CPPTYPE_BOOL:
      *out += (rep ? r->GetRepeatedBool(m, f, index) : r->GetBool(m, f)) ? "true" : "false";
      break;
    case FieldDescriptor::CPPTYPE_ENUM:
      AppendJsonString(*out, EnumName(rep ? r->GetRepeatedEnum(m, f, index) : r->GetEnum(m, f)));
      break;
    case FieldDescriptor::CPPTYPE_STRING:
      AppendJsonString(*out, rep ? r->GetRepeatedString(m, f, index) : r->GetString(m, f));
      break;
    case FieldDescriptor::CPPTYPE_MESSAGE:
      AppendMessage(rep ? r->GetRepeatedMessage(m, f, index) : r->GetMessage(m, f), out);
      break;
  }
}

void AppendMap(const Message& m, const FieldDescriptor* f, std::string* out) {
  const Reflection* r = m.GetReflection();
  const FieldDescriptor* key = f->message_type()->map_key();
  const FieldDescriptor* value = f->message_type()->map_value();
  // Sorted by key so the output is deterministic.
  std::vector<std::pair<std::string, int>> entries;
  for (int i = 0; i < r->FieldSize(m, f); ++i) {
    const Message& entry = r->GetRepeatedMessage(m, f, i);
    std::string k;
    if (key->cpp_type() == FieldDescriptor::CPPTYPE_STRING) {
      k = entry.GetReflection()->GetString(entry, key);
    } else {
      std::string tmp;
      AppendScalar(entry, key, -1, &tmp);
      k = tmp;
    }
    entries.emplace_back(std::move(k), i);
  }
  std::sort(entries.begin(), entries.end());
  *out += '{';
  bool first = true;
  for (const auto& [k, i] : entries) {
    if (!first) *out += ',';
    first = false;
    AppendJsonString(*out, k);
    *out += ':';
    AppendScalar(r->GetRepeatedMessage(m, f, i), value, -1, out);
  }
  *out += '}';
}

bool Omitted(const Message& m, const FieldDescriptor* f) {
  if (f->is_repeated()) return false;
  // Unset messages and unset proto3 `optional` scalars are omitted (never null).
  if (f->has_presence()) return !m.GetReflection()->HasField(m, f);
  return false;
}

void AppendField(const Message& m, const FieldDescriptor* f, std::string* out) {
  AppendJsonString(*out, f->name());
  *out += ':';
  const Reflection* r = m.GetReflection();
  if (f->is_map()) {
    AppendMap(m, f, out);
  } else if (f->is_repeated()) {
    *out += '[';
    for (int i = 0; i < r->FieldSize(m, f); ++i) {
      if (i > 0) *out += ',';
      AppendScalar(m, f, i, out);
    }
    *out += ']';
  } else {
    AppendScalar(m, f, -1, out);
  }
}

template <typename Int>
void AppendInt(Int v, std::string* out) {
  char buf[24];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  out->append(buf, end);
}

// "name":"text"
void Str(const char* key, const std::string& v, std::string* out) {
  *out += key;
  AppendJsonString(*out, v);
}

void AppendByReflection(const Message& m, std::string* out);

// Every log line becomes one LogEntry, so this is the message shipperd writes most: it is
// written field by field, without reflection, with exactly AppendMessage's output (same
// order, names and presence rules; tests/shared/listener/listener_json_test.cc compares
// the two with every field set, so a field added to LogEntry fails there until added here).
void AppendLogEntry(const pgagent::v1::LogEntry& e, std::string* out) {
  *out += '{';
  if (e.has_timestamp()) {
    *out += "\"timestamp\":";
    AppendJsonString(*out, FormatRfc3339(e.timestamp().seconds(), e.timestamp().nanos()));
    *out += ',';
  }
  *out += "\"pid\":";
  AppendInt(e.pid(), out);
  Str(",\"level\":", e.level(), out);
  Str(",\"sqlstate\":", e.sqlstate(), out);
  Str(",\"user\":", e.user(), out);
  Str(",\"database\":", e.database(), out);
  Str(",\"application_name\":", e.application_name(), out);
  Str(",\"message\":", e.message(), out);
  Str(",\"detail\":", e.detail(), out);
  Str(",\"hint\":", e.hint(), out);
  Str(",\"context\":", e.context(), out);
  Str(",\"statement\":", e.statement(), out);
  if (e.has_duration_ms()) {
    *out += ",\"duration_ms\":";
    AppendDouble(e.duration_ms(), out);
  }
  if (e.has_correlation_id()) Str(",\"correlation_id\":", e.correlation_id(), out);
  *out += ",\"event_class\":";
  const EnumValueDescriptor* event_class =
      pgagent::v1::LogEventClass_descriptor()->FindValueByNumber(e.event_class());
  if (event_class == nullptr) {  // a number this build does not know: as reflection names it
    event_class =
        e.GetReflection()->GetEnum(e, pgagent::v1::LogEntry::descriptor()->FindFieldByNumber(
                                          pgagent::v1::LogEntry::kEventClassFieldNumber));
  }
  AppendJsonString(*out, EnumName(event_class));
  *out += e.parsed() ? ",\"parsed\":true" : ",\"parsed\":false";
  *out += e.truncated() ? ",\"truncated\":true" : ",\"truncated\":false";
  Str(",\"remote_host\":", e.remote_host(), out);
  Str(",\"session_id\":", e.session_id(), out);
  Str(",\"backend_type\":", e.backend_type(), out);
  *out += ",\"query_id\":\"";  // [(json_string) = true]
  AppendInt(e.query_id(), out);
  *out += '"';
  *out += ",\"session_line_num\":";
  AppendInt(e.session_line_num(), out);
  Str(",\"command_tag\":", e.command_tag(), out);
  Str(",\"internal_query\":", e.internal_query(), out);
  *out += ",\"leader_pid\":";
  AppendInt(e.leader_pid(), out);
  Str(",\"virtual_transaction_id\":", e.virtual_transaction_id(), out);
  *out += ",\"transaction_id\":\"";  // [(json_string) = true]
  AppendInt(e.transaction_id(), out);
  *out += '"';
  Str(",\"location\":", e.location(), out);
  if (e.has_statement_summary()) {
    *out += ",\"statement_summary\":";
    AppendByReflection(e.statement_summary(), out);
  }
  if (e.has_log_accounting()) {
    *out += ",\"log_accounting\":";
    AppendByReflection(e.log_accounting(), out);
  }
  *out += '}';
}

void AppendMessage(const Message& m, std::string* out) {
  if (const auto* entry = dynamic_cast<const pgagent::v1::LogEntry*>(&m)) {
    AppendLogEntry(*entry, out);
    return;
  }
  AppendByReflection(m, out);
}

void AppendByReflection(const Message& m, std::string* out) {
  const auto* d = m.GetDescriptor();
  static const google::protobuf::Descriptor* const kTimestamp =
      google::protobuf::Timestamp::descriptor();
  if (d == kTimestamp) {
    const Reflection* r = m.GetReflection();
    AppendJsonString(*out, FormatRfc3339(r->GetInt64(m, d->field(0)),    // seconds
                                         r->GetInt32(m, d->field(1))));  // nanos
    return;
  }
  *out += '{';
  bool first = true;
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* f = d->field(i);
    if (Omitted(m, f)) continue;
    if (!first) *out += ',';
    first = false;
    AppendField(m, f, out);
  }
  *out += '}';
}

}  // namespace

namespace {

// Proleptic Gregorian date of a day count since 1970-01-01 (H. Hinnant's civil_from_days).
void CivilFromDays(int64_t days, int64_t* y, unsigned* m, unsigned* d) {
  days += 719468;
  const int64_t era = (days >= 0 ? days : days - 146096) / 146097;
  const auto doe = static_cast<unsigned>(days - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = static_cast<int64_t>(yoe) + era * 400 + (*m <= 2);
}

char* Digits(unsigned v, int width, char* p) {
  for (int i = width - 1; i >= 0; --i, v /= 10) p[i] = static_cast<char>('0' + v % 10);
  return p + width;
}

}  // namespace

std::string FormatRfc3339(int64_t seconds, int32_t nanos) {
  // Floor division: -1 s is 1969-12-31T23:59:59.
  int64_t days = seconds / 86400;
  int64_t rem = seconds % 86400;
  if (rem < 0) {
    rem += 86400;
    --days;
  }
  int64_t year = 0;
  unsigned month = 0, day = 0;
  CivilFromDays(days, &year, &month, &day);
  const int millis = nanos / 1000000;
  if (year < 0 || year > 9999 || millis < 0 || millis > 999) {
    char buf[96];  // outside what 4 digits hold: printed as is (never from a real clock)
    std::snprintf(buf, sizeof(buf), "%04lld-%02u-%02uT%02d:%02d:%02d.%03dZ",
                  static_cast<long long>(year), month, day, static_cast<int>(rem / 3600),
                  static_cast<int>(rem / 60 % 60), static_cast<int>(rem % 60), millis);
    return buf;
  }
  char buf[24];
  char* p = Digits(static_cast<unsigned>(year), 4, buf);
  *p++ = '-';
  p = Digits(month, 2, p);
  *p++ = '-';
  p = Digits(day, 2, p);
  *p++ = 'T';
  p = Digits(static_cast<unsigned>(rem / 3600), 2, p);
  *p++ = ':';
  p = Digits(static_cast<unsigned>(rem / 60 % 60), 2, p);
  *p++ = ':';
  p = Digits(static_cast<unsigned>(rem % 60), 2, p);
  *p++ = '.';
  p = Digits(static_cast<unsigned>(millis), 3, p);
  *p++ = 'Z';
  return std::string(buf, p);
}

void AppendListenerJson(const Message& message, std::string* out) { AppendMessage(message, out); }

void AppendListenerJsonByReflection(const Message& message, std::string* out) {
  AppendByReflection(message, out);
}

void AppendListenerJsonFields(const Message& message, const std::vector<std::string>& field_names,
                              bool leading_comma, std::string* out) {
  const auto* d = message.GetDescriptor();
  bool need_comma = leading_comma;
  for (const std::string& name : field_names) {
    const FieldDescriptor* f = d->FindFieldByName(name);
    if (f == nullptr || Omitted(message, f)) continue;
    if (need_comma) *out += ',';
    need_comma = true;
    AppendField(message, f, out);
  }
}

}  // namespace pgagent
