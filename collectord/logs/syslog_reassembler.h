// log_destination = syslog: reads the files a syslog daemon (rsyslog, or journald
// forwarding to it) writes in the traditional layout, one syslog message per line:
//   Dec  4 21:40:33 host postgres[20993]: [7-2]  long long ...          (traditional)
//   2026-12-04T21:40:33.654012+00:00 host postgres[20993]: [7-2] ...   (high precision)
// PostgreSQL's write_syslog() sends one log entry (log_line_prefix, level, message and its
// DETAIL/STATEMENT/... lines, as stderr writes them) as several syslog messages: one per
// line of the entry, and one per ~900 bytes of a long line (cut before a space), tagged
// "[seq-part]" (syslog_sequence_numbers and syslog_split_messages on, the defaults),
// "[part]" (sequence numbers off), "[seq]" (split off: the entry in one message, its
// newlines escaped by rsyslog as "#012") or nothing. rsyslog escapes control characters
// (a continuation line's leading tab arrives as "#011"); they are decoded here.
//
// SyslogReassembler puts the parts of one entry together again, per process (the messages
// of different backends interleave in the file), and hands back the entry's lines as stderr
// would have written them; LogEntryAssembler parses them with the stderr prefix parser, so
// the fields, enrichment and redaction are those of stderr. A part is a new line of the entry
// when it starts with a tab or with the log_line_prefix and a level; otherwise it continues
// the line before it (a long line cut at 900 bytes).
//
// An entry is complete when its process sends the next one, when its process was quiet for
// idle_timeout (FlushIfIdle, and checked while other processes' lines arrive), when too many processes are pending (the oldest goes first),
// or at Flush(). Parts are ordered by their number; a missing part (a gap, or no part 1)
// flags the entry truncated. Lines without a syslog header are handed back unparsable (to be
// masked); well-formed lines of another program (tag other than `ident`) are skipped and
// counted.
//
// Offsets: an entry's end_offset is the point up to which every line belongs to an entry
// already handed back (the start of the oldest pending entry of another process, if any),
// so that committing it never skips a pending entry; it never decreases. A crash then
// re-reads, at worst, entries of other processes (at-least-once, as for the rest of the log).
//
// Thread-safety: not thread-safe; driven by its LogEntryAssembler. The matcher must outlive
// the reassembler.
#pragma once

#include <google/protobuf/timestamp.pb.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "collectord/logs/log_line.h"

namespace pgagent {

class StderrPrefixMatcher;

struct SyslogReassemblerOptions {
  // PostgreSQL's syslog_ident: the program tag of its lines.
  std::string ident = "postgres";
  // PostgreSQL's syslog_sequence_numbers: a lone "[N]" is then a sequence number (an entry
  // sent whole, syslog_split_messages off), else a part number.
  bool sequence_numbers = true;
  std::chrono::milliseconds idle_timeout{250};
  // Bytes of one entry kept; the rest is dropped and the entry flagged truncated.
  size_t max_entry_bytes = size_t{4} << 20;
  // Processes with an entry in progress; beyond it the oldest entry is handed back.
  size_t max_pending_processes = 256;
};

// One PostgreSQL log entry put back together, or one line that is not a syslog line.
struct SyslogEntry {
  // The entry's lines as stderr writes them (continuations led by a tab), or the raw line
  // when unparsable.
  std::vector<std::string> lines;
  bool unparsable = false;  // lines[0] is a line without a syslog header: mask it
  int32_t pid = 0;          // from the syslog tag (0 when unparsable)
  // The syslog header's time when it carries a zone (the high-precision format); the
  // traditional "Dec  4 21:40:33" has neither year nor zone and is not used.
  std::optional<google::protobuf::Timestamp> header_time;
  bool truncated = false;  // a part missing, a line cut by the tailer, over max_entry_bytes
  uint64_t end_offset = 0;
};

struct SyslogStats {
  uint64_t foreign_lines = 0;     // well-formed syslog lines of another program, skipped
  uint64_t unparsable_lines = 0;  // lines without a syslog header, handed back to be masked
  uint64_t parts_missing = 0;     // entries handed back with a part missing
  uint64_t parts_reordered = 0;   // parts that arrived after a later part of their entry
  uint64_t evicted = 0;           // entries handed back early (max_pending_processes)
};

// The header of one syslog file line. Views point into the line.
struct SyslogHeader {
  std::string_view time;  // "Dec  4 21:40:33" or "2026-12-04T21:40:33.654012+00:00"
  std::string_view host;
  std::string_view program;  // the tag before "[pid]"
  int32_t pid = 0;
  std::string_view body;  // after "]: "
};

// Splits a syslog file line; false when it is not "<time> <host> <program>[<pid>]: ...".
bool ParseSyslogHeader(std::string_view line, SyslogHeader* out);

// Replaces rsyslog's control character escapes ("#011" tab, "#012" newline: '#' and three
// octal digits of a byte below 0x20 or 0x7f) by the byte. Appends to *out.
void AppendSyslogUnescaped(std::string_view text, std::string* out);

class SyslogReassembler {
 public:
  SyslogReassembler(const StderrPrefixMatcher& matcher, SyslogReassemblerOptions options);
  SyslogReassembler(const SyslogReassembler&) = delete;
  SyslogReassembler& operator=(const SyslogReassembler&) = delete;

