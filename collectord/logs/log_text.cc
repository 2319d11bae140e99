#include "collectord/logs/log_text.h"

#include <cstdint>
#include <cstring>

namespace pgagent {
namespace {

bool Digits(std::string_view s, size_t pos, size_t n, int* out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

struct ZoneAbbrev {
  std::string_view name;
  int offset_minutes;
};

constexpr ZoneAbbrev kZones[] = {
    {"UTC", 0},    {"GMT", 0},    {"Z", 0},      {"UCT", 0},     {"WET", 0},     {"WEST", 60},
    {"BST", 60},   {"CET", 60},   {"CEST", 120}, {"MET", 60},    {"MEST", 120},  {"EET", 120},
    {"EEST", 180}, {"MSK", 180},  {"IST", 330},  {"JST", 540},   {"KST", 540},   {"HKT", 480},
    {"AWST", 480}, {"ACST", 570}, {"ACDT", 630}, {"AEST", 600},  {"AEDT", 660},  {"NZST", 720},
    {"NZDT", 780}, {"EST", -300}, {"EDT", -240}, {"CST", -360},  {"CDT", -300},  {"MST", -420},
    {"MDT", -360}, {"PST", -480}, {"PDT", -420}, {"AKST", -540}, {"AKDT", -480}, {"HST", -600},
    {"SAST", 120}, {"BRT", -180}, {"ART", -180},
};

// Offset of a zone in minutes east of UTC; false when unknown.
bool ZoneOffset(std::string_view z, int* minutes) {
  if (z.empty()) {
    *minutes = 0;
    return true;
  }
  if (z[0] == '+' || z[0] == '-') {
    int sign = z[0] == '-' ? -1 : 1;
    int h = 0, m = 0;
    if (!Digits(z, 1, 2, &h)) return false;
    size_t p = 3;
    if (p < z.size() && z[p] == ':') ++p;
    if (p < z.size() && !Digits(z, p, 2, &m)) return false;
    if (p < z.size() && p + 2 != z.size()) return false;
    *minutes = sign * (h * 60 + m);
    return true;
  }
  for (const ZoneAbbrev& a : kZones) {
    if (a.name == z) {
      *minutes = a.offset_minutes;
      return true;
    }
  }
  return false;
}

// Nanoseconds from an optional ".ddd..." at s[p] (digits past the ninth are ignored);
// advances p past it.
int32_t ParseFraction(std::string_view s, size_t& p) {
  int32_t nanos = 0;
  if (p < s.size() && s[p] == '.') {
    ++p;
    int32_t scale = 100000000;
    while (p < s.size() && s[p] >= '0' && s[p] <= '9') {
      nanos += (s[p] - '0') * scale;
      scale /= 10;
      ++p;
    }
  }
  return nanos;
}

}  // namespace

bool ParsePgTimestamp(std::string_view s, google::protobuf::Timestamp* out, bool* unknown_zone) {
  int year, month, day, hour, minute, second;
  if (!Digits(s, 0, 4, &year) || s.size() < 19 || s[4] != '-' || !Digits(s, 5, 2, &month) ||
      s[7] != '-' || !Digits(s, 8, 2, &day) || (s[10] != ' ' && s[10] != 'T') ||
      !Digits(s, 11, 2, &hour) || s[13] != ':' || !Digits(s, 14, 2, &minute) || s[16] != ':' ||
      !Digits(s, 17, 2, &second)) {
    return false;
  }
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) {
    return false;
  }
  size_t p = 19;
  const int32_t nanos = ParseFraction(s, p);
  while (p < s.size() && s[p] == ' ') ++p;
  std::string_view zone = s.substr(p);
  int offset = 0;
  if (!ZoneOffset(zone, &offset)) {
    *unknown_zone = true;
    offset = 0;
  }
  int64_t secs =
      DaysFromCivil(year, static_cast<unsigned>(month), static_cast<unsigned>(day)) * 86400 +
      hour * 3600 + minute * 60 + second - static_cast<int64_t>(offset) * 60;
  out->set_seconds(secs);
  out->set_nanos(nanos);
  return true;
}

bool ParseEpochTimestamp(std::string_view s, google::protobuf::Timestamp* out) {
  int64_t secs = 0;
  size_t p = 0;
  while (p < s.size() && s[p] >= '0' && s[p] <= '9' && p < 15) {
    secs = secs * 10 + (s[p] - '0');
    ++p;
  }
  if (p == 0) return false;
  const int32_t nanos = ParseFraction(s, p);
  if (p != s.size()) return false;
  out->set_seconds(secs);
  out->set_nanos(nanos);
  return true;
}

}  // namespace pgagent
