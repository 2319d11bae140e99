// libFuzzer target: stderr parsing. The first input line is the log_line_prefix, the rest
// are log lines.
#include <cstddef>
#include <cstdint>

#include "collectord/logs/fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  size_t nl = in.find('\n');
  pgagent::LogParserOptions options;
  options.format = pgagent::LogFormat::kStderr;
  options.log_line_prefix = std::string(in.substr(0, nl));
  // A parser per input: skip compiling the correlation regexes (slow under ASan); the csvlog
  // and jsonlog targets cover correlation extraction.
  options.correlation = std::nullopt;
  auto parser = pgagent::LogParser::Create(options);
  if (!parser.ok()) return 0;
  pgagent::fuzz::FeedLines(**parser, nl == std::string_view::npos ? "" : in.substr(nl + 1));
  return 0;
}
