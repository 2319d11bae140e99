// Compiles a log_line_prefix into a small matcher sequence (literals and typed escape
// fields, no regex) and matches stderr log lines against it: "<prefix>LEVEL:  message".
// Supported escapes: %a %u %d %r %h %b %p %P %m %t %n %i %e %c %l %s %v %x %Q %q %% and
// padding (%-10a, %10p). Unknown escapes print nothing in PostgreSQL and are skipped here.
// Free-text fields (%a %u %d %r %h %b %i) end at the next literal; when that fails later in
// the line, the next occurrence is tried (bounded), so an application_name holding the
// delimiter still parses.
// Thread-safety: immutable after Compile(); Match() may be called concurrently.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace pgagent {

// The values a prefix can carry, by escape.
enum class PrefixField : uint8_t {
  kApplicationName,  // %a
  kUser,             // %u
  kDatabase,         // %d
  kRemoteHostPort,   // %r  host(port) or [local]
  kRemoteHost,       // %h
  kBackendType,      // %b
  kPid,              // %p
  kLeaderPid,        // %P
  kTimestampMs,      // %m  2026-11-27 10:26:01.123 UTC
  kTimestamp,        // %t  2026-11-27 10:26:01 UTC
  kEpoch,            // %n  1795775161.123
  kCommandTag,       // %i
  kSqlstate,         // %e
  kSessionId,        // %c
  kLineNum,          // %l
  kSessionStart,     // %s
  kVxid,             // %v
  kTxid,             // %x
  kQueryId,          // %Q
  kCount,
};

// One stderr line split by a StderrPrefixMatcher. Views point into the matched line.
struct StderrLine {
  std::array<std::string_view, static_cast<size_t>(PrefixField::kCount)> fields{};
  std::array<bool, static_cast<size_t>(PrefixField::kCount)> present{};
  std::string_view level;    // "LOG", "ERROR", "DETAIL", ...
  std::string_view message;  // everything after "LEVEL:  "

  std::string_view Get(PrefixField f) const { return fields[static_cast<size_t>(f)]; }
  bool Has(PrefixField f) const { return present[static_cast<size_t>(f)]; }
};

class StderrPrefixMatcher {
 public:
  // Errors: kInvalidArgument when two free-text escapes follow each other with no literal
  // between them (the split would be a guess).
  static Result<std::unique_ptr<StderrPrefixMatcher>> Compile(std::string_view prefix);

  // True when `line` is "<prefix>LEVEL:  message" with a known level; fills *out.
  bool Match(std::string_view line, StderrLine* out) const;

  // The prefix as compiled, for diagnostics.
  const std::string& prefix() const { return prefix_; }

  enum class TokenKind : uint8_t { kLiteral, kField, kSessionStop };
  struct Token {
    TokenKind kind = TokenKind::kLiteral;
    PrefixField field = PrefixField::kCount;
    int width = 0;        // padding: > 0 right-justified, < 0 left-justified
    std::string literal;  // kLiteral
  };

 private:
  StderrPrefixMatcher() = default;
  bool MatchFrom(std::string_view line, size_t tok, size_t pos, StderrLine* out, int* budget) const;
  bool MatchFreeText(std::string_view line, size_t tok, size_t pos, StderrLine* out,
                     int* budget) const;
  std::string prefix_;
  std::vector<Token> tokens_;
};

// True for the severities PostgreSQL writes in "LEVEL:  " position (incl. DEBUG1..5 and the
// follow-up labels DETAIL, HINT, CONTEXT, STATEMENT, QUERY, LOCATION).
bool IsKnownLogLevel(std::string_view level);
// True for DETAIL, HINT, CONTEXT, STATEMENT, QUERY, LOCATION.
bool IsFollowUpLevel(std::string_view level);

}  // namespace pgagent
