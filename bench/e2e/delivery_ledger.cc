#include "bench/e2e/delivery_ledger.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string_view>

namespace pgagent::e2e {

namespace {

using google::protobuf::Struct;
using google::protobuf::Value;

constexpr std::string_view kMarkerPrefix = "pgagent-e2e-mark ";

const Value* Field(const Struct& s, const std::string& key) {
  auto it = s.fields().find(key);
  return it == s.fields().end() ? nullptr : &it->second;
}

std::string StringField(const Struct& s, const std::string& key) {
  const Value* v = Field(s, key);
  if (v == nullptr) return "";
  if (v->kind_case() == Value::kStringValue) return v->string_value();
  if (v->kind_case() == Value::kNumberValue)
    return std::to_string(static_cast<int64_t>(v->number_value()));
  return "";
}

// Every marker number in `text` (several when entries were merged).
void ForEachMarker(std::string_view text, std::vector<uint32_t>* counts) {
  for (size_t pos = text.find(kMarkerPrefix); pos != std::string_view::npos;
       pos = text.find(kMarkerPrefix, pos + 1)) {
    size_t i = pos + kMarkerPrefix.size();
    uint64_t n = 0;
    bool digits = false;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9' && n < (1ull << 40)) {
      n = n * 10 + static_cast<uint64_t>(text[i] - '0');
      digits = true;
      ++i;
    }
    if (!digits) continue;
    if (counts->size() <= n) counts->resize(std::max<size_t>(n + 1, counts->size() * 2), 0);
    ++(*counts)[n];
  }
}

}  // namespace

std::string MarkerText(uint64_t n) { return std::string(kMarkerPrefix) + std::to_string(n); }

double ParseRfc3339(const std::string& text) {
  std::tm tm{};
  double frac = 0;
  int consumed = 0;
  if (std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                  &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &consumed) != 6) {
    return 0;
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  if (consumed < static_cast<int>(text.size()) && text[consumed] == '.') {
    frac = std::strtod(text.c_str() + consumed, nullptr);
  }
  return static_cast<double>(timegm(&tm)) + frac;
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(v.size())));
  return v[std::min(v.size() - 1, rank == 0 ? 0 : rank - 1)];
}

bool DeliveryLedger::AddRecordId(const std::string& record_id, const std::string& kind,
                                 const std::string& part) {
  if (!record_parts_.insert({record_id, part}).second) {
    ++duplicate_record_rows_;
    return false;
  }
  const size_t colon = record_id.rfind(':');
  if (colon == std::string::npos) return false;
  const std::string boot = record_id.substr(0, colon);
  const uint64_t seq = std::strtoull(record_id.c_str() + colon + 1, nullptr, 10);
  if (!seqs_by_boot_[boot].insert(seq).second) return false;
  ++records_by_kind_[kind];
  return true;
}

void DeliveryLedger::NoteArrival(bool first, const std::string& collected_at,
                                 double received_at) {
  if (!first) return;
  const double collected = ParseRfc3339(collected_at);
  if (collected > 0) arrivals_.push_back({collected, received_at - collected});
}

void DeliveryLedger::AddSnapshots(const Struct& data, const std::string& kind,
                                  double received_at) {
  for (const char* key : {"snapshots", "agent_health", "cluster"}) {
    const Value* list = Field(data, key);
    if (list == nullptr || list->kind_case() != Value::kListValue) continue;
    const std::string element_kind = std::string(key) == "agent_health" ? "health"
                                     : std::string(key) == "cluster"    ? "cluster"
                                                                        : kind;
    for (const Value& v : list->list_value().values()) {
      if (v.kind_case() != Value::kStructValue) continue;
      const Struct& snapshot = v.struct_value();
      const bool first = AddRecordId(StringField(snapshot, "record_id"), element_kind,
                                     StringField(snapshot, "part"));
      NoteArrival(first, StringField(snapshot, "collected_at"), received_at);
      const Value* burst = Field(snapshot, "burst");
      if (first && burst != nullptr && burst->bool_value()) ++burst_records_;
      if (element_kind == "health" && StringField(snapshot, "component") == "shipperd") {
        shipper_buffer_.emplace_back(
            received_at, std::strtoull(StringField(snapshot, "buffer_records").c_str(), nullptr, 10));
      }
    }
  }
}

void DeliveryLedger::AddLogEntries(const Struct& data) {
  const Value* entries = Field(data, "entries");
  if (entries == nullptr || entries->kind_case() != Value::kListValue) return;
  for (const Value& e : entries->list_value().values()) {
    if (e.kind_case() != Value::kStructValue) continue;
    ForEachMarker(StringField(e.struct_value(), "message"), &marker_counts_);
  }
}

