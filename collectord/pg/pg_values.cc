#include "collectord/pg/pg_values.h"

#include <algorithm>
#include <charconv>
#include <cstdlib>

namespace pgagent {

int64_t PgInt(const PgValue& v, int64_t fallback) {
  if (!v) return fallback;
  int64_t out = 0;
  auto r = std::from_chars(v->data(), v->data() + v->size(), out);
  if (r.ec != std::errc()) return fallback;
  return out;
}

uint64_t PgUint(const PgValue& v, uint64_t fallback) {
  if (!v) return fallback;
  uint64_t out = 0;
  auto r = std::from_chars(v->data(), v->data() + v->size(), out);
  if (r.ec != std::errc()) return fallback;
  return out;
}

double PgDouble(const PgValue& v, double fallback) {
  if (!v || v->empty()) return fallback;
  char* end = nullptr;
  double out = std::strtod(v->c_str(), &end);
  if (end == v->c_str()) return fallback;
  return out;
}

bool PgBool(const PgValue& v, bool fallback) {
  if (!v) return fallback;
  return *v == "t" || *v == "true";
}

std::string PgText(const PgValue& v) { return v ? *v : std::string(); }

std::vector<int64_t> PgIntArray(const PgValue& v) {
  std::vector<int64_t> out;
  if (!v || v->size() < 2 || v->front() != '{' || v->back() != '}') return out;
  const char* p = v->data() + 1;
  const char* end = v->data() + v->size() - 1;
  while (p < end) {
    int64_t value = 0;
    auto r = std::from_chars(p, end, value);
    if (r.ec == std::errc()) out.push_back(value);
    const char* comma = std::find(r.ptr, end, ',');
    p = comma == end ? end : comma + 1;
  }
  return out;
}

std::optional<google::protobuf::Timestamp> TimestampFromMicros(const PgValue& v) {
  if (!v) return std::nullopt;
  int64_t us = 0;
  auto r = std::from_chars(v->data(), v->data() + v->size(), us);
  if (r.ec != std::errc()) return std::nullopt;
  int64_t seconds = us / 1000000;
  int64_t micros = us % 1000000;
  if (micros < 0) {
    micros += 1000000;
    seconds -= 1;
  }
  google::protobuf::Timestamp ts;
  ts.set_seconds(seconds);
  ts.set_nanos(static_cast<int32_t>(micros * 1000));
  return ts;
}

}  // namespace pgagent
