// libFuzzer target: syslog parsing (syslog_reassembler.h, then the stderr path). The first
// input line is the log_line_prefix, the rest are lines of a syslog file; seeds in
// fuzz_seeds/syslog (missing, out-of-order, duplicated parts, interleaved pids, bad headers).
#include <cstddef>
#include <cstdint>

#include "collectord/logs/fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  size_t nl = in.find('\n');
  pgagent::LogParserOptions options;
  options.format = pgagent::LogFormat::kSyslog;
  options.log_line_prefix = std::string(in.substr(0, nl));
  options.syslog_sequence_numbers = size % 2 == 0;  // both readings of a lone "[N]"
  options.correlation = std::nullopt;               // as stderr_parser_fuzz: no regex per input
  auto parser = pgagent::LogParser::Create(options);
  if (!parser.ok()) return 0;
  pgagent::fuzz::FeedLines(**parser, nl == std::string_view::npos ? "" : in.substr(nl + 1));
  return 0;
}
