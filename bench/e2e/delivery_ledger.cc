#include "bench/e2e/delivery_ledger.h"

#include <algorithm>
#include <cstdlib>
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

void DeliveryLedger::AddRecordId(const std::string& record_id, const std::string& kind,
                                 const std::string& part) {
  if (!record_parts_.insert({record_id, part}).second) {
    ++duplicate_record_rows_;
    return;
  }
  const size_t colon = record_id.rfind(':');
  if (colon == std::string::npos) return;
  const std::string boot = record_id.substr(0, colon);
  const uint64_t seq = std::strtoull(record_id.c_str() + colon + 1, nullptr, 10);
  if (seqs_by_boot_[boot].insert(seq).second) ++records_by_kind_[kind];
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
    if (!StringField(row, "correlation_id").empty()) {
      ++correlation_rows_;  // a copy of rows that the aggregate envelope also carries
      continue;
    }
    const Value* data_value = Field(row, "data");
    if (data_value == nullptr || data_value->kind_case() != Value::kStructValue) continue;
    const Struct& data = data_value->struct_value();
    const std::string part = StringField(data, "part");
    const Value* agent_value = Field(data, "agent");
    if (agent_value != nullptr && agent_value->kind_case() == Value::kStructValue) {
      const Struct& agent = agent_value->struct_value();
      const std::string kind = StringField(agent, "kind");
      const Value* records = Field(data, "records");
      if (records != nullptr && records->kind_case() == Value::kListValue) {
        for (const Value& id : records->list_value().values())
          AddRecordId(id.string_value(), kind, part);
      } else {
        AddRecordId(StringField(agent, "record_id"), kind, part);
      }
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
