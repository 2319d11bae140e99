// Turns the physical lines of ONE log file into complete entries: joins multi-line entries
// (tab-indented continuation lines, DETAIL/HINT/CONTEXT/STATEMENT/QUERY/LOCATION follow-up
// lines of the same pid in stderr, csv records whose quoted fields hold newlines), parses
// them with its LogParser, then enriches (duration, correlation id, event class) and redacts
// them field by field (log_enricher.h). stderr continuation lines are led by a tab (as
// PostgreSQL writes them) or by spaces (logs whose tabs were expanded). Lines that match no
// format become entries with parsed = false (in stderr together with their continuation
// lines), masked fail-closed, and are counted.
//
// Usage by the tailer: one assembler per followed file; Push() every complete line in file
// order; call FlushIfIdle() when no line arrived for a while (a stderr entry is only known
// to be complete when the next one starts); Flush() before switching to another file.
//
// csvlog resynchronisation: a record whose quote never closes (a line cut at max_line_bytes
// inside a quoted field, hostile unbalanced quotes, binary junk) would otherwise swallow every
// record after it. So while a record is open inside quotes, or after one of its lines was cut,
// a line that starts like a csvlog record (its log_time column, "YYYY-MM-DD HH:MM:SS.mmm
// ZONE,") ends it: the cut record is emitted as an entry with truncated = true (its columns
// up to the cut, the open field closed) and the new line starts the next record. The lines of
// a cut record up to the next record start are dropped and counted (cut_bytes). A quoted
// field that itself holds a line starting like a record is split there (both parts arrive,
// flagged truncated): the price of never losing the records that follow.
//
// syslog: a SyslogReassembler (syslog_reassembler.h) first puts each entry's syslog parts
// back together, per process; the lines it hands back take the stderr path above, and the
// entry is complete at its end. pid and time come from the syslog header when the prefix
// lacks them.
//
// Thread-safety: not thread-safe; one thread (the tailer's) drives an instance. The
// LogParser must outlive the assembler.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "collectord/logs/log_line.h"
#include "collectord/logs/log_parser.h"
#include "collectord/logs/syslog_reassembler.h"

namespace pgagent {

struct StderrLine;

struct LogAssemblerOptions {
  // A pending entry is emitted when no line arrived for this long (FlushIfIdle).
  std::chrono::milliseconds idle_timeout{250};
  // An entry (all its lines, or one csv record) larger than this is cut, emitted with
  // truncated = true, and the rest of it is skipped. Bounds memory on garbage input
  // (an unterminated csv quote).
  size_t max_entry_bytes = size_t{4} << 20;
};

// Counters of one assembler since construction (for the health record).
struct LogParseStats {
  uint64_t lines = 0;             // physical lines pushed
  uint64_t entries = 0;           // entries emitted (parsed or not)
  uint64_t unparsed = 0;          // entries emitted with parsed = false
  uint64_t truncated = 0;         // entries emitted with truncated = true
  uint64_t redaction_failed = 0;  // fields (or parts) masked fail-closed, unparsed entries too
  uint64_t plans_dropped = 0;     // auto_explain plans dropped (format could not be read)
  uint64_t invalid_utf8 = 0;      // lines pushed with invalid UTF-8 (repaired here)
  uint64_t unknown_timezone = 0;  // timestamps whose zone was not understood (taken as UTC)
  uint64_t cut_bytes = 0;         // bytes dropped from entries over max_entry_bytes or damaged
  uint64_t csv_resyncs = 0;       // csv records ended early at the start of the next record
  uint64_t syslog_foreign = 0;    // syslog lines of another program, skipped
  uint64_t syslog_gaps = 0;       // syslog entries with a part missing (flagged truncated)
};

class LogEntryAssembler {
 public:
  explicit LogEntryAssembler(const LogParser& parser, LogAssemblerOptions options = {});
  ~LogEntryAssembler();
  LogEntryAssembler(const LogEntryAssembler&) = delete;
  LogEntryAssembler& operator=(const LogEntryAssembler&) = delete;

  // Pushes one physical line read at `now`; appends the entries it completes to *out (zero
  // or one). Never fails: bad input becomes unparsed entries. A line not marked valid_utf8
  // is repaired first (the tailer's lines are, so they are not checked twice); from here on
  // every text is valid UTF-8, and cuts (max_entry_bytes) fall between characters.
  void Push(const LogLine& line, std::chrono::steady_clock::time_point now,
            std::vector<AssembledEntry>* out);
  // Emits the pending entry when the last line arrived more than idle_timeout before `now`.
  void FlushIfIdle(std::chrono::steady_clock::time_point now, std::vector<AssembledEntry>* out);
  // Emits the pending entry, if any (end of file before a switch, shutdown).
  void Flush(std::vector<AssembledEntry>* out);
  // Drops the pending entry without emitting it (the file was truncated under us).
  void Reset();

  bool has_pending() const { return pending_.active || (syslog_ && syslog_->has_pending()); }
  const LogParseStats& stats() const { return stats_; }

 private:
  // Which field a stderr continuation line appends to.
  enum class Part { kMessage, kDetail, kHint, kContext, kStatement, kQuery, kLocation };
  struct Pending {
    bool active = false;
    bool unparsed = false;  // stderr: a line that matched no prefix, plus its continuations
    pgagent::v1::LogEntry entry;
    Part part = Part::kMessage;
    std::string csv;  // csvlog: the record so far, lines joined by '\n'
    bool csv_in_quotes = false;
    bool csv_cut = false;  // a line of this record was cut: its rest is unknown
    size_t bytes = 0;
    uint64_t end_offset = 0;
    std::chrono::steady_clock::time_point last_push{};
  };

  // REQUIRES: line.text is valid UTF-8.
  void Dispatch(const LogLine& line, std::chrono::steady_clock::time_point now,
                std::vector<AssembledEntry>* out);
  void PushStderr(const LogLine& line, std::vector<AssembledEntry>* out);
  void PushCsv(const LogLine& line, std::vector<AssembledEntry>* out);
  void AppendCsvLine(const LogLine& line);
  void EmitCsv(std::vector<AssembledEntry>* out);
  void PushJson(const LogLine& line, std::vector<AssembledEntry>* out);
  // Parses the entries in syslog_entries_ (then cleared) through the stderr path.
  void EmitSyslog(std::vector<AssembledEntry>* out);
  bool SameProcess(const StderrLine& line) const;
  void StartStderrEntry(const StderrLine& sl, const LogLine& line);
  void StartUnparsedEntry(const LogLine& line);
  std::string* PartField();
  void AppendToPart(std::string_view text, bool truncated, bool force_newline);
  void EmitPending(std::vector<AssembledEntry>* out);
  void EmitUnparsed(const LogLine& line, std::vector<AssembledEntry>* out);
  void Emit(pgagent::v1::LogEntry&& entry, uint64_t end_offset, std::vector<AssembledEntry>* out);

  const LogParser& parser_;
  LogAssemblerOptions options_;
  Pending pending_;
  LogParseStats stats_;
  // application_name -> correlation id ("" for none); bounded, cleared when full.
  std::unordered_map<std::string, std::string> app_correlation_cache_;
  std::vector<std::string> csv_fields_;  // reused by every csv record

  // syslog only; the entries it hands back (reused).
  std::unique_ptr<SyslogReassembler> syslog_;
  std::vector<SyslogEntry> syslog_entries_;
};

}  // namespace pgagent
