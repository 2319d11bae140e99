#include "collectord/log_pump.h"

#include <algorithm>

#include "common/log.h"
#include "common/utf8.h"

namespace pgagent {

using pgagent::v1::LogBatch;
using pgagent::v1::Record;

namespace {

// Cuts the long text fields of an entry too large for one part on its own.
void CutOversizeEntry(pgagent::v1::LogEntry& entry, size_t field_cap) {
  for (std::string* field :
       {entry.mutable_message(), entry.mutable_statement(), entry.mutable_detail(),
        entry.mutable_context(), entry.mutable_hint()}) {
    // Between characters: a field cut inside one would fail protobuf's UTF-8 check.
    if (field->size() > field_cap) field->resize(Utf8CutPoint(*field, field_cap));
  }
  entry.set_truncated(true);
}

}  // namespace

std::vector<LogBatch> SplitLogBatch(LogBatch batch, size_t max_bytes) {
  std::vector<LogBatch> parts;
  if (batch.ByteSizeLong() <= max_bytes || batch.entries_size() == 0) {
    parts.push_back(std::move(batch));
    return parts;
  }
  const size_t field_cap = max_bytes / 8;  // long text fields of one oversized entry
  LogBatch current;
  current.set_format(batch.format());
  // Size of `current` kept as a running sum: ByteSizeLong() on the growing batch for every
  // entry would be quadratic. Each entry costs its size plus a tag and a length (<= 6 bytes).
  size_t current_bytes = current.ByteSizeLong();
  auto close_current = [&] {
    if (current.entries_size() == 0) return;
    current.set_count(static_cast<uint32_t>(current.entries_size()));
    for (const auto& e : current.entries()) ++(*current.mutable_levels())[e.level()];
    parts.push_back(std::move(current));
    current = LogBatch();
    current.set_format(batch.format());
    current_bytes = current.ByteSizeLong();
  };
  for (auto& entry : *batch.mutable_entries()) {
    size_t entry_bytes = entry.ByteSizeLong();
    if (entry_bytes + 64 > max_bytes) {
      CutOversizeEntry(entry, field_cap);
      entry_bytes = entry.ByteSizeLong();
    }
    if (current_bytes + entry_bytes + 6 + 16 > max_bytes) close_current();
    *current.add_entries() = std::move(entry);
    current_bytes += entry_bytes + 6;
  }
  close_current();
  parts.front().set_unparsed(batch.unparsed());
  *parts.back().mutable_cursor() = batch.cursor();
  return parts;
}

LogPump::LogPump(LogPumpOptions options, std::unique_ptr<LogParser> parser,
                 std::unique_ptr<logtail::OffsetStore> offsets,
                 std::unique_ptr<logtail::LogSource> source, const RecordStamper& stamper,
                 const Clock& clock)
    : options_(options),
      stamper_(stamper),
      clock_(clock),
      parser_(std::move(parser)),
      offsets_(std::move(offsets)),
      source_(std::move(source)),
      read_every_(options.read_interval),
      next_read_(clock.Monotonic()) {}

void LogPump::Pump(LogOutlet& outlet) {
  if (pending_.empty() && clock_.Monotonic() >= next_read_) Read();
  OfferPending(outlet);
}

// Reads what is new. While the file is quiet the next read is put off, doubling from
// read_interval up to idle_read_interval; any bytes read bring it back to read_interval.
void LogPump::Read() {
  const uint64_t bytes_before = source_->tailer().stats().bytes_read;
  std::vector<LogBatch> batches;
  source_->Poll(&batches);
  const bool quiet = batches.empty() && source_->tailer().stats().bytes_read == bytes_before;
  read_every_ =
      quiet ? std::min(read_every_ * 2, options_.idle_read_interval) : options_.read_interval;
  next_read_ = clock_.Monotonic() + read_every_;
  Queue(batches);
}

void LogPump::FlushSource() {
  std::vector<LogBatch> rest;
  source_->Flush(&rest);
  Queue(rest);
}

void LogPump::Queue(std::vector<LogBatch>& batches) {
  for (auto& b : batches) {
    for (auto& part : SplitLogBatch(std::move(b), options_.max_record_bytes))
      pending_.push_back(std::move(part));
  }
}

void LogPump::OfferPending(LogOutlet& outlet) {
  while (!pending_.empty() && outlet.CanAcceptLog()) {
    Record r = stamper_.New(pgagent::v1::RECORD_KIND_LOG);
    *r.mutable_log() = std::move(pending_.front());
    pending_.pop_front();
    if (r.log().entries_size() == 1 && r.log().entries(0).has_correlation_id()) {
      r.set_correlation_id(r.log().entries(0).correlation_id());
    }
    outlet.Offer(std::move(r));
  }
}

void LogPump::OnAcked(const std::vector<Record>& acked) {
  for (const auto& r : acked) {
    if (r.kind() != pgagent::v1::RECORD_KIND_LOG || !r.log().has_cursor()) continue;
    Status s = source_->Commit(r.log().cursor());
    if (!s.ok() && s.code() != StatusCode::kNotFound) {
      log::Warn("logs.offset_not_saved", {{"error", s.ToString()}});
    }
    // The tailer writes at most every commit_interval; what it kept pending is written by
    // FlushDueCommit() once that has passed.
    if (s.code() != StatusCode::kNotFound && !commit_due_) {
      commit_due_ = clock_.Monotonic() + options_.commit_interval;
    }
  }
}

void LogPump::FlushDueCommit() {
  if (!commit_due_ || clock_.Monotonic() < *commit_due_) return;
  commit_due_.reset();
  Status s = source_->tailer().FlushCommit();
  if (!s.ok()) {
    log::Warn("logs.offset_not_saved", {{"error", s.ToString()}});
    commit_due_ = clock_.Monotonic() + options_.commit_interval;  // retried
  }
}

std::chrono::steady_clock::time_point LogPump::NextWake() const {
  auto wake = pending_.empty() ? next_read_ : clock_.Monotonic() + options_.read_interval;
  if (commit_due_) wake = std::min(wake, *commit_due_);
  return wake;
}

}  // namespace pgagent
