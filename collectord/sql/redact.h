// SQL literal redaction. Runs inside collectord before any query text leaves it (activity,
// lock waits, statements, log statements and messages).
// Pure functions; thread-safe.
#pragma once

#include <string>
#include <string_view>

namespace pgagent {

// Marker that replaces text that could not be tokenized safely (fail closed).
inline constexpr std::string_view kRedactionFailedMarker = "<redaction failed: unparseable sql>";

struct RedactStats {
  size_t literals = 0;   // literals replaced
  bool failed = false;   // the whole text was replaced by kRedactionFailedMarker
};

// Replaces literals with placeholders: 'strings', E'strings', U&'strings', $tag$bodies$tag$,
// numbers, B''/X'' bit strings, and IN (...) lists of literals collapse to IN (?).
// Comments are kept (they carry correlation ids); identifiers, "quoted identifiers",
// keywords, operators and $1 parameters are kept. Unterminated quotes / comments / dollar
// bodies yield kRedactionFailedMarker. Never throws.
std::string RedactSql(std::string_view sql, RedactStats* stats = nullptr);

// Redacts secrets in free text that may quote SQL or connection strings (log messages):
// PASSWORD '...' in CREATE/ALTER ROLE/USER, password=... in connection strings and
// URIs (postgres://user:secret@host). Other text is kept.
std::string RedactSecrets(std::string_view text);

}  // namespace pgagent
