// Small text helpers of the log parsers: timestamps as PostgreSQL prints them (UTF-8
// repair is common/utf8.h). Pure functions; thread-safe.
#pragma once

#include <google/protobuf/timestamp.pb.h>

#include <string>
#include <string_view>

namespace pgagent {

// Parses "YYYY-MM-DD HH:MM:SS[.fraction][ ZONE]" (%m, %t, csvlog log_time, jsonlog
// timestamp). ZONE may be UTC/GMT/Z/UCT, a numeric offset as PostgreSQL prints zones
// without an abbreviation ("+01", "-0330", "+05:30"), or a common abbreviation (CET, CEST,
// EET, EEST, WET, WEST, BST, MSK, IST (India), JST, KST, HKT, AEST, AEDT, ACST, AWST, NZST,
// NZDT, EST, EDT, CST, CDT (North America), MST, MDT, PST, PDT, AKST, AKDT, HST, SAST, BRT,
// ART). Any other zone is taken as UTC and *unknown_zone is set (counted by the caller).
// Returns false when the date/time part is malformed.
bool ParsePgTimestamp(std::string_view text, google::protobuf::Timestamp* out, bool* unknown_zone);
// Parses %n: "seconds.millis" since the epoch. Returns false when malformed.
bool ParseEpochTimestamp(std::string_view text, google::protobuf::Timestamp* out);

}  // namespace pgagent
