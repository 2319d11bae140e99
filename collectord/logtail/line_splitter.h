// Cuts the bytes of a log file into lines, as they are read in big chunks. A line ends at
// '\n' (not included in its text). Each line carries the file offset just after its '\n',
// which is where a reader may resume once the line has been delivered.
//
// Bounded memory: a line longer than max_line_bytes keeps only its first max_line_bytes
// bytes and is flagged truncated; the rest of that physical line is skipped as it is read.
// A partial last line (no '\n' yet) is held (at most max_line_bytes) until it is completed.
// Text is made valid UTF-8: NUL bytes are removed and invalid sequences become U+FFFD.
//
// Thread-safety: not thread-safe; owned and driven by one FileTailer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace pgagent::logtail {

struct TailLine {
  std::string text;         // valid UTF-8, without the '\n'
  bool truncated = false;   // cut at max_line_bytes
  uint64_t end_offset = 0;  // file offset just after this line's '\n'
};

struct LineStats {
  uint64_t lines = 0;
  uint64_t truncated_lines = 0;
  uint64_t truncated_bytes = 0;     // bytes of long lines skipped beyond max_line_bytes
  uint64_t invalid_utf8_lines = 0;  // lines where invalid UTF-8 was replaced
  uint64_t nul_bytes = 0;           // NUL bytes removed
};

// Removes NUL bytes and replaces invalid UTF-8 with U+FFFD in place. Returns true when the
// text changed. *nul_bytes is incremented by the number of NULs removed.
bool SanitizeLineText(std::string& text, uint64_t* nul_bytes, bool* invalid_utf8);

class LineSplitter {
 public:
  // REQUIRES: max_line_bytes > 0.
  explicit LineSplitter(size_t max_line_bytes);

  // Starts over at file offset `offset` (the start of a line), dropping any held bytes.
  void Reset(uint64_t offset);
  // Starts at `offset`, which may be in the middle of a line: bytes up to and including the
  // next '\n' are skipped without being emitted.
  void ResetSkippingFirstLine(uint64_t offset);

  // Consumes data, which starts at fed_offset(). Appends every completed line to *out.
  void Feed(std::string_view data, std::vector<TailLine>* out);
  // Emits the held partial line, if any (end of a file that will not grow again). Its
  // end_offset is fed_offset(). Returns true when a line was emitted.
  bool FlushPartial(std::vector<TailLine>* out);

  // Offset just after the last completed line: where a restart must resume.
  uint64_t line_start_offset() const { return line_start_; }
  // Offset of the next byte Feed() expects.
  uint64_t fed_offset() const { return fed_; }
  // Bytes of an incomplete line seen so far (including skipped ones).
  bool has_partial() const { return fed_ > line_start_; }
  const LineStats& stats() const { return stats_; }

 private:
  void Emit(std::string text, bool truncated, uint64_t end_offset, std::vector<TailLine>* out);

  size_t max_line_bytes_;
  uint64_t line_start_ = 0;  // offset where the held partial line starts
  uint64_t fed_ = 0;
  std::string partial_;             // first bytes of the held line (<= max_line_bytes_)
  bool partial_truncated_ = false;  // the held line already exceeded the cap
  bool skip_first_line_ = false;
  LineStats stats_;
};

}  // namespace pgagent::logtail
