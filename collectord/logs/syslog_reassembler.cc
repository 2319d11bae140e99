#include "collectord/logs/syslog_reassembler.h"

#include <algorithm>
#include <utility>

#include "collectord/logs/log_text.h"
#include "collectord/logs/stderr_prefix.h"

namespace pgagent {
namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

std::string_view WithoutCr(std::string_view s) {
  if (!s.empty() && s.back() == '\r') s.remove_suffix(1);
  return s;
}

// "Dec  4 21:40:33" / "Dec 04 21:40:33" (rsyslog's traditional format, journalctl -o short).
size_t MatchTraditionalTime(std::string_view s) {
  static constexpr char kShape[] = "Aaa ?d dd:dd:dd";
  constexpr size_t kLen = sizeof(kShape) - 1;
  if (s.size() < kLen) return 0;
  for (size_t i = 0; i < kLen; ++i) {
    const char c = s[i];
    bool ok = false;
    switch (kShape[i]) {
      case 'A':
        ok = c >= 'A' && c <= 'Z';
        break;
      case 'a':
        ok = c >= 'a' && c <= 'z';
        break;
      case 'd':
        ok = IsDigit(c);
        break;
      case '?':
        ok = c == ' ' || IsDigit(c);
        break;
      default:
        ok = c == kShape[i];
    }
    if (!ok) return 0;
  }
  return kLen;
}

// "2026-12-04T21:40:33[.frac](Z|+hh:mm|+hhmm)": up to the first space, when it starts with a
// date and a 'T'.
size_t MatchIsoTime(std::string_view s) {
  if (s.size() < 20 || !IsDigit(s[0]) || !IsDigit(s[3]) || s[4] != '-' || s[10] != 'T') return 0;
  const size_t space = s.find(' ');
  return space == std::string_view::npos ? 0 : space;
}

// "program[pid]: body" or "program: body" at the start of s.
bool MatchTag(std::string_view s, SyslogHeader* out) {
  size_t p = 0;
  while (p < s.size() && s[p] != '[' && s[p] != ':' && s[p] != ' ' && p < 64) ++p;
  if (p == 0 || p >= s.size()) return false;
  out->program = s.substr(0, p);
  out->pid = 0;
  if (s[p] == '[') {
    size_t q = p + 1;
    int64_t pid = 0;
    while (q < s.size() && IsDigit(s[q]) && q - p <= 10) pid = pid * 10 + (s[q++] - '0');
    if (q == p + 1 || q + 1 >= s.size() || s[q] != ']' || pid > INT32_MAX) return false;
    out->pid = static_cast<int32_t>(pid);
    p = q + 1;
  }
  if (p >= s.size() || s[p] != ':') return false;
  ++p;
  if (p < s.size() && s[p] == ' ') ++p;
  out->body = s.substr(p);
  return true;
}

int OctalByte(std::string_view s, size_t p) {
  if (p + 3 > s.size()) return -1;
  int v = 0;
  for (size_t i = p; i < p + 3; ++i) {
    if (s[i] < '0' || s[i] > '7') return -1;
    v = v * 8 + (s[i] - '0');
  }
  return v;
}

}  // namespace

bool ParseSyslogHeader(std::string_view line, SyslogHeader* out) {
  *out = SyslogHeader{};
  size_t t = MatchTraditionalTime(line);
  if (t == 0) t = MatchIsoTime(line);
  if (t == 0 || t >= line.size() || line[t] != ' ') return false;
  out->time = line.substr(0, t);
  const size_t host_start = t + 1;
  const size_t host_end = line.find(' ', host_start);
  if (host_end == std::string_view::npos || host_end == host_start) return false;
  out->host = line.substr(host_start, host_end - host_start);
  return MatchTag(line.substr(host_end + 1), out);
}

void AppendSyslogUnescaped(std::string_view text, std::string* out) {
  size_t start = 0;
  for (size_t p = text.find('#'); p != std::string_view::npos; p = text.find('#', p)) {
    const int v = OctalByte(text, p + 1);
    if (v < 0 || (v >= 0x20 && v != 0x7f)) {
      ++p;
      continue;
    }
    out->append(text.substr(start, p - start));
    out->push_back(static_cast<char>(v));
    p += 4;
    start = p;
  }
  out->append(text.substr(start));
}

