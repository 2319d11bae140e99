// The log half of collectord, from the file to the acknowledgement:
//
//   read   LogSource::Poll (tail -> assemble -> parse -> batch), only while nothing waits
//   split  each batch into IPC-sized parts (SplitLogBatch); the cursor rides on the last part
//   offer  the parts, in order, to the outlet (the outbox) while it accepts log records; when
//          it does not, they wait here and reading pauses (the log file is the buffer)
//   commit on shipperd's acknowledgement of a part with a cursor, LogSource::Commit; the
//          offset file is written at most every commit_interval, and a commit left pending by
//          that limit is written once the interval has passed even if no other batch comes
//          (a quiet log must not leave the saved offset behind what was delivered: a crash
//          would re-send delivered lines).
//
// The pump also says when it next needs the thread (NextWake): at the commit deadline, and
// for reading at read_interval while lines come, backing off to idle_read_interval while the
// file is quiet (polling is the fallback where no change notification is available).
//
// Owns the parser, the offset store and the log source (destroyed in that reverse order, so
// the tailer's last commit is written). Thread-safety: not thread-safe; the collector's
// worker thread calls every method. The Clock, LogFileSystem and stamper outlive the pump.
#pragma once

#include <chrono>
#include <cstddef>
#include <deque>
#include <memory>
#include <optional>
#include <vector>

#include "collectord/logs/log_parser.h"
#include "collectord/logtail/log_source.h"
#include "collectord/logtail/offset_store.h"
#include "collectord/record_stamper.h"
#include "common/clock.h"
#include "pgagent/v1/records.pb.h"

namespace pgagent {

// Splits a log batch into batches whose serialized size stays under max_bytes (entries
// larger than that on their own get their long text fields cut and flagged truncated). Only
// the last part keeps the cursor, so the offset is committed once every part is acknowledged.
std::vector<pgagent::v1::LogBatch> SplitLogBatch(pgagent::v1::LogBatch batch, size_t max_bytes);

// Where log records go: the outbox (collector_daemon.cc), a fake in tests.
class LogOutlet {
 public:
  virtual ~LogOutlet() = default;
  // False while the outlet would refuse a log record (its window is full).
  virtual bool CanAcceptLog() const = 0;
  virtual void Offer(pgagent::v1::Record record) = 0;
};

struct LogPumpOptions {
  size_t max_record_bytes = 8 * 1024 * 1024;  // serialized LogBatch bound (half the IPC cap)
  // The tailer's commit_interval: a commit may wait this long before it is written.
  std::chrono::milliseconds commit_interval{1000};
  std::chrono::milliseconds read_interval{100};
  std::chrono::milliseconds idle_read_interval{1000};
};

class LogPump {
 public:
  // REQUIRES: source was created with parser and offsets (both may be null only in tests
  // that build a LogSource of their own and keep them alive).
  LogPump(LogPumpOptions options, std::unique_ptr<LogParser> parser,
          std::unique_ptr<logtail::OffsetStore> offsets, std::unique_ptr<logtail::LogSource> source,
          const RecordStamper& stamper, const Clock& clock);
  LogPump(const LogPump&) = delete;
  LogPump& operator=(const LogPump&) = delete;

  // Reads when nothing waits and a read is due, then offers what waits.
  void Pump(LogOutlet& outlet);
  // Shipperd acknowledged `acked` (any kinds, oldest first): commits the log cursors among
  // them. Persist errors are logged (the commit stays pending and is retried).
  void OnAcked(const std::vector<pgagent::v1::Record>& acked);
  // Writes the committed offset when a commit has waited commit_interval.
  void FlushDueCommit();
  // Shutdown: moves the assembler's and batcher's pending entries into the queue.
  void FlushSource();
  // Offers what waits, without reading (shutdown drain).
  void OfferPending(LogOutlet& outlet);

  // When the pump next has work: a due read or commit. Parts waiting for room in the outlet
  // need no timer: room comes with an acknowledgement.
  std::chrono::steady_clock::time_point NextWake() const;

  size_t pending_batches() const { return pending_.size(); }
  const logtail::LogSource& source() const { return *source_; }

 private:
  void Read();
  void Queue(std::vector<pgagent::v1::LogBatch>& batches);

  LogPumpOptions options_;
  const RecordStamper& stamper_;
  const Clock& clock_;
  std::unique_ptr<LogParser> parser_;
  std::unique_ptr<logtail::OffsetStore> offsets_;
  std::unique_ptr<logtail::LogSource> source_;
  std::deque<pgagent::v1::LogBatch> pending_;  // produced, not yet accepted by the outlet
  std::chrono::milliseconds read_every_;
  std::chrono::steady_clock::time_point next_read_;
  std::optional<std::chrono::steady_clock::time_point> commit_due_;
};

}  // namespace pgagent
