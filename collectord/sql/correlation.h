// Correlation ids that the PHP side puts into application_name ("bitville-<uuid>") and into
// SQL comments ("/* correlation:<uuid> */"), plus an optional W3C traceparent from a
// sqlcommenter comment. Extraction runs before redaction.
// Thread-safety: const methods are safe to call concurrently.
#pragma once

#include <optional>
#include <regex>
#include <string>
#include <string_view>

#include "common/status.h"

namespace pgagent {

struct CorrelationOptions {
  // ECMAScript regexes; capture group 1 is the id. Defaults match the PHP side.
  std::string application_name_pattern = "^bitville-([0-9a-fA-F-]{36})$";
  std::string comment_pattern = R"(/\*\s*correlation:([0-9a-fA-F-]{36})\s*\*/)";
  // sqlcommenter: /* ... traceparent='00-<32 hex>-<16 hex>-<2 hex>' ... */
  bool extract_traceparent = false;
};

class CorrelationExtractor {
 public:
  // Errors: kInvalidArgument when a pattern does not compile or has no capture group.
  static Result<CorrelationExtractor> Create(const CorrelationOptions& options);

  std::optional<std::string> FromApplicationName(std::string_view application_name) const;
  std::optional<std::string> FromQuery(std::string_view query) const;
  // application_name first, then the query's comment.
  std::optional<std::string> Extract(std::string_view application_name, std::string_view query) const;
  // The traceparent value, when extract_traceparent is on and one is present.
  std::optional<std::string> TraceparentFromQuery(std::string_view query) const;

 private:
  CorrelationExtractor() = default;
  std::regex app_re_;
  std::regex comment_re_;
  std::regex traceparent_re_;
  bool extract_traceparent_ = false;
};

}  // namespace pgagent
