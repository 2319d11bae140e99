#include "collectord/logs/log_entry_assembler.h"

#include <cctype>
#include <utility>

#include "collectord/logs/log_enricher.h"
#include "collectord/logs/log_records.h"
#include "collectord/logs/stderr_prefix.h"
#include "common/utf8.h"

namespace pgagent {
namespace {

using pgagent::v1::LogEntry;

std::string_view WithoutCr(std::string_view s) {
  if (!s.empty() && s.back() == '\r') s.remove_suffix(1);
  return s;
}

bool Digits(std::string_view s, size_t pos, size_t n) {
  if (pos + n > s.size()) return false;
  for (size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
  }
  return true;
}

// True when `line` starts like a csvlog record: "YYYY-MM-DD HH:MM:SS.mmm ZONE," followed by
// the user name column (quoted or empty).
bool LooksLikeCsvlogRecordStart(std::string_view line) {
  if (line.size() < 26 || !Digits(line, 0, 4) || line[4] != '-' || !Digits(line, 5, 2) ||
      line[7] != '-' || !Digits(line, 8, 2) || line[10] != ' ' || !Digits(line, 11, 2) ||
      line[13] != ':' || !Digits(line, 14, 2) || line[16] != ':' || !Digits(line, 17, 2) ||
      line[19] != '.' || !Digits(line, 20, 3) || line[23] != ' ') {
    return false;
  }
  size_t p = 24;
  while (p < line.size() && p < 24 + 10 &&
         (std::isalnum(static_cast<unsigned char>(line[p])) || line[p] == '+' || line[p] == '-')) {
    ++p;
  }
  return p > 24 && p + 1 < line.size() && line[p] == ',' &&
         (line[p + 1] == '"' || line[p + 1] == ',');
}

// A csvlog record cut short (an open quoted field, missing trailing columns): closes the
// field and adds the missing columns, so that what was read parses as an entry. False when
// even that does not parse.
bool CutCsvlogRecordToEntry(std::string record, bool in_quotes, std::vector<std::string>* fields,
                            LogEntry* entry, bool* unknown_zone) {
  if (!record.empty() && record.back() == '\r') record.pop_back();
  if (in_quotes) record.push_back('"');
  if (!SplitCsvRecord(record, fields) || fields->size() > 26) return false;
  record.append(26 - fields->size(), ',');
  return CsvlogRecordToEntry(record, fields, entry, unknown_zone);
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
    : parser_(parser), options_(options) {
  if (parser.format() == LogFormat::kSyslog) {
    SyslogReassemblerOptions so;
    so.ident = parser.options().syslog_ident;
    so.sequence_numbers = parser.options().syslog_sequence_numbers;
    so.idle_timeout = options.idle_timeout;
    so.max_entry_bytes = options.max_entry_bytes;
    syslog_ = std::make_unique<SyslogReassembler>(*parser.stderr_matcher(), so);
  }
}

LogEntryAssembler::~LogEntryAssembler() = default;

void LogEntryAssembler::Push(const LogLine& line, std::chrono::steady_clock::time_point now,
                             std::vector<AssembledEntry>* out) {
  ++stats_.lines;
  if (!line.valid_utf8 && FirstInvalidUtf8(line.text) != std::string_view::npos) {
    std::string repaired(line.text);
    SanitizeUtf8(&repaired);
    ++stats_.invalid_utf8;
    Dispatch(LogLine{repaired, line.truncated, line.end_offset, true}, now, out);
  } else {
    Dispatch(line, now, out);
  }
  pending_.last_push = now;
}

void LogEntryAssembler::Dispatch(const LogLine& line, std::chrono::steady_clock::time_point now,
                                 std::vector<AssembledEntry>* out) {
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
    case LogFormat::kSyslog:
      syslog_->Push(line, now, &syslog_entries_);
      EmitSyslog(out);
      break;
  }
}

void LogEntryAssembler::FlushIfIdle(std::chrono::steady_clock::time_point now,
                                    std::vector<AssembledEntry>* out) {
  if (syslog_) {
    syslog_->FlushIfIdle(now, &syslog_entries_);
    EmitSyslog(out);
  }
  if (pending_.active && now - pending_.last_push >= options_.idle_timeout) EmitPending(out);
}

void LogEntryAssembler::Flush(std::vector<AssembledEntry>* out) {
  if (syslog_) {
    syslog_->Flush(&syslog_entries_);
    EmitSyslog(out);
  }
  EmitPending(out);
}

void LogEntryAssembler::Reset() {
  pending_ = Pending{};
  if (syslog_) syslog_->Reset();
}

// Each entry is complete: its lines take the stderr path, then it is emitted. The header's
// pid and time fill in what the prefix does not carry.
void LogEntryAssembler::EmitSyslog(std::vector<AssembledEntry>* out) {
  for (SyslogEntry& s : syslog_entries_) {
    if (s.unparsable) {
      if (SanitizeUtf8(&s.lines.front())) ++stats_.invalid_utf8;
      EmitUnparsed(LogLine{s.lines.front(), s.truncated, s.end_offset, true}, out);
      continue;
    }
    for (size_t i = 0; i < s.lines.size(); ++i) {
      // rsyslog's #ooo escapes are decoded by the reassembler: the bytes may not be UTF-8.
      if (SanitizeUtf8(&s.lines[i])) ++stats_.invalid_utf8;
      PushStderr(LogLine{s.lines[i], s.truncated && i == 0, s.end_offset}, out);
    }
    if (pending_.active && !pending_.unparsed) {
      LogEntry& e = pending_.entry;
      if (e.pid() == 0) e.set_pid(s.pid);
      if (!e.has_timestamp() && s.header_time) *e.mutable_timestamp() = *s.header_time;
    }
    EmitPending(out);
  }
  syslog_entries_.clear();
  stats_.syslog_foreign = syslog_->stats().foreign_lines;
  stats_.syslog_gaps = syslog_->stats().parts_missing;
}

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
  pending_.entry.set_message(
      std::string(text.substr(0, Utf8CutPoint(text, options_.max_entry_bytes))));
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
    std::string* message = pending_.entry.mutable_message();
    message->resize(Utf8CutPoint(*message, options_.max_entry_bytes));
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
  if (pending_.active && (pending_.csv_in_quotes || pending_.csv_cut) &&
      LooksLikeCsvlogRecordStart(line.text)) {
    ++stats_.csv_resyncs;  // the open record cannot go on: this line starts the next one
    EmitPending(out);
  }
  if (pending_.active && pending_.csv_cut) {
    stats_.cut_bytes += line.text.size() + 1;  // the unknown rest of a cut record
    pending_.end_offset = line.end_offset;
    return;
  }
  if (!pending_.active) {
    if (line.text.empty()) return;
    pending_.active = true;
    pending_.csv.clear();
    pending_.csv_in_quotes = false;
    pending_.csv_cut = false;
    pending_.bytes = 0;
    pending_.entry.Clear();
  } else {
    if (pending_.bytes < options_.max_entry_bytes) pending_.csv.push_back('\n');
    ++pending_.bytes;
  }
  AppendCsvLine(line);
  // A cut line may have held the record's end: wait for the next record start (or idle).
  if (!pending_.csv_in_quotes && !pending_.csv_cut) EmitPending(out);
}

void LogEntryAssembler::AppendCsvLine(const LogLine& line) {
  size_t room =
      pending_.bytes < options_.max_entry_bytes ? options_.max_entry_bytes - pending_.bytes : 0;
  if (line.text.size() > room) {
    pending_.entry.set_truncated(true);
    stats_.cut_bytes += line.text.size() - room;
  }
  std::string_view kept = std::string_view(line.text).substr(0, Utf8CutPoint(line.text, room));
  pending_.csv.append(kept);
  pending_.bytes += line.text.size();
  pending_.csv_in_quotes = CsvQuoteStateAfter(kept, pending_.csv_in_quotes);
  if (line.truncated || kept.size() < line.text.size()) {
    pending_.entry.set_truncated(true);
    pending_.csv_cut = true;
  }
  pending_.end_offset = line.end_offset;
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
    EmitCsv(out);
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

// A complete record parses as is; a cut one (cut line, open quote at a resync or at the end)
// is parsed as far as it goes and flagged truncated; what does not parse is sent unparsed.
void LogEntryAssembler::EmitCsv(std::vector<AssembledEntry>* out) {
  const bool cut = pending_.entry.truncated() || pending_.csv_in_quotes || pending_.csv_cut;
  LogEntry entry;
  bool unknown_zone = false;
  const bool parsed = cut ? CutCsvlogRecordToEntry(pending_.csv, pending_.csv_in_quotes,
                                                   &csv_fields_, &entry, &unknown_zone)
                          : CsvlogRecordToEntry(pending_.csv, &csv_fields_, &entry, &unknown_zone);
  if (parsed) {
    if (unknown_zone) ++stats_.unknown_timezone;
    if (cut) entry.set_truncated(true);
    Emit(std::move(entry), pending_.end_offset, out);
  } else {
    LogLine raw{pending_.csv, cut, pending_.end_offset};
    EmitUnparsed(raw, out);
  }
  pending_.csv.clear();
  pending_.csv_cut = false;
  pending_.csv_in_quotes = false;
}

void LogEntryAssembler::EmitUnparsed(const LogLine& line, std::vector<AssembledEntry>* out) {
  AssembledEntry a;
  std::string_view text = line.text.substr(0, Utf8CutPoint(line.text, options_.max_entry_bytes));
  a.entry.set_message(std::string(text));
  a.entry.set_truncated(line.truncated || text.size() < line.text.size());
  EnrichCounters c;
  parser_.enricher().FinishUnparsed(&a.entry, &c);
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
  stats_.redaction_failed += static_cast<uint64_t>(c.redaction_failed);
  stats_.plans_dropped += static_cast<uint64_t>(c.plans_dropped);
  ++stats_.entries;
  if (a.entry.truncated()) ++stats_.truncated;
  out->push_back(std::move(a));
}

}  // namespace pgagent