void DeliveryLedger::Add(const google::protobuf::ListValue& rows) {
  for (const Value& row_value : rows.values()) {
    if (row_value.kind_case() != Value::kStructValue) continue;
    const Struct& row = row_value.struct_value();
    ++rows_;
    const std::string source = StringField(row, "source");
    ++rows_by_source_[source];
    const Value* received_value = Field(row, "received_at");
    const double received_at =
        received_value != nullptr ? received_value->number_value() : 0;
    const std::string correlation_id = StringField(row, "correlation_id");
    if (!correlation_id.empty()) {
      ++correlation_rows_;  // one PHP request; its rows are in the aggregates too
      auto [it, inserted] = linked_at_.emplace(correlation_id, received_at);
      if (!inserted) it->second = std::min(it->second, received_at);
      continue;
    }
    const Value* data_value = Field(row, "data");
    if (data_value == nullptr || data_value->kind_case() != Value::kStructValue) continue;
    const Struct& data = data_value->struct_value();
    const Value* agent_value = Field(data, "agent");
    if (agent_value == nullptr || agent_value->kind_case() != Value::kStructValue) continue;
    const Struct& agent = agent_value->struct_value();
    const std::string kind = StringField(agent, "kind");
    if (Field(data, "snapshots") != nullptr || Field(data, "agent_health") != nullptr ||
        Field(data, "cluster") != nullptr) {
      // data.agent describes the first record, which may be health or cluster: the kind of
      // the snapshots follows from the source.
      const std::string snapshot_kind = source == "pg_stat_activity"     ? "activity"
                                        : source == "pg_stat_statements" ? "statements"
                                                                         : "system";
      AddSnapshots(data, snapshot_kind, received_at);
      continue;
    }
    const std::string part = StringField(data, "part");
    const std::string collected_at = StringField(agent, "collected_at");
    const Value* records = Field(agent, "records");
    if (records != nullptr && records->kind_case() == Value::kListValue) {
      for (const Value& id : records->list_value().values()) {
        NoteArrival(AddRecordId(id.string_value(), kind, part), collected_at, received_at);
      }
    } else {
      NoteArrival(AddRecordId(StringField(agent, "record_id"), kind, part), collected_at,
                  received_at);
    }
    if (source == "pg_log") AddLogEntries(data);
  }
}

uint64_t DeliveryLedger::MarkersSeenUpTo(uint64_t upto) const {
  uint64_t n = 0;
  for (uint64_t i = 1; i <= upto && i < marker_counts_.size(); ++i) n += marker_counts_[i] > 0;
  return n;
}

LedgerSummary DeliveryLedger::Summarize(uint64_t markers_written) const {
  LedgerSummary s;
  s.rows = rows_;
  s.correlation_rows = correlation_rows_;
  s.rows_by_source = rows_by_source_;
  s.records_by_kind = records_by_kind_;
  s.duplicate_record_rows = duplicate_record_rows_;
  s.boots = seqs_by_boot_.size();
  for (const auto& [boot, seqs] : seqs_by_boot_) {
    BootSummary b;
    b.boot_id = boot;
    b.first_seq = *seqs.begin();
    b.last_seq = *seqs.rbegin();
    b.distinct = seqs.size();
    b.holes = b.last_seq - b.first_seq + 1 - b.distinct;
    s.distinct_records += b.distinct;
    s.seq_holes += b.holes;
    if (b.first_seq != 1) ++s.boots_not_starting_at_1;
    s.boots_detail.push_back(b);
  }
  std::stable_sort(s.boots_detail.begin(), s.boots_detail.end(),
                   [](const BootSummary& a, const BootSummary& b) {
                     return (a.holes > 0 || a.first_seq != 1) > (b.holes > 0 || b.first_seq != 1);
                   });
  s.markers_expected = markers_written;
  for (uint64_t n = 1; n < marker_counts_.size(); ++n) {
    if (marker_counts_[n] > 1) s.marker_duplicates += marker_counts_[n] - 1;
  }
  for (uint64_t n = 1; n <= markers_written; ++n) {
    const bool seen = n < marker_counts_.size() && marker_counts_[n] > 0;
    if (seen) {
      ++s.markers_seen;
    } else {
      ++s.markers_missing;
      if (s.first_missing_markers.size() < 20) s.first_missing_markers.push_back(n);
    }
  }
  return s;
}

}  // namespace pgagent::e2e
