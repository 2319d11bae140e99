// Redaction of auto_explain plans ("duration: X ms  plan:\n<plan>" messages) in the four
// auto_explain.log_format formats. The plan's structure and numbers stay (costs, rows,
// widths, actual times, loops, buffers, planning/execution time, memory): they are not data.
// Literals in conditions and output expressions (Filter, Index Cond, Recheck Cond, Hash Cond,
// Merge Cond, Join Filter, One-Time Filter, Output, Sort Key, Group Key, ...) and the whole
// Query Text go through RedactSql.
//  - json: every string VALUE goes through RedactSql (keys and JSON numbers are kept);
//  - yaml: PostgreSQL writes every text value as a JSON string: the same; bare numbers and
//    booleans are kept;
//  - xml: element text goes through RedactSql, except a plain number outside the expression
//    elements (Query-Text, Filter, ..., Output/Item); tags must be PostgreSQL's (no attributes
//    besides the explain namespace);
//  - text: the Query Text (to the first plan line, found at a token boundary), node lines
//    ("... (cost=... rows=... width=...) (actual time=... loops=...)") and known numeric
//    property lines (Buffers, Planning Time, Rows Removed by Filter, ...) keep their numbers
//    (strings and comments in them are still masked); any other line goes through RedactSql.
//    A literal spanning lines is followed by the lexer; a line that does not lex masks the
//    rest of the plan fail-closed.
// Pure function; thread-safe; linear time.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "collectord/logs/log_redact.h"

namespace pgagent {

// Placeholder for a plan that could not be read (sent instead of the plan).
inline constexpr std::string_view kPlanDroppedMarker = "<plan dropped: unreadable format>";

// `plan` is the text after "plan:" (usually starting with '\n'). Returns the redacted plan,
// or nullopt when the format cannot be read (json/yaml/xml that does not parse): the caller
// drops the plan and counts it; the plan is never sent raw.
std::optional<std::string> RedactExplainPlan(std::string_view plan, FieldRedactStats* stats);

}  // namespace pgagent
