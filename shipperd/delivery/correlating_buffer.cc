#include "shipperd/delivery/correlating_buffer.h"

#include <map>

namespace pgagent {

CorrelatingBuffer::CorrelatingBuffer(RecordBuffer& inner, CorrelationStore& store,
                                     CorrelationLimits limits)
    : inner_(inner), store_(store), limits_(limits) {}

Result<AppendOutcome> CorrelatingBuffer::Append(const std::vector<pgagent::v1::Record>& records) {
  std::vector<pgagent::v1::CorrelationRow> rows;
  std::map<std::string, uint64_t> high_water;
  for (const pgagent::v1::Record& record : records) {
    if (!record.has_activity() && !record.has_log()) continue;
    const auto& id = record.id();
    if (!id.boot_id().empty() && id.seq() != 0) {
      auto it = high_water.find(id.boot_id());
      if (it == high_water.end()) {
        PGAGENT_ASSIGN_OR_RETURN(uint64_t hwm, inner_.HighWaterMark(id.boot_id()));
        it = high_water.emplace(id.boot_id(), hwm).first;
      }
      if (id.seq() <= it->second) continue;  // a duplicate: extracted when first stored
    }
    for (auto& row : ExtractCorrelationRows(record, limits_)) rows.push_back(std::move(row));
  }
  if (!rows.empty()) {
    const CorrelationLimits limits = limits_;
    PGAGENT_RETURN_IF_ERROR(store_.Upsert(rows, [limits](auto& into, const auto& from) {
      MergeCorrelationRows(into, from, limits);
    }));
  }
  return inner_.Append(records);
}

}  // namespace pgagent
