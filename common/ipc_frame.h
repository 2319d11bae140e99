// Framing of the collectord -> shipperd IPC protocol (proto/pgagent/v1/ipc.proto): one
// serialized pgagent.v1.Frame per ZeroMQ message. Shared by collectord's Outbox and
// shipperd's IngestServer so that both agree on limits and validation.
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"
#include "pgagent/v1/ipc.pb.h"

namespace pgagent {

inline constexpr uint32_t kIpcProtocolVersion = 1;
// Default cap on one IPC message (ZMQ_MAXMSGSIZE on the receiving socket).
inline constexpr int64_t kDefaultMaxIpcMessageBytes = 8 * 1024 * 1024;

// "ipc://<runtime_dir>/ingest.sock"
std::string IngestEndpoint(std::string_view runtime_dir);
// "<runtime_dir>/ingest.sock"
std::string IngestSocketPath(std::string_view runtime_dir);

std::string EncodeFrame(const pgagent::v1::Frame& frame);

// Errors: kInvalidArgument when the bytes are not a Frame or carry no body,
// kResourceExhausted when larger than max_bytes.
Result<pgagent::v1::Frame> DecodeFrame(std::string_view bytes, int64_t max_bytes);

// Checks what shipperd relies on: an id with boot id and seq, a kind that matches the
// payload, a collected_at time. Errors: kInvalidArgument naming the problem.
Status ValidateRecord(const pgagent::v1::Record& record);

// "activity", "statements", "system", "log", "health" (stable names for counters/CLI).
std::string_view RecordKindName(pgagent::v1::RecordKind kind);
// Inverse of RecordKindName; RECORD_KIND_UNSPECIFIED for unknown names.
pgagent::v1::RecordKind RecordKindFromName(std::string_view name);

}  // namespace pgagent
