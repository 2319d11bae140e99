// One PostgreSQL log as a source of pg_log batches: a FileTailer (lines with offsets) feeding
// a LogEntryAssembler (entries) feeding a LogBatcher (batches), with acknowledgement-driven
// commits and a bounded window of unacknowledged batches.
//
//   loop (collectord's log thread, every ~100-250 ms):
//     source.Poll(&batches);              // zero or more LogBatch, each with a full cursor
//     send each batch to shipperd in order;
//     on shipperd's ack of a batch: source.Commit(batch.cursor());
//
// A batch never spans two files or a truncation: the assembler and the batcher are flushed
// when the tailer finishes a file or sees it truncated. Commit() marks one batch acknowledged
// and commits the cursor of the longest acknowledged prefix (acks may arrive out of order; an
// offset is never committed while an earlier batch is unacknowledged). When
// max_unacked_batches batches are unacknowledged the tailer is paused: memory stays bounded
// and the log file is the buffer.
//
// Thread-safety: not thread-safe; one thread calls every method. The LogParser, LogFileSystem,
// Clock and OffsetStore must outlive the LogSource.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <vector>

#include "collectord/logs/log_batcher.h"
#include "collectord/logs/log_entry_assembler.h"
#include "collectord/logs/log_parser.h"
#include "collectord/logs/statement_summarizer.h"
#include "collectord/logtail/file_tailer.h"
#include "common/clock.h"
#include "common/status.h"
#include "pgagent/v1/records.pb.h"

namespace pgagent::logtail {

struct LogSourceOptions {
  FileTailerOptions tail;
  LogAssemblerOptions assembler;
  LogBatcherOptions batcher;  // batcher.format is taken from the parser
  // [collection] log_statements = summarize: entries pass a StatementSummarizer between the
  // assembler and the batcher (flushed with them at the end of each file).
  std::optional<StatementSummarizerOptions> summarize;
  // Window of batches handed out and not yet acknowledged; reading pauses when it is full.
  size_t max_unacked_batches = 16;
};

struct LogSourceStats {
  uint64_t batches = 0;
  uint64_t entries = 0;
  uint64_t acked_batches = 0;
  uint64_t unknown_acks = 0;     // Commit() of a cursor that is not in the window
  uint64_t cursor_failures = 0;  // batch cursor without fingerprint (file unreadable)
  uint64_t window_full_polls = 0;
};

class LogSource {
 public:
  // kInvalidArgument for bad options (see FileTailer::Create, LogBatcher).
  static Result<std::unique_ptr<LogSource>> Create(LogSourceOptions options,
                                                   const LogParser& parser, LogFileSystem& fs,
                                                   Clock& clock, OffsetStore* store);
  LogSource(const LogSource&) = delete;
  LogSource& operator=(const LogSource&) = delete;

  // Reads what is new (unless the window is full) and appends the batches that are ready to
  // *out, in file order. Never fails: file problems show in tailer().state().
  void Poll(std::vector<pgagent::v1::LogBatch>* out);
  // Emits whatever is pending (shutdown): the assembler's entry and the open batch.
  void Flush(std::vector<pgagent::v1::LogBatch>* out);

  // shipperd acknowledged the batch that carried `cursor`. kNotFound when no batch in the
  // window has that cursor (e.g. an ack from before a restart); the persist error otherwise.
  Status Commit(const pgagent::v1::LogCursor& cursor);

  size_t unacked_batches() const { return window_.size(); }
  bool window_full() const { return window_.size() >= options_.max_unacked_batches; }
  // For a loop that sleeps until there is work: readable when the log may have changed (-1
  // while the tailer polls), and the latest time Poll() should run anyway: now while the
  // tailer is not quiet(), else the earliest of the tailer's recheck, the open batch's
  // linger and (while an entry is pending) the assembler's idle timeout.
  int wait_fd() const { return tailer_->wait_fd(); }
  std::chrono::steady_clock::time_point NextPollDeadline() const;
  const FileTailer& tailer() const { return *tailer_; }
  FileTailer& tailer() { return *tailer_; }
  const LogParseStats& parse_stats() const { return assembler_.stats(); }
  const LogSourceStats& stats() const { return stats_; }
  // Null unless options.summarize.
  const StatementSummarizer* summarizer() const { return summarizer_.get(); }

 private:
  struct InFlight {
    TailCursor cursor;
    bool acked = false;
  };

  LogSource(LogSourceOptions options, const LogParser& parser, Clock& clock,
            std::unique_ptr<FileTailer> tailer);
  void FlushAll(std::vector<pgagent::v1::LogBatch>* out);
  void Finish(size_t first, std::vector<pgagent::v1::LogBatch>* out);

  LogSourceOptions options_;
  Clock& clock_;
  std::unique_ptr<FileTailer> tailer_;
  LogEntryAssembler assembler_;
  LogBatcher batcher_;
  std::unique_ptr<StatementSummarizer> summarizer_;
  TailPoll poll_;
  std::vector<AssembledEntry> entries_;
  std::deque<InFlight> window_;
  LogSourceStats stats_;
};

}  // namespace pgagent::logtail
