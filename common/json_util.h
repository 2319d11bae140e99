// Tiny JSON helpers for code that writes JSON text by hand (log lines, envelopes).
// UTF-8 validation lives in common/utf8.h.
#pragma once

#include <string>
#include <string_view>

#include "common/utf8.h"

namespace pgagent {

// Appends s to out as a JSON string literal (with quotes). Invalid UTF-8 bytes become
// U+FFFD, control characters are escaped. Runs of plain ASCII are found a word at a time.
void AppendJsonString(std::string& out, std::string_view s);

}  // namespace pgagent
