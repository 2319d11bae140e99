// Shared body of the libFuzzer targets (*_fuzz.cc): feeds the input line by line through a
// LogEntryAssembler and checks that every emitted entry serializes to a message that parses
// back (i.e. holds valid UTF-8). Fuzz builds only (-DPGAGENT_FUZZ=ON); not in the library.
#pragma once

#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "collectord/logs/log_entry_assembler.h"

namespace pgagent::fuzz {

inline void FeedLines(const LogParser& parser, std::string_view text) {
  LogAssemblerOptions options;
  options.max_entry_bytes = 64 << 10;  // small, so that the cut paths are reached
  LogEntryAssembler assembler(parser, options);
  std::vector<AssembledEntry> out;
  uint64_t offset = 0;
  size_t p = 0;
  std::chrono::steady_clock::time_point now{};
  while (p < text.size()) {
    size_t nl = text.find('\n', p);
    if (nl == std::string_view::npos) nl = text.size();
    offset += nl - p + 1;
    bool truncated = !text.substr(p, nl - p).empty() && text[p] == '\x01';
    assembler.Push(LogLine{text.substr(p, nl - p), truncated, offset}, now, &out);
    now += std::chrono::milliseconds(100);
    assembler.FlushIfIdle(now, &out);
    p = nl + 1;
  }
  assembler.Flush(&out);
  uint64_t last = 0;
  for (const AssembledEntry& a : out) {
    std::string bytes;
    pgagent::v1::LogEntry back;
    if (!a.entry.SerializeToString(&bytes) || !back.ParseFromString(bytes)) std::abort();
    if (a.end_offset < last) std::abort();  // offsets must never go backwards
    last = a.end_offset;
  }
}

}  // namespace pgagent::fuzz
