// libFuzzer entry point for CorrelationExtractor with the default patterns and traceparent
// extraction on (built with -DPGAGENT_FUZZ=ON, clang). The input is split at its first NUL
// into application_name and query. Checks: no crash, and any id found has the pattern's shape.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "collectord/sql/correlation.h"

namespace {

const pgagent::CorrelationExtractor& Extractor() {
  static const pgagent::CorrelationExtractor* extractor = [] {
    pgagent::CorrelationOptions options;
    options.extract_traceparent = true;
    auto created = pgagent::CorrelationExtractor::Create(options);
    if (!created.ok()) std::abort();
    return new pgagent::CorrelationExtractor(std::move(created).value());
  }();
  return *extractor;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t split = input.find('\0');
  const std::string_view app = input.substr(0, split);
  const std::string_view query = split == std::string_view::npos ? "" : input.substr(split + 1);
  const pgagent::CorrelationExtractor& x = Extractor();
  if (auto id = x.Extract(app, query); id && id->size() != 36) std::abort();
  if (auto id = x.FromQuery(input); id && id->size() != 36) std::abort();
  if (auto tp = x.TraceparentFromQuery(input); tp && tp->size() != 55) std::abort();
  return 0;
}
