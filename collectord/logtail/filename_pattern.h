// Matches file names against a PostgreSQL log_filename setting (a strftime pattern such as
// "postgresql-%Y-%m-%d_%H%M%S.log"), so that the tailer can find the files the server
// creates when it rotates. %Y/%m/%d/%H/%M/%S/%y/%j/%e/%u/%w match their digit counts, %s and
// %U/%W/%V/%G/%C/%g runs of digits, %a/%A/%b/%B/%h/%p/%Z/%z runs of letters, %% a '%', and
// any other escape a non-empty run of any characters.
// Thread-safety: immutable after construction; Matches() may be called from any thread.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace pgagent::logtail {

class FilenamePattern {
 public:
  // kInvalidArgument for an empty pattern, a '/' in it, or a dangling '%'.
  static Result<FilenamePattern> Compile(std::string_view pattern);

  bool Matches(std::string_view name) const;
  const std::string& pattern() const { return pattern_; }

 private:
  enum class Kind { kLiteral, kDigits, kLetters, kAny };
  struct Token {
    Kind kind;
    std::string literal;  // kLiteral only
    size_t min = 1;       // kDigits: minimum and maximum run length
    size_t max = 1;
  };
  FilenamePattern() = default;
  bool MatchFrom(size_t token, std::string_view rest) const;

  std::string pattern_;
  std::vector<Token> tokens_;
};

}  // namespace pgagent::logtail
