// An in-memory RecordBuffer for tests of the units that use one (IPC ingest, delivery,
// pgagentctl). It honours the RecordBuffer contract: FIFO keys that only grow, dedup by
// (boot_id, seq) against a per-boot high-water mark, eviction of the oldest records over a
// byte cap (bytes = serialized size + kOverheadBytes), a capped dead-letter list with
// requeue, and Purge(). "Durable" means "in this object": there are no files.
// Failure injection: FailNextAppends() makes the next Append() calls fail without storing.
// Thread-safety: every method is safe to call from any thread (one mutex).
#pragma once

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "shared/buffer/record_buffer.h"

namespace pgagent {

class FakeRecordBuffer final : public RecordBuffer {
 public:
  static constexpr uint64_t kOverheadBytes = 32;

  // `clock` (optional) must outlive the buffer; it dates records for oldest_age_s.
  explicit FakeRecordBuffer(uint64_t max_bytes = 100ull << 20, const Clock* clock = nullptr,
                            size_t max_dead_letters = 1000)
      : max_bytes_(max_bytes), clock_(clock), max_dead_letters_(max_dead_letters) {}

  Result<AppendOutcome> Append(const std::vector<pgagent::v1::Record>& records) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (failures_left_ > 0) {
      --failures_left_;
      ++append_calls_;
      return failure_;
    }
    ++append_calls_;
    for (const auto& record : records) {
      if (Accounted(record) > max_bytes_) return ResourceExhaustedError("record above the cap");
    }
    AppendOutcome outcome;
    for (const auto& record : records) {
      const auto& id = record.id();
      const bool dedup = !id.boot_id().empty() && id.seq() != 0;
      if (dedup && id.seq() <= hwm_[id.boot_id()]) {
        outcome.duplicate_seqs.push_back(id.seq());
        continue;
      }
      if (dedup) hwm_[id.boot_id()] = id.seq();
      PushLocked(record);
      outcome.stored_seqs.push_back(id.seq());
    }
    EvictLocked();
    return outcome;
  }

  Result<uint64_t> HighWaterMark(const std::string& boot_id) override {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = hwm_.find(boot_id);
    return it == hwm_.end() ? 0 : it->second;
  }

  Result<std::vector<BufferedItem>> Peek(size_t limit, uint64_t after = 0,
                                         uint64_t max_bytes = UINT64_MAX) override {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<BufferedItem> items;
    uint64_t bytes = 0;
    for (auto it = items_.upper_bound(after);
         it != items_.end() && items.size() < limit && bytes < max_bytes; ++it) {
      items.push_back(it->second.item);
      bytes += it->second.item.stored_bytes;
    }
    peeked_ += items.size();
    return items;
  }

  Result<std::vector<BufferedItem>> PeekNewest(size_t limit, bool include_logs = true) override {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<BufferedItem> items;
    size_t looked_at = 0;
    for (auto it = items_.rbegin(); it != items_.rend() && looked_at < limit; ++it, ++looked_at) {
      if (!include_logs && it->second.item.record.kind() == pgagent::v1::RECORD_KIND_LOG) continue;
      items.push_back(it->second.item);
    }
    return items;
  }

  Status Remove(const std::vector<uint64_t>& keys) override {
    std::lock_guard<std::mutex> lock(mu_);
    ++remove_calls_;
    for (uint64_t key : keys) EraseLocked(key);
    return Status::Ok();
  }

  Result<BufferStats> Stats() override {
    std::lock_guard<std::mutex> lock(mu_);
    BufferStats stats = counters_;
    stats.records = items_.size();
    stats.bytes = bytes_;
    stats.max_bytes = max_bytes_;
    stats.dead_letters = dead_.size();
    for (const auto& [key, entry] : items_) ++stats.records_by_kind[Kind(entry.item.record)];
    if (!items_.empty() && clock_ != nullptr) {
      auto age = clock_->Now() - items_.begin()->second.stored_at;
      stats.oldest_age_s = std::chrono::duration<double>(age).count();
    }
    return stats;
  }

  Result<uint64_t> Purge() override {
    std::lock_guard<std::mutex> lock(mu_);
    const uint64_t removed = items_.size();
    items_.clear();
    bytes_ = 0;
    return removed;
  }

  Status AddDeadLetter(const DeadLetter& letter,
                       std::optional<uint64_t> remove_key = std::nullopt) override {
    std::lock_guard<std::mutex> lock(mu_);
    DeadLetter stored = letter;
    stored.id = next_dead_id_++;
    stored.dead_lettered_at_unix_ms = NowMsLocked();
    dead_.push_back(std::move(stored));
    ++counters_.dead_lettered_total;
    while (dead_.size() > max_dead_letters_) {
      dead_.pop_front();
      ++counters_.dead_letters_dropped;
    }
    if (remove_key) EraseLocked(*remove_key);
    return Status::Ok();
  }

