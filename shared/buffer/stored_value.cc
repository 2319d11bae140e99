#include "shared/buffer/stored_value.h"

#include <cstring>

#include "shared/buffer/crc32c.h"

namespace pgagent {
namespace {

void PutLe(std::string& out, size_t offset, uint64_t value, size_t width) {
  for (size_t i = 0; i < width; ++i) out[offset + i] = static_cast<char>((value >> (8 * i)) & 0xFF);
}

uint64_t GetLe(std::string_view in, size_t offset, size_t width) {
  uint64_t value = 0;
  for (size_t i = 0; i < width; ++i) {
    value |= static_cast<uint64_t>(static_cast<unsigned char>(in[offset + i])) << (8 * i);
  }
  return value;
}

Result<std::string> Serialize(const pgagent::v1::Record& record) {
  std::string bytes;
  if (!record.SerializeToString(&bytes)) {
    return InvalidArgumentError("record cannot be serialized");
  }
  return bytes;
}

}  // namespace

Result<std::string> EncodeRecordValue(const pgagent::v1::Record& record,
                                      int64_t stored_at_unix_ms) {
  PGAGENT_ASSIGN_OR_RETURN(std::string payload, Serialize(record));
  std::string value(kRecordHeaderSize, '\0');
  value[0] = static_cast<char>(kStoredValueVersion);
  value[1] = static_cast<char>(record.kind() & 0xFF);
  PutLe(value, 4, payload.size(), 4);
  PutLe(value, 8, static_cast<uint64_t>(stored_at_unix_ms), 8);
  uint32_t crc = Crc32c(0, std::string_view(value).substr(0, 16));
  crc = Crc32c(crc, payload);
  PutLe(value, 16, crc, 4);
  value += payload;
  return value;
}

std::optional<RecordHeader> ReadRecordHeader(std::string_view value) {
  if (value.size() < kRecordHeaderSize) return std::nullopt;
  RecordHeader header;
  header.version = static_cast<uint8_t>(value[0]);
  if (header.version != kStoredValueVersion) return std::nullopt;
  header.kind = static_cast<unsigned char>(value[1]);
  header.payload_len = static_cast<uint32_t>(GetLe(value, 4, 4));
  header.stored_at_unix_ms = static_cast<int64_t>(GetLe(value, 8, 8));
  header.crc = static_cast<uint32_t>(GetLe(value, 16, 4));
  return header;
}

Result<pgagent::v1::Record> DecodeRecordValue(std::string_view value) {
  std::optional<RecordHeader> header = ReadRecordHeader(value);
  if (!header) return DataLossError("record value: short or unknown format version");
  std::string_view payload = value.substr(kRecordHeaderSize);
  if (payload.size() != header->payload_len) return DataLossError("record value: bad length");
  uint32_t crc = Crc32c(0, value.substr(0, 16));
  if (Crc32c(crc, payload) != header->crc) return DataLossError("record value: bad checksum");
  pgagent::v1::Record record;
  if (!record.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
    return DataLossError("record value: unparsable record");
  }
  return record;
}

std::string KindName(int kind) {
  switch (kind) {
    case pgagent::v1::RECORD_KIND_UNSPECIFIED:
      return "unspecified";
    case pgagent::v1::RECORD_KIND_ACTIVITY:
      return "activity";
    case pgagent::v1::RECORD_KIND_STATEMENTS:
      return "statements";
    case pgagent::v1::RECORD_KIND_SYSTEM:
      return "system";
    case pgagent::v1::RECORD_KIND_LOG:
      return "log";
    case pgagent::v1::RECORD_KIND_HEALTH:
      return "health";
    case pgagent::v1::RECORD_KIND_CLUSTER:
      return "cluster";
    default:
      return "unknown";
  }
}

namespace {

// Dead letters of format 1 held one record; format 2 holds a list: [u32 length][record]...
constexpr uint8_t kDeadLetterVersion = 2;

Result<std::string> SerializeRecordList(const std::vector<pgagent::v1::Record>& records) {
  std::string out;
  for (const pgagent::v1::Record& r : records) {
    PGAGENT_ASSIGN_OR_RETURN(std::string bytes, Serialize(r));
    std::string len(4, '\0');
    PutLe(len, 0, bytes.size(), 4);
    out += len;
    out += bytes;
  }
  return out;
}

bool ParseRecordList(std::string_view bytes, std::vector<pgagent::v1::Record>* records) {
  while (!bytes.empty()) {
    if (bytes.size() < 4) return false;
    const uint64_t len = GetLe(bytes, 0, 4);
    if (bytes.size() - 4 < len) return false;
    pgagent::v1::Record r;
    if (!r.ParseFromArray(bytes.data() + 4, static_cast<int>(len))) return false;
    records->push_back(std::move(r));
    bytes.remove_prefix(4 + len);
  }
  return true;
}

}  // namespace

Result<std::string> EncodeDeadLetterValue(const DeadLetter& letter) {
  PGAGENT_ASSIGN_OR_RETURN(std::string record, SerializeRecordList(letter.records));
  std::string value(kDeadLetterHeaderSize, '\0');
  value[0] = static_cast<char>(kDeadLetterVersion);
  PutLe(value, 4, static_cast<uint32_t>(letter.http_status), 4);
  PutLe(value, 8, static_cast<uint64_t>(letter.dead_lettered_at_unix_ms), 8);
  PutLe(value, 16, letter.envelope_json.size(), 4);
  PutLe(value, 20, letter.response_body.size(), 4);
  PutLe(value, 24, record.size(), 4);
  uint32_t crc = Crc32c(0, std::string_view(value).substr(0, 28));
  crc = Crc32c(Crc32c(Crc32c(crc, letter.envelope_json), letter.response_body), record);
  PutLe(value, 28, crc, 4);
  value += letter.envelope_json;
  value += letter.response_body;
  value += record;
  return value;
}

Result<DeadLetter> DecodeDeadLetterValue(std::string_view value) {
  const bool v1 = !value.empty() && value[0] == static_cast<char>(kStoredValueVersion);
  const bool v2 = !value.empty() && value[0] == static_cast<char>(kDeadLetterVersion);
  if (value.size() < kDeadLetterHeaderSize || !(v1 || v2)) {
    return DataLossError("dead letter: short or unknown format version");
  }
  const uint64_t envelope_len = GetLe(value, 16, 4);
  const uint64_t response_len = GetLe(value, 20, 4);
  const uint64_t record_len = GetLe(value, 24, 4);
  if (kDeadLetterHeaderSize + envelope_len + response_len + record_len != value.size()) {
    return DataLossError("dead letter: bad lengths");
  }
  std::string_view body = value.substr(kDeadLetterHeaderSize);
  uint32_t crc = Crc32c(Crc32c(0, value.substr(0, 28)), body);
  if (crc != static_cast<uint32_t>(GetLe(value, 28, 4))) {
    return DataLossError("dead letter: bad checksum");
  }
  DeadLetter letter;
  letter.http_status = static_cast<int32_t>(static_cast<uint32_t>(GetLe(value, 4, 4)));
  letter.dead_lettered_at_unix_ms = static_cast<int64_t>(GetLe(value, 8, 8));
  letter.envelope_json = std::string(body.substr(0, envelope_len));
  letter.response_body = std::string(body.substr(envelope_len, response_len));
  std::string_view record = body.substr(envelope_len + response_len);
  if (v1) {
    pgagent::v1::Record r;
    if (!r.ParseFromArray(record.data(), static_cast<int>(record.size()))) {
      return DataLossError("dead letter: unparsable record");
    }
    letter.records.push_back(std::move(r));
  } else if (!ParseRecordList(record, &letter.records)) {
    return DataLossError("dead letter: unparsable record list");
  }
  return letter;
}

}  // namespace pgagent
