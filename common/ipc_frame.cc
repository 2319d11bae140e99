#include "common/ipc_frame.h"

namespace pgagent {

using pgagent::v1::Frame;
using pgagent::v1::Record;
using pgagent::v1::RecordKind;

std::string IngestSocketPath(std::string_view runtime_dir) {
  std::string path(runtime_dir);
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  return path + "/ingest.sock";
}

std::string IngestEndpoint(std::string_view runtime_dir) {
  return "ipc://" + IngestSocketPath(runtime_dir);
}

std::string EncodeFrame(const Frame& frame) {
  std::string out;
  frame.SerializeToString(&out);
  return out;
}

Result<Frame> DecodeFrame(std::string_view bytes, int64_t max_bytes) {
  if (static_cast<int64_t>(bytes.size()) > max_bytes) {
    return ResourceExhaustedError("frame of " + std::to_string(bytes.size()) +
                                  " bytes exceeds the limit of " + std::to_string(max_bytes));
  }
  Frame frame;
  if (!frame.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return InvalidArgumentError("not a pgagent.v1.Frame (" + std::to_string(bytes.size()) +
                                " bytes)");
  }
  if (frame.body_case() == Frame::BODY_NOT_SET) {
    return InvalidArgumentError("frame has no body (unknown frame type?)");
  }
  return frame;
}

namespace {

RecordKind KindOfPayload(const Record& record) {
  switch (record.payload_case()) {
    case Record::kActivity: return pgagent::v1::RECORD_KIND_ACTIVITY;
    case Record::kStatements: return pgagent::v1::RECORD_KIND_STATEMENTS;
    case Record::kSystem: return pgagent::v1::RECORD_KIND_SYSTEM;
    case Record::kLog: return pgagent::v1::RECORD_KIND_LOG;
    case Record::kHealth: return pgagent::v1::RECORD_KIND_HEALTH;
    case Record::kCluster: return pgagent::v1::RECORD_KIND_CLUSTER;
    case Record::PAYLOAD_NOT_SET: break;
  }
  return pgagent::v1::RECORD_KIND_UNSPECIFIED;
}

}  // namespace

Status ValidateRecord(const Record& record) {
  if (record.id().boot_id().empty()) return InvalidArgumentError("record without boot id");
  if (record.id().seq() == 0) return InvalidArgumentError("record without sequence number");
  if (record.kind() == pgagent::v1::RECORD_KIND_UNSPECIFIED) {
    return InvalidArgumentError("record without kind");
  }
  if (KindOfPayload(record) != record.kind()) {
    return InvalidArgumentError("record kind " + std::string(RecordKindName(record.kind())) +
                                " does not match its payload");
  }
  if (!record.has_collected_at()) return InvalidArgumentError("record without collected_at");
  return Status::Ok();
}

std::string_view RecordKindName(RecordKind kind) {
  switch (kind) {
    case pgagent::v1::RECORD_KIND_ACTIVITY: return "activity";
    case pgagent::v1::RECORD_KIND_STATEMENTS: return "statements";
    case pgagent::v1::RECORD_KIND_SYSTEM: return "system";
    case pgagent::v1::RECORD_KIND_LOG: return "log";
    case pgagent::v1::RECORD_KIND_HEALTH: return "health";
    case pgagent::v1::RECORD_KIND_CLUSTER: return "cluster";
    default: return "unspecified";
  }
}

RecordKind RecordKindFromName(std::string_view name) {
  for (RecordKind k : {pgagent::v1::RECORD_KIND_ACTIVITY, pgagent::v1::RECORD_KIND_STATEMENTS,
                       pgagent::v1::RECORD_KIND_SYSTEM, pgagent::v1::RECORD_KIND_LOG,
                       pgagent::v1::RECORD_KIND_HEALTH, pgagent::v1::RECORD_KIND_CLUSTER}) {
    if (RecordKindName(k) == name) return k;
  }
  return pgagent::v1::RECORD_KIND_UNSPECIFIED;
}

}  // namespace pgagent
