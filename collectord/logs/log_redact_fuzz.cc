// libFuzzer entry point for the log field redactors (built with -DPGAGENT_FUZZ=ON, clang):
// RedactLogText, RedactLogDetail, RedactLogContext and RedactExplainPlan on arbitrary bytes.
// Checks: no crash, no sanitizer report, output linear in the input. (Leaks are checked by
// the property test, tests/collectord/logs/redaction_property_test.cc, which knows where
// the literals are.)
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "collectord/logs/explain_redact.h"
#include "collectord/logs/log_redact.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  pgagent::FieldRedactStats stats;
  const std::string text = pgagent::RedactLogText(input, &stats);
  const std::string detail = pgagent::RedactLogDetail(input, &stats);
  const std::string context = pgagent::RedactLogContext(input, &stats);
  const size_t bound = 2 * input.size() + 1024;  // outputs stay linear in the input
  if (text.size() > bound || detail.size() > bound || context.size() > bound) std::abort();
  const auto plan = pgagent::RedactExplainPlan(input, &stats);
  if (plan && plan->size() > bound) std::abort();
  return 0;
}
