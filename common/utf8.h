// UTF-8 validation and repair: the one implementation in the tree. Runs of ASCII (nearly
// all of a log line) are checked a word (8 bytes) at a time; only bytes >= 0x80 are decoded.
// Valid means RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF. NUL is
// valid UTF-8 (callers that must not carry it remove it themselves).
// Pure functions; thread-safe.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace pgagent {

// Length (1-4) of the valid UTF-8 sequence starting at offset i of s, or 0 when none starts
// there. REQUIRES: i < s.size().
size_t Utf8SequenceLength(std::string_view s, size_t i);

// Offset of the first byte of s that does not start a valid UTF-8 sequence, or npos when s
// is valid UTF-8.
size_t FirstInvalidUtf8(std::string_view s);

// Replaces each invalid UTF-8 sequence in *s with U+FFFD, in place: one pass over valid
// text, which is left untouched (no allocation). Returns true when it replaced any.
bool SanitizeUtf8(std::string* s);

// The largest k <= n such that s[0, k) does not end inside a multi-byte sequence: where
// valid UTF-8 text may be cut and stay valid. k == n when n >= s.size().
size_t Utf8CutPoint(std::string_view s, size_t n);

}  // namespace pgagent
