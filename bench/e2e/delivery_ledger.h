// Accounts for what the test listener stored during an end-to-end run: every record id
// ("<boot_id>:<seq>": data.snapshots[].record_id and data.agent_health[].record_id of
// coalesced snapshot envelopes; data.agent.records or data.agent.record_id of log
// envelopes), every marker log line the run wrote ("pgagent-e2e-mark <n>" in
// data.entries[].message), and duplicates of both; the delivery lag of each record (the
// row's received_at less the record's collected_at, at its first arrival); the first
// arrival of every top-level correlation_id (the listener's correlation view); and
// shipperd's buffer depth from its health. Rows are fed in batches as the runner
// drains the listener, so the listener's memory stays bounded during long soaks.
//
// "Nothing lost" is defined as:
//  * log markers: every number 1..written appears at least once;
//  * snapshots/records: per boot id the seqs form one contiguous run starting at 1. A boot
//    whose collector was SIGKILLed may end early (records never acknowledged by shipperd
//    were never stored, so they cannot be delivered); a hole INSIDE the run is a loss,
//    because shipperd stores a boot's records strictly in order and acknowledged records
//    must be delivered.
// Thread-safety: not thread-safe; one owner.
#pragma once

#include <google/protobuf/struct.pb.h>

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace pgagent::e2e {

struct BootSummary {
  std::string boot_id;
  uint64_t first_seq = 0;
  uint64_t last_seq = 0;
  uint64_t distinct = 0;
  uint64_t holes = 0;  // seqs missing between first_seq and last_seq
};

struct LedgerSummary {
  uint64_t rows = 0;              // every stored row
  uint64_t correlation_rows = 0;  // per-correlation copies (carry a top-level id)
  std::map<std::string, uint64_t> rows_by_source;
  std::map<std::string, uint64_t> records_by_kind;  // distinct records
  uint64_t distinct_records = 0;
  uint64_t duplicate_record_rows = 0;  // an aggregate (record, part) stored again
  uint64_t boots = 0;
  uint64_t boots_not_starting_at_1 = 0;
  uint64_t seq_holes = 0;  // sum of BootSummary::holes
  uint64_t markers_expected = 0;
  uint64_t markers_seen = 0;  // distinct marker numbers 1..expected seen
  uint64_t markers_missing = 0;
  uint64_t marker_duplicates = 0;               // extra sightings of a marker number
  std::vector<uint64_t> first_missing_markers;  // up to 20, for the report
  std::vector<BootSummary> boots_detail;        // boots with holes or a late start first
};

// A record's first arrival at the listener.
struct Arrival {
  double collected_unix_s = 0;
  double lag_s = 0;  // received_at - collected_at
};

class DeliveryLedger {
 public:
  // Adds rows as returned by TestListener::StoredRows().
  void Add(const google::protobuf::ListValue& rows);
  // Distinct marker numbers seen so far that are <= `upto`.
  uint64_t MarkersSeenUpTo(uint64_t upto) const;
  // REQUIRES: markers_written is the number of markers the writer got committed.
  LedgerSummary Summarize(uint64_t markers_written) const;
  // First arrivals of records, in the order they were first seen.
  const std::vector<Arrival>& arrivals() const { return arrivals_; }
  // Top-level correlation id -> received_at (unix s) of its first row.
  const std::map<std::string, double>& linked_at() const { return linked_at_; }
  // Snapshots with burst = true (taken by burst sampling).
  uint64_t burst_records() const { return burst_records_; }
  // (received_at, buffer_records) of every shipperd health in the rows.
  const std::vector<std::pair<double, uint64_t>>& shipper_buffer() const {
    return shipper_buffer_;
  }

 private:
  // True when the record was seen for the first time.
  bool AddRecordId(const std::string& record_id, const std::string& kind, const std::string& part);
  void AddLogEntries(const google::protobuf::Struct& data);
  void AddSnapshots(const google::protobuf::Struct& data, const std::string& kind,
                    double received_at);
  void NoteArrival(bool first, const std::string& collected_at, double received_at);

  uint64_t rows_ = 0;
  uint64_t correlation_rows_ = 0;
  std::map<std::string, uint64_t> rows_by_source_;
  std::map<std::string, std::set<uint64_t>> seqs_by_boot_;
  std::map<std::string, uint64_t> records_by_kind_;
  std::set<std::pair<std::string, std::string>> record_parts_;  // (record id, part)
  uint64_t duplicate_record_rows_ = 0;
  std::vector<uint32_t> marker_counts_;  // index n: sightings of marker n
  std::vector<Arrival> arrivals_;
  std::map<std::string, double> linked_at_;
  std::vector<std::pair<double, uint64_t>> shipper_buffer_;
  uint64_t burst_records_ = 0;
};

// Unix seconds of an RFC 3339 UTC time ("2026-11-27T10:00:00.250Z"); 0 when unreadable.
double ParseRfc3339(const std::string& text);

// The p-th percentile (0..100) of `v`, nearest rank (0 when empty).
double Percentile(std::vector<double> v, double p);

// The marker line the runner writes for number n.
std::string MarkerText(uint64_t n);

}  // namespace pgagent::e2e
