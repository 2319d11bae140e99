// Parsing of text values returned by PostgreSQL (text result format) into C++ and protobuf
// types. Malformed or NULL values yield the documented fallback (0, empty), never a crash.
// Pure functions; thread-safe.
#pragma once

#include <google/protobuf/timestamp.pb.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "collectord/pg/pg_session.h"

namespace pgagent {

int64_t PgInt(const PgValue& v, int64_t fallback = 0);
uint64_t PgUint(const PgValue& v, uint64_t fallback = 0);
double PgDouble(const PgValue& v, double fallback = 0.0);
// "t" -> true; anything else (including NULL) -> fallback when NULL, else false.
bool PgBool(const PgValue& v, bool fallback = false);
std::string PgText(const PgValue& v);
// "{1,-2,3}" (an int array in text form) -> {1, -2, 3}; malformed elements are skipped.
std::vector<int64_t> PgIntArray(const PgValue& v);
// Microseconds since the Unix epoch -> Timestamp; nullopt when NULL or malformed.
std::optional<google::protobuf::Timestamp> TimestampFromMicros(const PgValue& v);

}  // namespace pgagent
