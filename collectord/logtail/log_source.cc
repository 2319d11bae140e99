#include "collectord/logtail/log_source.h"

#include <algorithm>

#include "collectord/logtail/fingerprint.h"

namespace pgagent::logtail {

Result<std::unique_ptr<LogSource>> LogSource::Create(LogSourceOptions options,
                                                     const LogParser& parser, LogFileSystem& fs,
                                                     Clock& clock, OffsetStore* store) {
  if (options.max_unacked_batches == 0 || options.batcher.max_entries == 0) {
    return InvalidArgumentError("log source: window and batch size must be positive");
  }
  options.batcher.format = parser.format();
  PGAGENT_ASSIGN_OR_RETURN(auto tailer, FileTailer::Create(options.tail, fs, clock, store));
  return std::unique_ptr<LogSource>(
      new LogSource(std::move(options), parser, clock, std::move(tailer)));
}

LogSource::LogSource(LogSourceOptions options, const LogParser& parser, Clock& clock,
                     std::unique_ptr<FileTailer> tailer)
    : options_(std::move(options)),
      clock_(clock),
      tailer_(std::move(tailer)),
      assembler_(parser, options_.assembler),
      batcher_(clock, options_.batcher) {
  if (options_.summarize) {
    summarizer_ = std::make_unique<StatementSummarizer>(clock, *options_.summarize);
  }
}

void LogSource::Poll(std::vector<pgagent::v1::LogBatch>* out) {
  const size_t first = out->size();
  if (window_full()) {
    ++stats_.window_full_polls;
    tailer_->Pause();
  } else {
    tailer_->Resume();
  }
  tailer_->Poll(&poll_);
  const auto now = clock_.Monotonic();
  entries_.clear();
  if (poll_.restarted) FlushAll(out);  // earlier lines belong to the file's old content
  for (const TailLine& line : poll_.lines) {
    assembler_.Push(LogLine{line.text, line.truncated, line.end_offset, /*valid_utf8=*/true}, now,
                    &entries_);
  }
  if (poll_.lines.empty()) assembler_.FlushIfIdle(now, &entries_);
  if (poll_.file_finished) assembler_.Flush(&entries_);
  if (summarizer_) summarizer_->Process(&entries_, poll_.file_finished);
  stats_.entries += entries_.size();
  batcher_.Add(std::move(entries_), out);
  entries_.clear();
  if (poll_.file_finished) {
    batcher_.Flush(out);
  } else {
    batcher_.Poll(out);
  }
  Finish(first, out);
}

std::chrono::steady_clock::time_point LogSource::NextPollDeadline() const {
  const auto now = clock_.Monotonic();
  if (!tailer_->quiet()) return now;
  auto deadline = tailer_->next_recheck();
  if (auto linger = batcher_.NextDeadline()) deadline = std::min(deadline, *linger);
  if (assembler_.has_pending()) {
    deadline = std::min(deadline, now + options_.assembler.idle_timeout);
  }
  return deadline;
}

void LogSource::Flush(std::vector<pgagent::v1::LogBatch>* out) {
  const size_t first = out->size();
  FlushAll(out);
  Finish(first, out);
}

void LogSource::FlushAll(std::vector<pgagent::v1::LogBatch>* out) {
  entries_.clear();
  assembler_.Flush(&entries_);
  if (summarizer_) summarizer_->Process(&entries_, true);
  stats_.entries += entries_.size();
  batcher_.Add(std::move(entries_), out);
  entries_.clear();
  batcher_.Flush(out);
}

// Completes the cursors of the new batches out[first..] (all from the file of the last poll)
// and puts them into the window.
void LogSource::Finish(size_t first, std::vector<pgagent::v1::LogBatch>* out) {
  for (size_t i = first; i < out->size(); ++i) {
    pgagent::v1::LogBatch& batch = (*out)[i];
    const uint64_t offset = batch.cursor().offset();
    auto cursor = tailer_->CursorAt(offset);
    TailCursor tc;
    if (cursor.ok()) {
      tc = std::move(cursor).value();
    } else {
      ++stats_.cursor_failures;
      tc.path = poll_.file.path;
      tc.device = poll_.file.device;
      tc.inode = poll_.file.inode;
      tc.offset = offset;
      tc.fingerprint = Fingerprint({});
    }
    *batch.mutable_cursor() = ToProto(tc);
    window_.push_back(InFlight{std::move(tc), false});
    ++stats_.batches;
  }
}

Status LogSource::Commit(const pgagent::v1::LogCursor& cursor) {
  const TailCursor acked = FromProto(cursor);
  auto it = window_.begin();
  while (it != window_.end() && (it->acked || !(it->cursor == acked))) ++it;
  if (it == window_.end()) {
    ++stats_.unknown_acks;
    return NotFoundError("acknowledged log cursor is not in the window: " + acked.path + "@" +
                         std::to_string(acked.offset));
  }
  it->acked = true;
  ++stats_.acked_batches;
  std::optional<TailCursor> commit;
  while (!window_.empty() && window_.front().acked) {
    commit = std::move(window_.front().cursor);
    window_.pop_front();
  }
  if (!commit) return Status::Ok();
  return tailer_->Commit(*commit);
}

}  // namespace pgagent::logtail
