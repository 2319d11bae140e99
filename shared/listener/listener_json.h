// JSON text for the Bitville listener's `data` objects, written from protobuf messages by
// reflection. Unlike proto3's canonical JSON mapping (which quotes every 64-bit integer),
// counters stay JSON numbers (`disk_io.read_bytes`, as the Python agent sent them), while
// 64-bit identifiers marked [(json_string) = true] in the .proto (queryid, query_id,
// transaction_id) are decimal strings: the listener's JSON.parse reads numbers as doubles
// and would round them above 2^53. Other rules follow the canonical mapping:
// original (snake_case) field names, Timestamps as RFC 3339 strings in UTC, maps as
// objects, unset proto3 `optional` and unset message fields omitted (never null), other
// scalars and repeated fields always present. Enums are written as their value name
// without the type prefix, lower case (LOG_EVENT_CLASS_DEADLOCK -> "deadlock").
// LogEntry, one per log line and so most of what shipperd writes, has a hand-written fast
// path with the same output.
// Pure functions; thread-safe.
#pragma once

#include <google/protobuf/message.h>

#include <cstdint>
#include <string>
#include <vector>

namespace pgagent {

// Appends the JSON object for `message` to *out.
void AppendListenerJson(const google::protobuf::Message& message, std::string* out);

// The same, but the top-level message is always written by reflection, never by a fast
// path (LogEntry has one). Tests compare the two; nothing else needs it.
void AppendListenerJsonByReflection(const google::protobuf::Message& message, std::string* out);

// Appends only the listed fields of `message` (by name, in the given order) as the
// members of an object that the caller opened: `"name":value` pairs, comma-separated,
// with a leading comma when `leading_comma` is true. Unknown names are skipped.
void AppendListenerJsonFields(const google::protobuf::Message& message,
                              const std::vector<std::string>& field_names, bool leading_comma,
                              std::string* out);

// RFC 3339 UTC with milliseconds, e.g. "2026-11-27T10:00:00.123Z".
std::string FormatRfc3339(int64_t seconds, int32_t nanos);

}  // namespace pgagent
