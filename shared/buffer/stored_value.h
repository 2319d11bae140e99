// Byte layout of the values that LmdbBuffer stores, kept apart from the LMDB code so that it
// can be tested on its own and read by tools.
//
// A record value is a 20-byte little-endian header followed by the serialized Record:
//   [0] format version (1)  [1] RecordKind  [2..4) reserved (0)  [4..8) payload length
//   [8..16) stored_at, unix ms  [16..20) CRC-32C of bytes [0..16) and of the payload.
// A dead-letter value is a 32-byte header followed by three byte strings:
//   [0] format version (1)  [1..4) reserved  [4..8) http status  [8..16) dead-lettered at,
//   unix ms  [16..20) envelope length  [20..24) response length  [24..28) record length
//   [28..32) CRC-32C of bytes [0..28) and of the three strings; then envelope JSON, response
//   body, serialized Record.
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"
#include "pgagent/v1/records.pb.h"
#include "shared/buffer/record_buffer.h"

namespace pgagent {

inline constexpr uint8_t kStoredValueVersion = 1;
inline constexpr size_t kRecordHeaderSize = 20;
inline constexpr size_t kDeadLetterHeaderSize = 32;

struct RecordHeader {
  uint8_t version = 0;
  int kind = 0;  // pgagent::v1::RecordKind as stored (not verified)
  uint32_t payload_len = 0;
  int64_t stored_at_unix_ms = 0;
  uint32_t crc = 0;
};

// Header + serialized record. kInvalidArgument when the record cannot be serialized.
Result<std::string> EncodeRecordValue(const pgagent::v1::Record& record, int64_t stored_at_unix_ms);

// The header alone, without checking the checksum (cheap: for stats and eviction counters).
// nullopt when the value is shorter than a header or has an unknown version.
std::optional<RecordHeader> ReadRecordHeader(std::string_view value);

// Checks version, length and checksum and parses the record. kDataLoss when any check fails.
Result<pgagent::v1::Record> DecodeRecordValue(std::string_view value);

// Lower-case kind name for counters: "activity", "statements", "system", "log", "health",
// "unspecified"; "unknown" for values outside the enum.
std::string KindName(int kind);

// Dead letter without its id (the id is the LMDB key). kInvalidArgument when the record
// cannot be serialized.
Result<std::string> EncodeDeadLetterValue(const DeadLetter& letter);

// Checks version, lengths and checksum. kDataLoss when any check fails; the id is left 0.
Result<DeadLetter> DecodeDeadLetterValue(std::string_view value);

}  // namespace pgagent
