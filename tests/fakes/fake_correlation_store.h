// An in-memory CorrelationStore for tests of the units that use one (CorrelatingBuffer,
// Dispatcher). It honours the CorrelationStore contract: one pending row per id, merged;
// follow-ups for ids linked before; the lowest scores (follow-ups first) dropped over the row
// cap; MarkLinked() keeps a row merged since it was read. "Durable" means "in this object".
// Thread-safety: every method is safe to call from any thread (one mutex).
#pragma once

#include <algorithm>
#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "common/clock.h"
#include "shared/buffer/correlation_store.h"

namespace pgagent {

class FakeCorrelationStore final : public CorrelationStore {
 public:
  // `clock` dates rows (created/updated); must outlive the store.
  explicit FakeCorrelationStore(const Clock& clock, size_t max_rows = 2000)
      : clock_(clock), max_rows_(max_rows) {}

  Status Upsert(const std::vector<pgagent::v1::CorrelationRow>& rows,
                const CorrelationMerge& merge) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (failures_left_ > 0) {
      --failures_left_;
      return UnavailableError("injected failure");
    }
    const int64_t now = NowMs();
    for (const auto& row : rows) {
      const std::string& id = row.correlation_id();
      if (id.empty() || id.size() > kMaxCorrelationIdBytes) {
        ++stats_.bad_ids;
        continue;
      }
      auto it = pending_.find(id);
      if (it != pending_.end()) {
        merge(it->second.row, row);
        it->second.row.set_merges(it->second.row.merges() + 1);
        it->second.updated = now;
        continue;
      }
      Pending p{row, now, now};
      p.row.set_merges(0);
      p.row.set_follow_up(linked_ids_.count(id) > 0);
      ++(p.row.follow_up() ? stats_.follow_ups : stats_.seen);
      pending_.emplace(id, std::move(p));
    }
    EvictLocked();
    return Status::Ok();
  }

  Result<std::vector<CorrelationHeader>> List() override {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<CorrelationHeader> out;
    for (const auto& [id, p] : pending_) out.push_back(HeaderLocked(id, p));
    return out;
  }

  Result<std::optional<pgagent::v1::CorrelationRow>> Get(const std::string& id) override {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = pending_.find(id);
    if (it == pending_.end()) return std::optional<pgagent::v1::CorrelationRow>{};
    return std::optional<pgagent::v1::CorrelationRow>(it->second.row);
  }

  Status MarkLinked(const std::string& id, uint32_t merges) override {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = pending_.find(id);
    if (it == pending_.end()) return Status::Ok();
    ++stats_.linked;
    linked_ids_.insert(id);
    if (it->second.row.merges() == merges) {
      pending_.erase(it);
    } else {
      it->second.row.set_follow_up(true);
    }
    return Status::Ok();
  }

  Status Drop(const std::string& id) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (pending_.erase(id) > 0) ++stats_.dropped;
    return Status::Ok();
  }

  Result<CorrelationStoreStats> Stats() override {
    std::lock_guard<std::mutex> lock(mu_);
    CorrelationStoreStats s = stats_;
    s.pending = pending_.size();
    return s;
  }

  // The next `count` Upsert() calls fail without storing.
  void FailNextUpserts(int count) {
    std::lock_guard<std::mutex> lock(mu_);
    failures_left_ = count;
  }

 private:
  struct Pending {
    pgagent::v1::CorrelationRow row;
    int64_t created = 0;
    int64_t updated = 0;
  };

  int64_t NowMs() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(clock_.Now().time_since_epoch())
        .count();
  }
  static CorrelationHeader HeaderLocked(const std::string& id, const Pending& p) {
    CorrelationHeader h;
    h.id = id;
    h.score = p.row.score();
    h.created_unix_ms = p.created;
    h.updated_unix_ms = p.updated;
    h.last_seen_unix_ms = p.row.last_seen().seconds() * 1000 + p.row.last_seen().nanos() / 1000000;
    h.follow_up = p.row.follow_up();
    h.merges = p.row.merges();
    h.bytes = p.row.ByteSizeLong();
    return h;
  }
  void EvictLocked() {
    while (pending_.size() > max_rows_) {
      auto victim = std::min_element(pending_.begin(), pending_.end(), [](const auto& a,
                                                                          const auto& b) {
        const auto& ra = a.second.row;
        const auto& rb = b.second.row;
        if (ra.follow_up() != rb.follow_up()) return ra.follow_up();
        if (ra.score() != rb.score()) return ra.score() < rb.score();
        return a.second.created < b.second.created;
      });
      pending_.erase(victim);
      ++stats_.evicted;
    }
  }

  const Clock& clock_;
  const size_t max_rows_;
  mutable std::mutex mu_;
  std::map<std::string, Pending> pending_;
  std::set<std::string> linked_ids_;
  CorrelationStoreStats stats_;
  int failures_left_ = 0;
};

}  // namespace pgagent
