// Turns a query text read from PostgreSQL into what may leave collectord:
//   1. the correlation id (and traceparent) is extracted from the FULL raw text and the
//      application_name, because a comment may sit anywhere, even past the cut;
//   2. literals are redacted (unless send_raw_query_text), on the full text so that no
//      literal is ever cut in half before redaction;
//   3. the redacted text is truncated at max_length bytes on a UTF-8 boundary.
// PostgreSQL itself cuts pg_stat_activity.query at track_activity_query_size, possibly in
// the middle of a literal, comment or dollar body. When the caller says the text may have
// been cut, the open token at the end is masked (RedactOptions::truncated_input) instead of
// failing the whole text. Utility statements that pg_stat_statements keeps verbatim
// (ALTER ROLE ... PASSWORD '...', CREATE USER MAPPING ... OPTIONS (password '...'),
// dblink_connect('... password=...')) lose their literals like any other statement, and
// comments are masked (except the correlation tag). A text the lexer rejects is masked
// fail-closed (redaction_failed = true), never sent raw.
// Pure function (given a const extractor); thread-safe.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "collectord/sql/correlation.h"

namespace pgagent {

inline constexpr std::string_view kInsufficientPrivilege = "<insufficient privilege>";

struct QueryTextOptions {
  size_t max_length = 4096;          // bytes after redaction; 0 = no limit
  bool send_raw_query_text = false;  // true: skip redaction (config switch)
};

struct ProcessedQuery {
  std::string text;
  bool truncated = false;  // cut by us or (as far as we know) by the server
  bool redaction_failed = false;
  std::optional<std::string> correlation_id;
  std::optional<std::string> traceparent;
};

// `extractor` may be null (no correlation extraction). `maybe_cut_by_server`: the raw text
// reached track_activity_query_size.
ProcessedQuery ProcessQueryText(const CorrelationExtractor* extractor,
                                std::string_view application_name, std::string_view raw,
                                bool maybe_cut_by_server, const QueryTextOptions& options);

// Largest prefix of `text` of at most `max_bytes` bytes that does not end inside a UTF-8
// sequence.
std::string_view Utf8Prefix(std::string_view text, size_t max_bytes);

}  // namespace pgagent
