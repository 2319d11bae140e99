// Correlation ids that the PHP side puts into application_name ("bitville-<uuid>") and into
// SQL comments ("/* correlation:<uuid> */"), plus an optional W3C traceparent from a
// sqlcommenter comment. Extraction runs before redaction (on the raw text).
// Thread-safety: const methods are safe to call concurrently. Copyable value type.
//
// Cost: std::regex is slow and recursive, so a regex never sees the whole text. At Create()
// the longest literal every match must contain is derived from each pattern (outside groups;
// "correlation:" and "bitville-" for the defaults). Matching first looks for that literal
// with a plain substring search (no match: no regex at all), then runs the regex only on a
// window of kWindowBefore bytes before and kWindowAfter bytes after each occurrence (at most
// kMaxOccurrences of them). A match must therefore lie within that window. Patterns without
// a derivable literal (e.g. with '|') are searched in the first kMaxRegexInput bytes only.
// The default comment pattern is matched without a regex (the regex costs ~1 us per
// comment): FromQuery is the one way to match a correlation comment, whatever the pattern.
#pragma once

#include <cstddef>
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
  static constexpr size_t kWindowBefore = 128;
  static constexpr size_t kWindowAfter = 256;
  static constexpr size_t kMaxOccurrences = 16;
  static constexpr size_t kMaxRegexInput = 4096;
  static constexpr size_t kMaxPatternLength = 1024;

  // Errors: kInvalidArgument when a pattern does not compile, has no capture group or is
  // longer than kMaxPatternLength.
  static Result<CorrelationExtractor> Create(const CorrelationOptions& options);

  // Each returns nullopt when there is no match (or the capture group matched empty).
  std::optional<std::string> FromApplicationName(std::string_view application_name) const;
  std::optional<std::string> FromQuery(std::string_view query) const;
  // FromQuery through the regex even for the default pattern (tests compare the two).
  std::optional<std::string> FromQueryByRegexForTest(std::string_view query) const;
  // application_name first, then the query's comment.
  std::optional<std::string> Extract(std::string_view application_name,
                                     std::string_view query) const;
  // The traceparent value, when extract_traceparent is on and one is present inside a
  // /* */ comment as traceparent='...' (sqlcommenter). The value is URL-decoded (%2D -> -)
  // and must be a valid W3C traceparent (version != ff, non-zero lowercase hex ids).
  std::optional<std::string> TraceparentFromQuery(std::string_view query) const;

 private:
  CorrelationExtractor() = default;
  std::regex app_re_;
  std::regex comment_re_;
  std::regex traceparent_re_;
  bool extract_traceparent_ = false;
  std::string app_literal_;      // required literal of the application_name pattern
  std::string comment_literal_;  // required literal of the comment pattern
  bool default_comment_ = false;  // comment_pattern is the default: matched by hand
};

// True when `comment` (a whole /* */ comment token) is exactly one correlation tag of the
// default form and nothing else: the one comment RedactSql keeps (it carries no data).
bool IsCorrelationTagComment(std::string_view comment);

}  // namespace pgagent
