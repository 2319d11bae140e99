#include "collectord/logs/log_entry_assembler.h"

#include <utility>

#include "collectord/logs/log_enricher.h"
#include "collectord/logs/log_records.h"
#include "collectord/logs/stderr_prefix.h"

namespace pgagent {
namespace {

using pgagent::v1::LogEntry;

std::string_view WithoutCr(std::string_view s) {
  if (!s.empty() && s.back() == '\r') s.remove_suffix(1);
  return s;
}

}  // namespace

bool LogEntryAssembler::SameProcess(const StderrLine& line) const {
  if (!line.Has(PrefixField::kPid)) return true;
  std::string_view pid = line.Get(PrefixField::kPid);
  if (pid.size() > 9) return false;
  int32_t value = 0;
  for (char c : pid) value = value * 10 + (c - '0');
  return value == pending_.entry.pid();
}

LogEntryAssembler::LogEntryAssembler(const LogParser& parser, LogAssemblerOptions options)
    : parser_(parser), options_(options) {}

LogEntryAssembler::~LogEntryAssembler() = default;

void LogEntryAssembler::Push(const LogLine& line, std::chrono::steady_clock::time_point now,
                             std::vector<AssembledEntry>* out) {
  ++stats_.lines;
  switch (parser_.format()) {
    case LogFormat::kStderr:
      PushStderr(line, out);
      break;
    case LogFormat::kCsvlog:
      PushCsv(line, out);
      break;
    case LogFormat::kJsonlog:
      PushJson(line, out);
      break;
  }
  pending_.last_push = now;
}

void LogEntryAssembler::FlushIfIdle(std::chrono::steady_clock::time_point now,
                                    std::vector<AssembledEntry>* out) {
  if (pending_.active && now - pending_.last_push >= options_.idle_timeout) EmitPending(out);
}

void LogEntryAssembler::Flush(std::vector<AssembledEntry>* out) { EmitPending(out); }

void LogEntryAssembler::Reset() { pending_ = Pending{}; }

void LogEntryAssembler::PushStderr(const LogLine& line, std::vector<AssembledEntry>* out) {
  std::string_view text = WithoutCr(line.text);
  StderrLine sl;
  if (parser_.stderr_matcher()->Match(text, &sl)) {
    if (pending_.active && !pending_.unparsed && IsFollowUpLevel(sl.level) && SameProcess(sl)) {
      std::string_view l = sl.level;
      pending_.part = l == "DETAIL"      ? Part::kDetail
                      : l == "HINT"      ? Part::kHint
                      : l == "CONTEXT"   ? Part::kContext
                      : l == "STATEMENT" ? Part::kStatement
                      : l == "QUERY"     ? Part::kQuery
                                         : Part::kLocation;
      AppendToPart(sl.message, line.truncated, /*force_newline=*/false);
      pending_.end_offset = line.end_offset;
      return;
    }
    EmitPending(out);
    StartStderrEntry(sl, line);
    return;
  }
  if (pending_.active && (text.empty() || text[0] == '\t' || text[0] == ' ')) {
    // A tab-led line continues the current part on a new line (PostgreSQL indents every
    // continuation with a tab); a space-led one too, kept whole (logs whose tabs were
    // expanded, read as pgBadger reads them).
    if (!text.empty()) {
      AppendToPart(text[0] == '\t' ? text.substr(1) : text, line.truncated,
                   /*force_newline=*/true);
    }
    pending_.end_offset = line.end_offset;
    return;
  }
  EmitPending(out);
  if (text.empty()) return;  // a blank line carries nothing; its offset rides on later entries
  StartUnparsedEntry(line);
}

// A line that matches no prefix opens an unparsed entry that takes its continuation lines,
// so that a literal spanning lines is masked as one text (fail closed).
void LogEntryAssembler::StartUnparsedEntry(const LogLine& line) {
  pending_.active = true;
  pending_.unparsed = true;
  pending_.entry.Clear();
  std::string_view text = WithoutCr(line.text);
  pending_.entry.set_message(std::string(text.substr(0, options_.max_entry_bytes)));
  pending_.entry.set_truncated(line.truncated || text.size() > options_.max_entry_bytes);
  pending_.part = Part::kMessage;
  pending_.bytes = text.size();
  pending_.end_offset = line.end_offset;
}

void LogEntryAssembler::StartStderrEntry(const StderrLine& sl, const LogLine& line) {
  pending_.active = true;
  pending_.unparsed = false;
  pending_.entry.Clear();
  bool unknown_zone = false;
  StderrLineToEntry(sl, &pending_.entry, &unknown_zone);
  if (unknown_zone) ++stats_.unknown_timezone;
  pending_.entry.set_truncated(line.truncated);
  if (pending_.entry.message().size() > options_.max_entry_bytes) {
    pending_.entry.mutable_message()->resize(options_.max_entry_bytes);
    pending_.entry.set_truncated(true);
  }
  pending_.part = Part::kMessage;
  pending_.bytes = line.text.size();
  pending_.end_offset = line.end_offset;
}

std::string* LogEntryAssembler::PartField() {
  LogEntry& e = pending_.entry;
  switch (pending_.part) {
    case Part::kMessage:
      return e.mutable_message();
    case Part::kDetail:
      return e.mutable_detail();
    case Part::kHint:
      return e.mutable_hint();
    case Part::kContext:
      return e.mutable_context();
    case Part::kStatement:
      return e.mutable_statement();
    case Part::kQuery:
      return e.mutable_internal_query();
    case Part::kLocation:
      return e.mutable_location();
  }
  return e.mutable_message();
}

// Appends to the current part, on a new line when it already holds text (a follow-up line
// such as a second DETAIL:) or always for a tab-led continuation. Beyond max_entry_bytes the
// text is dropped and the entry flagged truncated.
void LogEntryAssembler::AppendToPart(std::string_view text, bool truncated, bool force_newline) {
  std::string* field = PartField();
  if (truncated) pending_.entry.set_truncated(true);
  if (pending_.bytes + text.size() + 1 > options_.max_entry_bytes) {
    pending_.entry.set_truncated(true);
    return;
  }
  if (force_newline || !field->empty()) field->push_back('\n');
  field->append(text);
  pending_.bytes += text.size() + 1;
}

void LogEntryAssembler::PushCsv(const LogLine& line, std::vector<AssembledEntry>* out) {
  if (!pending_.active) {
    if (line.text.empty()) return;
    pending_.active = true;
    pending_.csv.clear();
    pending_.csv_in_quotes = false;
    pending_.bytes = 0;
    pending_.entry.Clear();
  } else {
    if (pending_.bytes < options_.max_entry_bytes) pending_.csv.push_back('\n');
    ++pending_.bytes;
  }
  size_t room =
      pending_.bytes < options_.max_entry_bytes ? options_.max_entry_bytes - pending_.bytes : 0;
  if (line.text.size() > room) pending_.entry.set_truncated(true);
  pending_.csv.append(line.text.substr(0, room));
  pending_.bytes += line.text.size();
  if (line.truncated) pending_.entry.set_truncated(true);
  pending_.csv_in_quotes = CsvQuoteStateAfter(line.text, pending_.csv_in_quotes);
  pending_.end_offset = line.end_offset;
  if (!pending_.csv_in_quotes) EmitPending(out);
}

void LogEntryAssembler::PushJson(const LogLine& line, std::vector<AssembledEntry>* out) {
  std::string_view text = WithoutCr(line.text);
  if (text.empty()) return;
  LogEntry entry;
  bool unknown_zone = false;
  if (line.truncated || !JsonlogLineToEntry(text, &entry, &unknown_zone)) {
    EmitUnparsed(line, out);
    return;
  }
  if (unknown_zone) ++stats_.unknown_timezone;
  Emit(std::move(entry), line.end_offset, out);
}

void LogEntryAssembler::EmitPending(std::vector<AssembledEntry>* out) {
  if (!pending_.active) return;
  pending_.active = false;
  if (parser_.format() == LogFormat::kCsvlog) {
    bool truncated = pending_.entry.truncated();
    LogEntry entry;
    bool unknown_zone = false;
    if (!pending_.csv_in_quotes && !truncated &&
        CsvlogRecordToEntry(pending_.csv, &csv_fields_, &entry, &unknown_zone)) {
      if (unknown_zone) ++stats_.unknown_timezone;
      Emit(std::move(entry), pending_.end_offset, out);
    } else {
      LogLine raw{pending_.csv, truncated, pending_.end_offset};
      EmitUnparsed(raw, out);
    }
    pending_.csv.clear();
    return;
  }
  if (pending_.unparsed) {
    pending_.unparsed = false;
    LogLine raw{pending_.entry.message(), pending_.entry.truncated(), pending_.end_offset};
    EmitUnparsed(raw, out);
  } else {
    Emit(std::move(pending_.entry), pending_.end_offset, out);
  }
  pending_.entry.Clear();
}

void LogEntryAssembler::EmitUnparsed(const LogLine& line, std::vector<AssembledEntry>* out) {
  AssembledEntry a;
  std::string_view text = line.text.substr(0, options_.max_entry_bytes);
  a.entry.set_message(std::string(text));
  a.entry.set_truncated(line.truncated || text.size() < line.text.size());
  EnrichCounters c;
  parser_.enricher().FinishUnparsed(&a.entry, &c);
  stats_.invalid_utf8 += static_cast<uint64_t>(c.invalid_utf8);
  stats_.redaction_failed += static_cast<uint64_t>(c.redaction_failed);
  a.end_offset = line.end_offset;
  ++stats_.entries;
  ++stats_.unparsed;
  if (a.entry.truncated()) ++stats_.truncated;
  out->push_back(std::move(a));
}

void LogEntryAssembler::Emit(LogEntry&& entry, uint64_t end_offset,
                             std::vector<AssembledEntry>* out) {
  AssembledEntry a;
  a.entry = std::move(entry);
  a.end_offset = end_offset;
  EnrichCounters c;
  parser_.enricher().Finish(&a.entry, &app_correlation_cache_, &c);
  stats_.invalid_utf8 += static_cast<uint64_t>(c.invalid_utf8);
  stats_.redaction_failed += static_cast<uint64_t>(c.redaction_failed);
  stats_.plans_dropped += static_cast<uint64_t>(c.plans_dropped);
  ++stats_.entries;
  if (a.entry.truncated()) ++stats_.truncated;
  out->push_back(std::move(a));
}

}  // namespace pgagent
