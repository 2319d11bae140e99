#include "collectord/pg/row_fill.h"

#include <algorithm>

#include "collectord/pg/pg_values.h"

namespace pgagent {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

bool IsInteger(FieldDescriptor::CppType t) {
  return t == FieldDescriptor::CPPTYPE_INT32 || t == FieldDescriptor::CPPTYPE_INT64 ||
         t == FieldDescriptor::CPPTYPE_UINT32 || t == FieldDescriptor::CPPTYPE_UINT64;
}

// Integers may come as "12" or, from numeric/float expressions, as "12.0"; negative
// values of unsigned fields are clamped at 0.
bool ParseInteger(const std::string& text, int64_t& out) {
  PgValue v = text;
  int64_t parsed = PgInt(v, INT64_MIN);
  if (parsed == INT64_MIN) {
    double d = PgDouble(v, -1e300);
    if (d == -1e300) return false;
    parsed = static_cast<int64_t>(d);
  }
  out = parsed;
  return true;
}

bool SetScalar(const FieldDescriptor& f, const std::string& text, Message& msg) {
  const Reflection& r = *msg.GetReflection();
  int64_t i = 0;
  switch (f.cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
      if (!ParseInteger(text, i)) return false;
      r.SetInt32(&msg, &f, static_cast<int32_t>(i));
      return true;
    case FieldDescriptor::CPPTYPE_INT64:
      if (!ParseInteger(text, i)) return false;
      r.SetInt64(&msg, &f, i);
      return true;
    case FieldDescriptor::CPPTYPE_UINT32:
      if (!ParseInteger(text, i)) return false;
      r.SetUInt32(&msg, &f, static_cast<uint32_t>(std::max<int64_t>(i, 0)));
      return true;
    case FieldDescriptor::CPPTYPE_UINT64:
      if (!ParseInteger(text, i)) return false;
      r.SetUInt64(&msg, &f, static_cast<uint64_t>(std::max<int64_t>(i, 0)));
      return true;
    case FieldDescriptor::CPPTYPE_DOUBLE:
      r.SetDouble(&msg, &f, PgDouble(PgValue(text)));
      return true;
    case FieldDescriptor::CPPTYPE_BOOL:
      r.SetBool(&msg, &f, PgBool(PgValue(text)));
      return true;
    case FieldDescriptor::CPPTYPE_STRING:
      r.SetString(&msg, &f, text);
      return true;
    default:
      return false;
  }
}

}  // namespace

void FillFromRow(const PgResult& res, size_t row, Message& msg) {
  const auto* d = msg.GetDescriptor();
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* f = d->field(i);
    if (f->is_repeated() || f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) continue;
    const PgValue& v = res.Get(row, f->name());
    if (v) SetScalar(*f, *v, msg);
  }
}

bool CounterDeltas::Update(const std::string& key, const PgResult& res, size_t row,
                           Message& delta) {
  const auto* d = delta.GetDescriptor();
  std::vector<Value> now(static_cast<size_t>(d->field_count()));
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* f = d->field(i);
    const PgValue& v = res.Get(row, f->name());
    if (!v || f->is_repeated()) continue;
    Value& out = now[static_cast<size_t>(i)];
    int64_t parsed = 0;
    if (IsInteger(f->cpp_type()) && ParseInteger(*v, parsed)) {
      out = {true, static_cast<uint64_t>(std::max<int64_t>(parsed, 0)), 0};
    } else if (f->cpp_type() == FieldDescriptor::CPPTYPE_DOUBLE) {
      out = {true, 0, PgDouble(v)};
    }
  }
  auto [it, fresh] = entries_.try_emplace(key);
  std::vector<Value> previous = std::move(it->second.values);
  it->second.values = std::move(now);
  it->second.seen = true;
  if (fresh) return false;
  const Reflection& r = *delta.GetReflection();
  const std::vector<Value>& cur = it->second.values;
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* f = d->field(i);
    const auto k = static_cast<size_t>(i);
    if (f->is_repeated()) continue;
    if (!cur[k].present) {
      const PgValue& v = res.Get(row, f->name());
      if (v && (f->cpp_type() == FieldDescriptor::CPPTYPE_STRING ||
                f->cpp_type() == FieldDescriptor::CPPTYPE_BOOL)) {
        SetScalar(*f, *v, delta);
      }
      continue;
    }
    const bool had = k < previous.size() && previous[k].present;
    if (f->cpp_type() == FieldDescriptor::CPPTYPE_DOUBLE) {
      double p = had ? previous[k].d : 0;
      r.SetDouble(&delta, f, cur[k].d >= p ? cur[k].d - p : cur[k].d);
      continue;
    }
    uint64_t p = had ? previous[k].u : 0;
    uint64_t value = cur[k].u >= p ? cur[k].u - p : cur[k].u;
    switch (f->cpp_type()) {
      case FieldDescriptor::CPPTYPE_INT32:
        r.SetInt32(&delta, f, static_cast<int32_t>(value));
        break;
      case FieldDescriptor::CPPTYPE_INT64:
        r.SetInt64(&delta, f, static_cast<int64_t>(value));
        break;
      case FieldDescriptor::CPPTYPE_UINT32:
        r.SetUInt32(&delta, f, static_cast<uint32_t>(value));
        break;
      default:
        r.SetUInt64(&delta, f, value);
        break;
    }
  }
  return true;
}

void CounterDeltas::Sweep() {
  std::erase_if(entries_, [](const auto& e) { return !e.second.seen; });
  for (auto& [key, entry] : entries_) entry.seen = false;
}

}  // namespace pgagent
