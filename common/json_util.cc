#include "common/json_util.h"

#include <cstdint>
#include <cstdio>
#include <cstring>

#include "common/utf8.h"

namespace pgagent {
namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";

// True for the bytes AppendJsonString copies as they are.
bool PlainAscii(uint8_t c) { return c >= 0x20 && c < 0x7F && c != '"' && c != '\\'; }

constexpr uint64_t kOnes = 0x0101010101010101ULL;
constexpr uint64_t kHighs = 0x8080808080808080ULL;

// Non-zero when a byte of w is zero (the classic SWAR test; exact in its zero/non-zero
// result, which is all that is used).
constexpr uint64_t HasZeroByte(uint64_t w) { return (w - kOnes) & ~w & kHighs; }

// True when the 8 bytes of w are all PlainAscii.
bool PlainAsciiWord(uint64_t w) {
  const uint64_t below_space = (w - kOnes * 0x20) & ~w & kHighs;  // bytes < 0x20 (w < 0x80)
  return ((w & kHighs) | below_space | HasZeroByte(w ^ (kOnes * '"')) |
          HasZeroByte(w ^ (kOnes * '\\')) | HasZeroByte(w ^ (kOnes * 0x7F))) == 0;
}

// End of the run of PlainAscii bytes starting at i.
size_t PlainRunEnd(std::string_view s, size_t i) {
  for (; i + 8 <= s.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, s.data() + i, 8);
    if (!PlainAsciiWord(w)) break;
  }
  while (i < s.size() && PlainAscii(static_cast<uint8_t>(s[i]))) ++i;
  return i;
}

void AppendEscaped(std::string& out, uint8_t c) {
  switch (c) {
    case '"':
      out += "\\\"";
      break;
    case '\\':
      out += "\\\\";
      break;
    case '\n':
      out += "\\n";
      break;
    case '\r':
      out += "\\r";
      break;
    case '\t':
      out += "\\t";
      break;
    default: {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\u%04x", c);
      out += buf;
    }
  }
}

}  // namespace

void AppendJsonString(std::string& out, std::string_view s) {
  out += '"';
  for (size_t i = 0; i < s.size();) {
    // Copy the run of plain ASCII (nearly all of a log line) in one append.
    const size_t run = PlainRunEnd(s, i);
    if (run > i) {
      out.append(s.data() + i, run - i);
      i = run;
      continue;
    }
    const auto c = static_cast<uint8_t>(s[i]);
    if (c >= 0x80) {
      const size_t n = Utf8SequenceLength(s, i);
      if (n == 0) {
        out += kReplacement;
        ++i;
      } else {
        out.append(s.substr(i, n));
        i += n;
      }
      continue;
    }
    AppendEscaped(out, c);
    ++i;
  }
  out += '"';
}

}  // namespace pgagent