SyslogReassembler::SyslogReassembler(const StderrPrefixMatcher& matcher,
                                     SyslogReassemblerOptions options)
    : matcher_(matcher), options_(std::move(options)) {}

void SyslogReassembler::Push(const LogLine& line, std::chrono::steady_clock::time_point now,
                             std::vector<SyslogEntry>* out) {
  const std::string_view text = WithoutCr(line.text);
  if (!have_offset_) {
    // The first line after a (re)start: where it began, for the watermark.
    const uint64_t len = line.text.size() + 1;
    last_end_offset_ = line.end_offset > len ? line.end_offset - len : 0;
    have_offset_ = true;
  }
  SyslogHeader header;
  const bool ok = ParseSyslogHeader(text, &header);
  if (ok && header.program != options_.ident) {
    ++stats_.foreign_lines;
    last_end_offset_ = line.end_offset;
    return;
  }
  if (!ok || header.pid == 0) {
    last_end_offset_ = line.end_offset;
    if (text.empty()) return;
    ++stats_.unparsable_lines;
    SyslogEntry e;
    e.unparsable = true;
    e.lines.emplace_back(text.substr(0, options_.max_entry_bytes));
    e.truncated = line.truncated || text.size() > options_.max_entry_bytes;
    e.end_offset = NextOffset();
    out->push_back(std::move(e));
    return;
  }
  PushPart(header, ParseMarker(header.body), line, now, out);
  // Other processes keep the file busy: a quiet one's entry must not wait for a pause.
  if (now - last_idle_scan_ >= options_.idle_timeout) {
    last_idle_scan_ = now;
    FlushIfIdle(now, out);
  }
}

// The marker before the text: "[seq-part]", "[n]" or none.
SyslogReassembler::Marker SyslogReassembler::ParseMarker(std::string_view body) const {
  Marker m;
  m.text = body;
  if (body.empty() || body[0] != '[') return m;
  uint64_t a = 0, b = 0;
  size_t p = 1;
  while (p < body.size() && IsDigit(body[p]) && p < 20) a = a * 10 + (body[p++] - '0');
  if (p == 1 || p >= body.size()) return m;
  bool two = false;
  if (body[p] == '-') {
    const size_t q = ++p;
    while (p < body.size() && IsDigit(body[p]) && p - q < 9) b = b * 10 + (body[p++] - '0');
    if (p == q || p >= body.size()) return m;
    two = true;
  }
  if (body[p] != ']') return m;
  ++p;
  if (p < body.size() && body[p] == ' ') ++p;
  m.text = body.substr(p);
  if (two) {
    m.seq = a;
    m.part = static_cast<int>(b);
  } else if (options_.sequence_numbers) {
    m.seq = a;  // sent whole (syslog_split_messages off)
  } else {
    m.part = static_cast<int>(std::min<uint64_t>(a, 1u << 30));
  }
  if (m.part == 0 && two) m.part = 1;  // "[5-0]" does not occur; take it as a first part
  return m;
}

void SyslogReassembler::PushPart(const SyslogHeader& header, const Marker& marker,
                                 const LogLine& line, std::chrono::steady_clock::time_point now,
                                 std::vector<SyslogEntry>* out) {
  size_t index = 0;
  Pending* p = Find(header.pid, &index);
  const bool continues = p != nullptr && marker.part > 1 && marker.seq == p->seq;
  if (p != nullptr && !continues) {
    Complete(index, out);
    p = nullptr;
  }
  if (p == nullptr) {
    pending_.emplace_back();
    p = &pending_.back();
    index = pending_.size() - 1;
    p->pid = header.pid;
    p->seq = marker.seq;
    p->start_offset = last_end_offset_;
    google::protobuf::Timestamp ts;
    bool unknown_zone = false;
    if (header.time.find('T') != std::string_view::npos &&
        ParsePgTimestamp(header.time, &ts, &unknown_zone) && !unknown_zone) {
      p->header_time = ts;
    }
  }
  last_end_offset_ = line.end_offset;
  AddPart(p, marker.part == 0 ? 1 : marker.part, marker.text, line.truncated);
  p->last_push = now;
  if (marker.part == 0) {
    Complete(index, out);
  } else if (pending_.size() > options_.max_pending_processes) {
    ++stats_.evicted;
    Complete(0, out);
  }
}

