#include "common/utf8.h"

#include <cstdint>
#include <cstring>

namespace pgagent {
namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";

// Offset of the first byte >= 0x80 at or after `i`, or s.size().
size_t SkipAscii(std::string_view s, size_t i) {
  const char* d = s.data();
  for (; i + 8 <= s.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, d + i, 8);
    if ((w & 0x8080808080808080ULL) != 0) break;
  }
  while (i < s.size() && static_cast<unsigned char>(s[i]) < 0x80) ++i;
  return i;
}

}  // namespace

size_t Utf8SequenceLength(std::string_view s, size_t i) {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = b(i);
  if (c < 0x80) return 1;
  const size_t n = s.size() - i;
  auto cont = [&](size_t k) { return (b(k) & 0xC0) == 0x80; };
  if (c >= 0xC2 && c <= 0xDF) return n >= 2 && cont(i + 1) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    if (n < 3 || !cont(i + 1) || !cont(i + 2)) return 0;
    if (c == 0xE0 && b(i + 1) < 0xA0) return 0;  // overlong
    if (c == 0xED && b(i + 1) > 0x9F) return 0;  // surrogates
    return 3;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (n < 4 || !cont(i + 1) || !cont(i + 2) || !cont(i + 3)) return 0;
    if (c == 0xF0 && b(i + 1) < 0x90) return 0;  // overlong
    if (c == 0xF4 && b(i + 1) > 0x8F) return 0;  // > U+10FFFF
    return 4;
  }
  return 0;
}

size_t FirstInvalidUtf8(std::string_view s) {
  for (size_t i = SkipAscii(s, 0); i < s.size(); i = SkipAscii(s, i)) {
    const size_t n = Utf8SequenceLength(s, i);
    if (n == 0) return i;
    i += n;
  }
  return std::string_view::npos;
}

bool SanitizeUtf8(std::string* s) {
  size_t bad = FirstInvalidUtf8(*s);
  if (bad == std::string_view::npos) return false;
  std::string out;
  out.reserve(s->size() + 8);
  out.append(*s, 0, bad);
  const std::string_view in(*s);
  for (size_t i = bad; i < in.size();) {
    const size_t ascii_end = SkipAscii(in, i);
    out.append(in.substr(i, ascii_end - i));
    i = ascii_end;
    if (i == in.size()) break;
    const size_t n = Utf8SequenceLength(in, i);
    if (n == 0) {
      out.append(kReplacement);
      ++i;
    } else {
      out.append(in.substr(i, n));
      i += n;
    }
  }
  s->swap(out);
  return true;
}

size_t Utf8CutPoint(std::string_view s, size_t n) {
  if (n >= s.size()) return n;
  size_t k = n;
  // Back up over continuation bytes (at most 3) to the start of the sequence holding byte n.
  while (k > 0 && n - k < 3 && (static_cast<unsigned char>(s[k]) & 0xC0) == 0x80) --k;
  if ((static_cast<unsigned char>(s[k]) & 0xC0) == 0x80) return n;  // not UTF-8: cut as asked
  return k;
}

}  // namespace pgagent
