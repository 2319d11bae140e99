// libFuzzer target: jsonlog parsing, the input being the file's bytes.
#include <cstddef>
#include <cstdint>

#include "collectord/logs/fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const auto* parser = [] {
    pgagent::LogParserOptions options;
    options.format = pgagent::LogFormat::kJsonlog;
    return pgagent::LogParser::Create(options).value().release();
  }();
  pgagent::fuzz::FeedLines(*parser, std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