void SyslogReassembler::AddPart(Pending* p, int number, std::string_view text, bool truncated) {
  if (truncated) p->truncated = true;
  if (p->bytes + text.size() > options_.max_entry_bytes) {
    p->truncated = true;
    text = text.substr(0, options_.max_entry_bytes - std::min(p->bytes, options_.max_entry_bytes));
  }
  Part part;
  part.number = number;
  AppendSyslogUnescaped(text, &part.text);
  p->bytes += text.size();
  p->parts.push_back(std::move(part));
}

void SyslogReassembler::FlushIfIdle(std::chrono::steady_clock::time_point now,
                                    std::vector<SyslogEntry>* out) {
  for (size_t i = 0; i < pending_.size();) {
    if (now - pending_[i].last_push >= options_.idle_timeout) {
      Complete(i, out);
    } else {
      ++i;
    }
  }
}

void SyslogReassembler::Flush(std::vector<SyslogEntry>* out) {
  while (!pending_.empty()) Complete(0, out);
  Reset();
}

void SyslogReassembler::Reset() {
  pending_.clear();
  have_offset_ = false;
  last_end_offset_ = 0;
  last_handed_offset_ = 0;
}

void SyslogReassembler::Complete(size_t index, std::vector<SyslogEntry>* out) {
  Pending p = std::move(pending_[index]);
  pending_.erase(pending_.begin() + static_cast<std::ptrdiff_t>(index));
  SyslogEntry e;
  e.pid = p.pid;
  e.header_time = p.header_time;
  e.truncated = p.truncated;
  BuildLines(&p, &e);
  e.end_offset = NextOffset();
  out->push_back(std::move(e));
}

// Orders the parts, flags gaps, and joins them into lines: a part led by a tab or by the
// prefix starts a line, any other continues the line before it.
void SyslogReassembler::BuildLines(Pending* p, SyslogEntry* e) {
  auto by_number = [](const Part& a, const Part& b) { return a.number < b.number; };
  if (!std::is_sorted(p->parts.begin(), p->parts.end(), by_number)) {
    ++stats_.parts_reordered;
    std::stable_sort(p->parts.begin(), p->parts.end(), by_number);
  }
  bool gap = p->parts.empty() || p->parts.front().number != 1;
  for (size_t i = 1; i < p->parts.size(); ++i) {
    if (p->parts[i].number > p->parts[i - 1].number + 1) gap = true;
  }
  if (gap) {
    ++stats_.parts_missing;
    e->truncated = true;
  }
  for (Part& part : p->parts) {
    std::string_view text = part.text;
    bool first_segment = true;
    while (true) {
      const size_t nl = text.find('\n');
      const std::string_view segment = text.substr(0, nl);
      if (e->lines.empty() || !first_segment || StartsLine(segment)) {
        e->lines.emplace_back(segment);
      } else {
        e->lines.back().append(segment);
      }
      if (nl == std::string_view::npos) break;
      text.remove_prefix(nl + 1);
      first_segment = false;
    }
  }
  while (e->lines.size() > 1 && e->lines.back().empty()) e->lines.pop_back();
}

bool SyslogReassembler::StartsLine(std::string_view text) const {
  if (!text.empty() && text[0] == '\t') return true;
  StderrLine sl;
  return matcher_.Match(text, &sl);
}

uint64_t SyslogReassembler::NextOffset() {
  const uint64_t watermark = pending_.empty() ? last_end_offset_ : pending_.front().start_offset;
  last_handed_offset_ = std::max(last_handed_offset_, watermark);
  return last_handed_offset_;
}

SyslogReassembler::Pending* SyslogReassembler::Find(int32_t pid, size_t* index) {
  for (size_t i = 0; i < pending_.size(); ++i) {
    if (pending_[i].pid == pid) {
      *index = i;
      return &pending_[i];
    }
  }
  return nullptr;
}

}  // namespace pgagent
