#include "shipperd/delivery/listener_json.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/timestamp.pb.h>

#include <algorithm>
#include <charconv>
#include <unordered_map>
#include <cctype>
#include <cstdlib>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <vector>

#include "common/json_util.h"

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

void AppendScalar(const Message& m, const FieldDescriptor* f, int index, std::string* out) {
  const Reflection* r = m.GetReflection();
  const bool rep = index >= 0;
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
      *out += std::to_string(rep ? r->GetRepeatedInt32(m, f, index) : r->GetInt32(m, f));
      break;
    case FieldDescriptor::CPPTYPE_INT64:
      *out += std::to_string(rep ? r->GetRepeatedInt64(m, f, index) : r->GetInt64(m, f));
      break;
    case FieldDescriptor::CPPTYPE_UINT32:
      *out += std::to_string(rep ? r->GetRepeatedUInt32(m, f, index) : r->GetUInt32(m, f));
      break;
    case FieldDescriptor::CPPTYPE_UINT64:
      *out += std::to_string(rep ? r->GetRepeatedUInt64(m, f, index) : r->GetUInt64(m, f));
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

void AppendMessage(const Message& m, std::string* out) {
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

std::string FormatRfc3339(int64_t seconds, int32_t nanos) {
  std::time_t t = static_cast<std::time_t>(seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[80];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(nanos / 1000000));
  return buf;
}

void AppendListenerJson(const Message& message, std::string* out) { AppendMessage(message, out); }

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
