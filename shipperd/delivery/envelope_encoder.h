// Turns buffered records into request bodies for the Bitville listener, exactly per its
// contract (issue 2): {"correlation_id"?, "project", "timestamp", "source", "data"}.
// Everything that is not one of those five keys (host, agent version, record id, lock
// waits) lives inside `data`, because the listener drops other top-level keys.
//
//   activity   -> pg_stat_activity   data {sessions, count, with_correlation, lock_waits, ...}
//   statements -> pg_stat_statements data {statements, count, ...}
//   system     -> system_metrics     data {cpu, memory, disk_io, network_io, disk_usage, ...}
//   log        -> pg_log             data {entries, count, levels, ...}
//   health     -> system_metrics     data {agent_health: {...}}
// Every data object carries data.agent = {host, version, record_id, boot_id, seq,
// collected_at, kind, burst}.
//
// Correlation: the listener links a PHP request to database rows only through the
// top-level correlation_id. For each distinct id among an activity snapshot's sessions or
// a log batch's entries, an extra envelope carries that id at the top level with just its
// sessions (and the lock waits they are part of) or entries (plus data.duration_ms, the
// sum of the entries' durations), up to `correlation_budget` ids per call; ids beyond it
// stay only in the aggregate envelope and are counted as unlinked.
// Aggregates larger than max_envelope_bytes are split by rows into parts
// (data.part / data.parts).
// Thread-safety: const methods are thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "pgagent/v1/records.pb.h"

namespace pgagent {

inline constexpr const char* kSourceActivity = "pg_stat_activity";
inline constexpr const char* kSourceStatements = "pg_stat_statements";
inline constexpr const char* kSourceSystem = "system_metrics";
inline constexpr const char* kSourceLog = "pg_log";

struct EncoderOptions {
  // [listener] project_id, put in every envelope's `project`.
  std::string project_id = "default";
  // Split aggregates larger than this (bytes of the whole body).
  size_t max_envelope_bytes = 1024 * 1024;
  // data.agent.version.
  std::string agent_version = PGAGENT_VERSION;
};

struct Envelope {
  std::string source;
  std::optional<std::string> correlation_id;
  // The whole JSON request body.
  std::string body;
};

struct EncodeResult {
  std::vector<Envelope> envelopes;  // aggregate part(s) first, then per-correlation ones
  size_t correlation_envelopes = 0;
  size_t unlinked_correlation_ids = 0;  // ids beyond the budget
};

class EnvelopeEncoder {
 public:
  explicit EnvelopeEncoder(EncoderOptions options) : options_(std::move(options)) {}

  // Errors: kInvalidArgument for a record without payload.
  Result<EncodeResult> Encode(const pgagent::v1::Record& record, size_t correlation_budget) const;

  // Coalesces consecutive log records into one aggregate (split only past
  // max_envelope_bytes) plus per-correlation envelopes. data.agent describes the first
  // record and data.agent.records lists every record id. REQUIRES: all records are logs.
  Result<EncodeResult> EncodeLogs(const std::vector<const pgagent::v1::Record*>& records,
                                  size_t correlation_budget) const;

  // The source name for a record kind ("" for unspecified).
  static const char* SourceFor(pgagent::v1::RecordKind kind);

 private:
  std::string Body(const pgagent::v1::Record& record, const char* source,
                   const std::optional<std::string>& correlation_id,
                   const std::string& data_members) const;

  EncoderOptions options_;
};

}  // namespace pgagent
