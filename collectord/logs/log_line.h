// The interface between the log tailer (collectord/logtail/) and the log parsers
// (collectord/logs/): the tailer hands physical lines to a LogEntryAssembler
// (log_entry_assembler.h), which hands back complete entries with the file offset that
// may be committed once the entry is acknowledged.
// Value types only; no threads, no shared state.
#pragma once

#include <cstdint>
#include <string_view>

#include "pgagent/v1/records.pb.h"

namespace pgagent {

// PostgreSQL log destinations pgagent can parse.
enum class LogFormat {
  kStderr,   // stderr (logging_collector or a redirected stderr), any log_line_prefix
  kCsvlog,   // csvlog, PG 12 (23 columns), 13 (24), 14+ (26)
  kJsonlog,  // jsonlog, PG 15+
  kSyslog,   // syslog, as a syslog daemon writes it to a file (syslog_reassembler.h)
};

// One physical line of a log file, as read by the tailer.
struct LogLine {
  // The line without its '\n' (a trailing '\r' is kept and ignored by the parsers). Valid
  // UTF-8 when valid_utf8 is set; otherwise any bytes, repaired by the assembler.
  // Only valid during the Push() call: the assembler copies what it keeps.
  std::string_view text;
  // True when the tailer cut the line at its length cap (the rest of the physical line was
  // skipped). The entry the line ends up in gets LogEntry.truncated = true.
  bool truncated = false;
  // Byte offset in the file just after this line's '\n'.
  uint64_t end_offset = 0;
  // The producer guarantees valid UTF-8 (the tailer's LineSplitter repairs every line where
  // it enters): the one UTF-8 pass of the log path then happens there.
  bool valid_utf8 = false;
};

// Every string field of the entries an assembler emits is valid UTF-8 (LogLine's text is,
// or is made so, and parsing and cutting keep it so): nothing downstream validates again.

// A complete, enriched and redacted entry, ready for a LogBatcher.
struct AssembledEntry {
  pgagent::v1::LogEntry entry;
  // end_offset of the entry's last physical line: once the batch holding this entry is
  // acknowledged, the tailer may commit this offset. Non-decreasing across the entries one
  // assembler emits.
  uint64_t end_offset = 0;
};

}  // namespace pgagent
