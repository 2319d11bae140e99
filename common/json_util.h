// Tiny JSON helpers for code that writes JSON text by hand (log lines). Records and
// envelopes use protobuf's JSON mapping instead.
#pragma once

#include <string>
#include <string_view>

namespace pgagent {

// Appends s to out as a JSON string literal (with quotes). Invalid UTF-8 bytes become
// U+FFFD, control characters are escaped.
void AppendJsonString(std::string& out, std::string_view s);

// Returns s with every invalid UTF-8 sequence replaced by U+FFFD.
std::string SanitizeUtf8(std::string_view s);

// Offset of the first byte of s that does not start a valid UTF-8 sequence (overlong forms,
// surrogates and code points above U+10FFFF are invalid), or npos when s is valid UTF-8.
size_t FirstInvalidUtf8(std::string_view s);

}  // namespace pgagent
