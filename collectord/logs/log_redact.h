// Redaction of the free-text fields of an ASSEMBLED log entry (message, detail, hint,
// context), each field as a whole, multi-line values included. SQL inside them goes to
// RedactSql (collectord/sql/redact.h); values go to the value masker below; what cannot be
// understood is masked fail-closed and counted.
// Pure functions; thread-safe; linear time in the field's size.
#pragma once

#include <string>
#include <string_view>

namespace pgagent {

// Counts of one field's redaction (added to by each call).
struct FieldRedactStats {
  int fail_closed = 0;  // a part of the field could not be understood and was masked whole
};

// Free text written by PostgreSQL (a message, a HINT, a DETAIL or CONTEXT line without SQL):
//  - secrets (RedactSecrets: PASSWORD '...', password=..., URIs);
//  - "..." after an object noun (relation "t", constraint "c", column "x", user "u", ...)
//    is an identifier and kept; any other "..." is a value ("invalid input syntax for type
//    integer: "x"", "Token "x" is invalid") and masked, up to the text's last '"' (PostgreSQL
//    does not escape quotes inside them);
//  - 'single-quoted' values (parameter lists "$1 = '...'") -> '?';
//  - "at or near "<statement fragment>"" -> at or near "?" (the fragment may hold quotes),
//    unless it is one keyword or identifier (syntax error at or near "FROM");
//  - Key (cols)=(values) / Failing row contains (values) / ...)=(values): values -> ?, up to
//    the last ')' (values are not quoted and may contain parentheses and newlines);
//  - "JSON data, line N: <data>" -> the data to the end of its line is masked;
//  - $tag$ bodies -> ?.
// Numbers and words outside quotes are kept (durations, pids, counts are not data).
// An unclosed quote / value masks to the end of the text and counts as fail-closed.
std::string RedactLogText(std::string_view text, FieldRedactStats* stats);

// DETAIL: "prepare: <sql>" (EXECUTE of a prepared statement) -> RedactSql; a deadlock report
// ("Process 123: <query>" lines, queries possibly multi-line) -> RedactSql per query;
// anything else (key values, failing rows, bind parameters) -> RedactLogText.
std::string RedactLogDetail(std::string_view detail, FieldRedactStats* stats);

// CONTEXT: frames one after another; a frame starting a line with SQL statement "...",
// SQL expression "...", PL/pgSQL expression "..." (the SQL possibly multi-line, ending at a
// '"' that ends a line at a token boundary) -> RedactSql; the text between such frames
// (PL/pgSQL function f() line 3 at ..., portal parameters, COPY lines) -> RedactLogText.
// A frame whose end cannot be found fails closed (MaskFailClosed) to the end of the field.
std::string RedactLogContext(std::string_view context, FieldRedactStats* stats);

// RedactSql for a log field; a text the lexer rejects is masked fail-closed and counted.
// `truncated`: the entry was cut at a length cap (an open literal at the end is accepted).
std::string RedactLogSql(std::string_view sql, bool truncated, FieldRedactStats* stats);

}  // namespace pgagent