  // Takes one physical line of the file, read at `now`; appends the entries it completes.
  void Push(const LogLine& line, std::chrono::steady_clock::time_point now,
            std::vector<SyslogEntry>* out);
  // Hands back the entries whose process was quiet for idle_timeout, oldest first.
  void FlushIfIdle(std::chrono::steady_clock::time_point now, std::vector<SyslogEntry>* out);
  // Hands back every pending entry, oldest first.
  void Flush(std::vector<SyslogEntry>* out);
  // Drops the pending entries (the file was truncated under us).
  void Reset();

  bool has_pending() const { return !pending_.empty(); }
  const SyslogStats& stats() const { return stats_; }

 private:
  struct Part {
    int number = 0;
    std::string text;  // unescaped
  };
  struct Pending {
    int32_t pid = 0;
    std::optional<uint64_t> seq;
    std::vector<Part> parts;
    size_t bytes = 0;
    bool truncated = false;
    uint64_t start_offset = 0;  // end offset of the line before its first part
    std::chrono::steady_clock::time_point last_push{};
    std::optional<google::protobuf::Timestamp> header_time;
  };
  // What the "[...]" marker of a body says.
  struct Marker {
    std::optional<uint64_t> seq;
    int part = 0;  // 0: the entry was sent whole
    std::string_view text;
  };

  Marker ParseMarker(std::string_view body) const;
  void PushPart(const SyslogHeader& header, const Marker& marker, const LogLine& line,
                std::chrono::steady_clock::time_point now, std::vector<SyslogEntry>* out);
  void AddPart(Pending* p, int number, std::string_view text, bool truncated);
  // Hands back pending_[index] and removes it.
  void Complete(size_t index, std::vector<SyslogEntry>* out);
  void BuildLines(Pending* p, SyslogEntry* entry);
  bool StartsLine(std::string_view text) const;
  // The offset for the next entry handed back: the start of the oldest pending entry, or
  // the end of the last line; never below the last one handed back.
  uint64_t NextOffset();
  Pending* Find(int32_t pid, size_t* index);

  const StderrPrefixMatcher& matcher_;
  SyslogReassemblerOptions options_;
  std::vector<Pending> pending_;  // in order of start_offset
  bool have_offset_ = false;      // false until the first line after a (re)start
  uint64_t last_end_offset_ = 0;  // end offset of the last line pushed
  uint64_t last_handed_offset_ = 0;
  std::chrono::steady_clock::time_point last_idle_scan_{};
  SyslogStats stats_;
};

}  // namespace pgagent