  Result<std::vector<DeadLetter>> ListDeadLetters(size_t limit, uint64_t after = 0) override {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<DeadLetter> letters;
    for (const auto& letter : dead_) {
      if (letter.id > after && letters.size() < limit) letters.push_back(letter);
    }
    return letters;
  }

  Result<uint64_t> RequeueDeadLetters(const std::vector<uint64_t>& ids) override {
    std::lock_guard<std::mutex> lock(mu_);
    uint64_t requeued = 0;
    for (uint64_t id : ids) {
      auto it = std::find_if(dead_.begin(), dead_.end(),
                             [id](const DeadLetter& letter) { return letter.id == id; });
      if (it == dead_.end()) continue;
      for (const auto& record : it->records) PushLocked(record);
      dead_.erase(it);
      ++requeued;
    }
    EvictLocked();
    return requeued;
  }

  Result<uint64_t> PurgeDeadLetters() override {
    std::lock_guard<std::mutex> lock(mu_);
    const uint64_t removed = dead_.size();
    dead_.clear();
    return removed;
  }

  // The next `count` Append() calls return `status` and store nothing.
  void FailNextAppends(int count, Status status = UnavailableError("injected failure")) {
    std::lock_guard<std::mutex> lock(mu_);
    failures_left_ = count;
    failure_ = std::move(status);
  }
  // Number of Remove() calls so far (each is one transaction in a real buffer).
  uint64_t remove_calls() const {
    std::lock_guard<std::mutex> lock(mu_);
    return remove_calls_;
  }
  // Records Peek() has returned so far (each one a decode in a real buffer).
  uint64_t peeked() const {
    std::lock_guard<std::mutex> lock(mu_);
    return peeked_;
  }
  // Number of Append() calls so far (failed ones included).
  uint64_t append_calls() const {
    std::lock_guard<std::mutex> lock(mu_);
    return append_calls_;
  }

 private:
  struct Entry {
    BufferedItem item;
    std::chrono::system_clock::time_point stored_at;
  };

  static uint64_t Accounted(const pgagent::v1::Record& record) {
    return record.ByteSizeLong() + kOverheadBytes;
  }
  static std::string Kind(const pgagent::v1::Record& record) {
    std::string name = pgagent::v1::RecordKind_Name(record.kind());
    const std::string prefix = "RECORD_KIND_";
    if (name.rfind(prefix, 0) == 0) name = name.substr(prefix.size());
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return name.empty() ? "unknown" : name;
  }
  int64_t NowMsLocked() const {
    if (clock_ == nullptr) return 0;
    return std::chrono::duration_cast<std::chrono::milliseconds>(clock_->Now().time_since_epoch())
        .count();
  }
  void PushLocked(const pgagent::v1::Record& record) {
    const uint64_t key = next_key_++;
    Entry entry{BufferedItem{key, record, Accounted(record)},
                clock_ != nullptr ? clock_->Now() : std::chrono::system_clock::time_point{}};
    bytes_ += entry.item.stored_bytes;
    items_.emplace(key, std::move(entry));
  }
  void EraseLocked(uint64_t key) {
    auto it = items_.find(key);
    if (it == items_.end()) return;
    bytes_ -= it->second.item.stored_bytes;
    items_.erase(it);
  }
  void EvictLocked() {
    while (bytes_ > max_bytes_ && !items_.empty()) {
      const BufferedItem& oldest = items_.begin()->second.item;
      ++counters_.evicted_records_by_kind[Kind(oldest.record)];
      counters_.evicted_bytes_by_kind[Kind(oldest.record)] += oldest.stored_bytes;
      EraseLocked(oldest.key);
    }
  }

  const uint64_t max_bytes_;
  const Clock* clock_;
  const size_t max_dead_letters_;
  mutable std::mutex mu_;
  std::map<uint64_t, Entry> items_;
  std::map<std::string, uint64_t> hwm_;
  std::deque<DeadLetter> dead_;
  BufferStats counters_;  // evicted_*, dead_lettered_total, dead_letters_dropped
  uint64_t next_key_ = 1;
  uint64_t next_dead_id_ = 1;
  uint64_t bytes_ = 0;
  int failures_left_ = 0;
  Status failure_;
  uint64_t append_calls_ = 0;
  uint64_t remove_calls_ = 0;
  uint64_t peeked_ = 0;
};

}  // namespace pgagent
