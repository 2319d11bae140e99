#include "collectord/logs/log_batcher.h"

#include <utility>

#include "collectord/logs/log_parser.h"

namespace pgagent {
namespace {

bool IsUrgent(const pgagent::v1::LogEntry& e) {
  if (e.has_correlation_id()) return true;
  const std::string& l = e.level();
  return l == "ERROR" || l == "FATAL" || l == "PANIC";
}

}  // namespace

LogBatcher::LogBatcher(const Clock& clock, LogBatcherOptions options)
    : clock_(clock), options_(options) {
  if (options_.max_entries == 0) options_.max_entries = 1;
}

void LogBatcher::Add(AssembledEntry entry, std::vector<pgagent::v1::LogBatch>* out) {
  if (open_.entries_size() == 0) opened_at_ = clock_.Monotonic();
  bool urgent = IsUrgent(entry.entry);
  if (entry.entry.parsed()) {
    (*open_.mutable_levels())[entry.entry.level()] += 1;
  } else {
    open_.set_unparsed(open_.unparsed() + 1);  // no level: counted apart
  }
  open_.mutable_cursor()->set_offset(entry.end_offset);
  *open_.add_entries() = std::move(entry.entry);
  if (urgent || static_cast<size_t>(open_.entries_size()) >= options_.max_entries) Close(out);
}

void LogBatcher::Add(std::vector<AssembledEntry>&& entries,
                     std::vector<pgagent::v1::LogBatch>* out) {
  for (AssembledEntry& e : entries) Add(std::move(e), out);
  entries.clear();
}

void LogBatcher::Poll(std::vector<pgagent::v1::LogBatch>* out) {
  if (open_.entries_size() > 0 && clock_.Monotonic() - opened_at_ >= options_.linger) Close(out);
}

void LogBatcher::Flush(std::vector<pgagent::v1::LogBatch>* out) {
  if (open_.entries_size() > 0) Close(out);
}

std::optional<std::chrono::steady_clock::time_point> LogBatcher::NextDeadline() const {
  if (open_.entries_size() == 0) return std::nullopt;
  return opened_at_ + options_.linger;
}

void LogBatcher::Close(std::vector<pgagent::v1::LogBatch>* out) {
  open_.set_count(static_cast<uint32_t>(open_.entries_size()));
  open_.set_format(std::string(LogFormatName(options_.format)));
  out->push_back(std::move(open_));
  open_.Clear();
}

}  // namespace pgagent
