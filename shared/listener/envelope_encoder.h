// Turns buffered records into request bodies for the Bitville listener, exactly per its
// contract: {"correlation_id"?, "project", "timestamp", "source", "data"}. Everything that
// is not one of those five keys (host, agent version, record ids, lock waits) lives inside
// `data`, because the listener drops other top-level keys.
//
// The listener takes 100 requests per minute and stores one row per request, so a request
// carries as much as it usefully can:
//  - Aggregates (EncodeAggregate): consecutive records of ONE listener source coalesced into
//    one envelope, split only past max_envelope_bytes.
//      pg_stat_activity    data {snapshots: [ActivitySnapshot + collected_at, record_id, burst], count}
//      pg_stat_statements  data {snapshots: [StatementsSnapshot + ...], count}
//      system_metrics      data {snapshots: [SystemMetrics + ...], agent_health: [AgentHealth
//                          + ...], count}   (agent health rides with the host metrics)
//      pg_log              data {entries, count, levels, format, unparsed}
//    A single snapshot larger than the limit is split by rows; its parts carry
//    data.part / data.parts.
//  - Correlation rows (EncodeCorrelation): one envelope per PHP request with its id at the
//    top level (where the listener links), carrying data.query (redacted), data.duration_ms,
//    data.reasons, data.score and its sessions, lock_waits and entries. Source pg_log when it
//    has log entries, else pg_stat_activity.
// Every data object carries data.agent = {host, version, record_id, boot_id, seq,
// collected_at, kind, burst} of its first record, and data.agent.records lists every record
// id when there are several. The top-level timestamp is the newest record's collected_at.
// 64-bit identifiers are decimal strings (listener_json.h).
// Thread-safety: const methods are thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <google/protobuf/timestamp.pb.h>

#include "common/config.h"
#include "common/status.h"
#include "pgagent/v1/delivery.pb.h"
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

// What shipperd encodes with for this [listener] section (project_id, max_envelope_bytes).
EncoderOptions EncoderOptionsFor(const ListenerConfig& listener);

class EnvelopeEncoder {
 public:
  explicit EnvelopeEncoder(EncoderOptions options) : options_(std::move(options)) {}

  // The envelopes (usually one) for `records`, coalesced.
  // REQUIRES: records is not empty and every record maps to the same SourceFor().
  // Errors: kInvalidArgument for a record without payload or of another source.
  Result<std::vector<Envelope>> EncodeAggregate(
      const std::vector<const pgagent::v1::Record*>& records) const;

  // The one envelope of a correlation row. Errors: kInvalidArgument for a row without id.
  Result<Envelope> EncodeCorrelation(const pgagent::v1::CorrelationRow& row) const;

  // A system_metrics envelope that carries no record, only data.agent.check = `check` (what
  // pgagentctl test-connection sends to prove that the listener stores a row), dated `at`.
  Envelope EncodeCheck(const std::string& check, const std::string& host,
                       const google::protobuf::Timestamp& at) const;

  // The source name for a record kind ("" for unspecified).
  static const char* SourceFor(pgagent::v1::RecordKind kind);

  const EncoderOptions& options() const { return options_; }

 private:
  struct Head;  // what the envelope around `data` needs to know
  std::string Body(const Head& head, const std::string& data_members) const;
  Result<std::vector<Envelope>> EncodeLogs(
      const std::vector<const pgagent::v1::Record*>& records) const;
  Result<std::vector<Envelope>> EncodeSnapshots(
      const std::vector<const pgagent::v1::Record*>& records) const;

  EncoderOptions options_;
};

}  // namespace pgagent
