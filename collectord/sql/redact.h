// SQL literal redaction. Runs inside collectord before any query text leaves it (activity,
// lock waits, statements, log statements and messages).
// Pure functions; thread-safe; no allocation beyond the returned string; linear time.
// The tokenizer follows PostgreSQL's lexical rules with standard_conforming_strings = on (the
// default since 9.1): in '...' a backslash is an ordinary byte. Text written for
// standard_conforming_strings = off ('it\'s') mostly ends up unterminated, hence the marker.
// Any byte is accepted (NUL, invalid UTF-8); bytes are copied, never decoded.
#pragma once

#include <string>
#include <string_view>

namespace pgagent {

// pgagent's own query tag (collectord/pg/pg_session.h kPgagentQueryTag without its space):
// a fixed comment without data, kept by RedactSql so that the listener can tell pgagent's own
// statements apart.
inline constexpr std::string_view kPgagentTagComment = "/* pgagent */";

struct RedactStats {
  size_t literals = 0;          // literals replaced (fail closed: spans masked)
  size_t comments = 0;          // comments masked
  bool failed = false;          // the lexer rejected the text: it was masked fail-closed
  bool truncated_tail = false;  // RedactOptions::truncated_input: an open token ran to the end
};

struct RedactOptions {
  // Set only for text known to be cut at a length limit (pg_stat_activity.query at
  // track_activity_query_size, a capped log line): an unterminated token that runs to the
  // END of the text is then accepted as cut short - a string / dollar body becomes ?, an
  // open comment or quoted identifier is kept - instead of failing the whole text.
  // Weaker than the default: text written for standard_conforming_strings = off can be
  // mis-tokenized before the cut, so leave it off unless the text was actually truncated.
  bool truncated_input = false;
};

// Replaces literals with placeholders: 'strings', E'strings', U&'strings', $tag$bodies$tag$,
// numbers, B''/X'' bit strings, and IN (...) lists of literals collapse to IN (?).
// Every literal becomes a bare ? (strings too: "name = 'x'" -> "name = ?", "'1'::int" ->
// "?::int"); a sign stays ("-5" -> "-?"). Numbers: 42, 4.2, .5, 1e-3, 1_000, 0x1F/0o7/0b1.
// Digits inside identifiers (t1, col_2) are not numbers.
// IN lists: collapsed when every element is a literal, $n or ? (optionally signed or
// ::type cast) and at least one is a literal; an all-placeholder list (pg_stat_statements'
// "IN ($1, $2)") is kept unchanged, so pgss texts only change where pgss left a literal.
// Comments are masked ("-- x" -> "-- ?", "/* x */" -> "/* ? */": they may hold anything, e.g.
// "/* password=... */"), except a block comment that is exactly the correlation tag
// ("/* correlation:<uuid> */", IsCorrelationTagComment) or pgagent's own tag
// (kPgagentTagComment), which are kept. Correlation ids are
// extracted from the raw text BEFORE redaction, so custom tags need not survive.
// Identifiers, "quoted identifiers", keywords, operators and $1 parameters are kept.
// Unterminated quotes / quoted identifiers / nested comments / dollar bodies make the text
// fail closed: it comes out through MaskFailClosed (stats->failed; stats->literals counts the
// masked spans), except for a cut tail under RedactOptions::truncated_input. Never throws.
std::string RedactSql(std::string_view sql, RedactStats* stats = nullptr);
std::string RedactSql(std::string_view sql, const RedactOptions& options,
                      RedactStats* stats = nullptr);

// Redacts secrets in free text that may quote SQL or connection strings (log messages):
// PASSWORD '...' in CREATE/ALTER ROLE/USER, password=... in connection strings and
// URIs (postgres://user:secret@host). Other text is kept. Case-insensitive.
//   ... PASSWORD 'x'            -> ... PASSWORD ***   (also E'..' and $$..$$ values)
//   host=h password=x user=u    -> host=h password=*** user=u  (also 'quoted', sslpassword=)
//   postgresql://u:x@h/db       -> postgresql://u:***@h/db
// An unterminated quoted value replaces everything from its quote to the end with ***.
// An unquoted connection-string value ends at whitespace (so "pass&word" is masked whole).
// The output is a fixed point: RedactSecrets(RedactSecrets(x)) == RedactSecrets(x).
std::string RedactSecrets(std::string_view text);

// Fail-closed masking for text that could not be understood (SQL the lexer rejects, log
// lines that match no format, fields that did not parse):
//  - everything from the first quote character (' or ", or the first $tag$ of a dollar
//    body, or the value after ")=(" / "contains (" / "JSON data, line N: ") to the last one
//    (or to the end when a quote kind occurs an odd number of times / the dollar body or
//    value is not closed) becomes ONE ?: whatever the text's quoting rules were, every
//    quoted byte is between its first and last quote; where the SQL lexer finds a token
//    that never ends, the span runs from there to the end too;
//  - outside that span: secrets (RedactSecrets), numbers -> ? (digits inside words are
//    kept), comments -> "/* ? */"
//    / "-- ?" (an unclosed one to the end).
// Keeps words and punctuation outside quotes so that the text stays recognisable. Any bytes;
// linear time. *masked (optional) is set to the number of spans and numbers replaced.
std::string MaskFailClosed(std::string_view text, size_t* masked = nullptr);

}  // namespace pgagent
