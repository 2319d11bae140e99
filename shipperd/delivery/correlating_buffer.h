// A RecordBuffer that, before it stores records, files the correlation rows found in them
// (correlation_rows.h) into the CorrelationStore, so that the decision to link a PHP request
// is taken when a request of the budget is free, not when the aggregate is encoded: a
// backlog delays correlation rows but never drops them, and live ids can go out while the
// aggregates still wait.
// Order: rows are upserted (synced) first, then the records are appended. A crash between
// the two re-extracts the same rows when collectord resends, and the merge is idempotent, so
// nothing is lost or counted twice. Records at or below their boot's high-water mark
// (duplicates) are not extracted again.
// Everything else is forwarded to the wrapped buffer unchanged.
// Thread-safety: as the wrapped buffer and store (both are safe from any thread).
#pragma once

#include "shared/buffer/correlation_store.h"
#include "shared/buffer/record_buffer.h"
#include "shipperd/delivery/correlation_rows.h"

namespace pgagent {

class CorrelatingBuffer final : public RecordBuffer {
 public:
  // REQUIRES: inner and store outlive this object.
  CorrelatingBuffer(RecordBuffer& inner, CorrelationStore& store, CorrelationLimits limits = {});

  // Errors: the store's (nothing appended) or the wrapped buffer's.
  Result<AppendOutcome> Append(const std::vector<pgagent::v1::Record>& records) override;
  Result<uint64_t> HighWaterMark(const std::string& boot_id) override {
    return inner_.HighWaterMark(boot_id);
  }
  Result<std::vector<BufferedItem>> Peek(size_t limit, uint64_t after = 0,
                                         uint64_t max_bytes = UINT64_MAX) override {
    return inner_.Peek(limit, after, max_bytes);
  }
  Result<std::vector<BufferedItem>> PeekNewest(size_t limit, bool include_logs = true) override {
    return inner_.PeekNewest(limit, include_logs);
  }
  Status Remove(const std::vector<uint64_t>& keys) override { return inner_.Remove(keys); }
  Result<BufferStats> Stats() override { return inner_.Stats(); }
  Result<uint64_t> Purge() override { return inner_.Purge(); }
  Status AddDeadLetter(const DeadLetter& letter,
                       std::optional<uint64_t> remove_key = std::nullopt) override {
    return inner_.AddDeadLetter(letter, remove_key);
  }
  Result<std::vector<DeadLetter>> ListDeadLetters(size_t limit, uint64_t after = 0) override {
    return inner_.ListDeadLetters(limit, after);
  }
  Result<uint64_t> RequeueDeadLetters(const std::vector<uint64_t>& ids) override {
    return inner_.RequeueDeadLetters(ids);
  }
  Result<uint64_t> PurgeDeadLetters() override { return inner_.PurgeDeadLetters(); }

 private:
  RecordBuffer& inner_;
  CorrelationStore& store_;
  const CorrelationLimits limits_;
};

}  // namespace pgagent
