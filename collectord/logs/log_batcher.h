// Groups AssembledEntries into pg_log batches (pgagent.v1.LogBatch). A batch goes out when
// it holds max_entries entries, when its oldest entry has waited `linger`, and at once when
// an entry carries a correlation id or has level ERROR, FATAL or PANIC. Each batch carries
// count, per-level counts, unparsed count, format and cursor.offset = the end offset of its
// last entry; the tailer fills the rest of the cursor (path, device, inode, fingerprint) and
// commits that offset once shipperd acknowledges the record.
//
// A plain state machine fed entries and a Clock (house style: state apart from the thread):
// no threads, no I/O. Thread-safety: not thread-safe; one thread drives an instance. The
// Clock must outlive the batcher.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <vector>

#include "collectord/logs/log_line.h"
#include "common/clock.h"

namespace pgagent {

struct LogBatcherOptions {
  size_t max_entries = 500;                // REQUIRES: >= 1
  std::chrono::milliseconds linger{1000};  // longest wait of the first entry of a batch
  LogFormat format = LogFormat::kStderr;   // written into LogBatch.format
};

class LogBatcher {
 public:
  LogBatcher(const Clock& clock, LogBatcherOptions options);
  LogBatcher(const LogBatcher&) = delete;
  LogBatcher& operator=(const LogBatcher&) = delete;

  // Adds entries in file order; appends every batch they complete to *out.
  void Add(AssembledEntry entry, std::vector<pgagent::v1::LogBatch>* out);
  void Add(std::vector<AssembledEntry>&& entries, std::vector<pgagent::v1::LogBatch>* out);
  // Appends the open batch to *out when its linger has elapsed.
  void Poll(std::vector<pgagent::v1::LogBatch>* out);
  // Appends the open batch to *out now, if it holds anything.
  void Flush(std::vector<pgagent::v1::LogBatch>* out);

  // When Poll() will next have something to do; nullopt while no batch is open.
  std::optional<std::chrono::steady_clock::time_point> NextDeadline() const;
  size_t pending_entries() const { return static_cast<size_t>(open_.entries_size()); }

 private:
  void Close(std::vector<pgagent::v1::LogBatch>* out);

  const Clock& clock_;
  LogBatcherOptions options_;
  pgagent::v1::LogBatch open_;
  std::chrono::steady_clock::time_point opened_at_{};
};

}  // namespace pgagent
