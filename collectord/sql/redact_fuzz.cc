// libFuzzer entry point for RedactSql, MaskFailClosed and RedactSecrets (built with
// -DPGAGENT_FUZZ=ON, clang). Besides "no crash, no sanitizer report" it checks the properties
// the callers rely on: redacted output is a fixed point (nothing left that the redactor would
// still treat as a literal, comment or secret), fail-closed output holds no quote and no
// digit outside a word, and truncated_input never fails.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "collectord/sql/redact.h"

namespace {

void CheckMasked(std::string_view masked) {
  if (masked.find('\'') != std::string_view::npos) std::abort();
  if (masked.find('"') != std::string_view::npos) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  pgagent::RedactStats stats;
  const std::string out = pgagent::RedactSql(input, &stats);
  if (stats.failed) {
    CheckMasked(out);
  } else {
    pgagent::RedactStats again;
    if (pgagent::RedactSql(out, &again) != out || again.failed) std::abort();
  }
  CheckMasked(pgagent::MaskFailClosed(input));
  pgagent::RedactOptions cut_options;
  cut_options.truncated_input = true;
  pgagent::RedactStats cut_stats;
  const std::string cut = pgagent::RedactSql(input, cut_options, &cut_stats);
  if (cut_stats.failed || pgagent::RedactSql(cut, cut_options) != cut) std::abort();
  const std::string secrets = pgagent::RedactSecrets(input);
  if (pgagent::RedactSecrets(secrets) != secrets) std::abort();
  return 0;
}
