#include "collectord/logtail/filename_pattern.h"

#include <cctype>

namespace pgagent::logtail {
namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsLetter(char c) {
  return std::isalpha(static_cast<unsigned char>(c)) || c == '+' || c == '-';
}

}  // namespace

Result<FilenamePattern> FilenamePattern::Compile(std::string_view pattern) {
  if (pattern.empty()) return InvalidArgumentError("log_filename pattern is empty");
  if (pattern.find('/') != std::string_view::npos) {
    return InvalidArgumentError("log_filename pattern must not contain '/': " +
                                std::string(pattern));
  }
  FilenamePattern out;
  out.pattern_ = std::string(pattern);
  auto add_literal = [&out](char c) {
    if (out.tokens_.empty() || out.tokens_.back().kind != Kind::kLiteral) {
      out.tokens_.push_back(Token{Kind::kLiteral, "", 0, 0});
    }
    out.tokens_.back().literal += c;
  };
  for (size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] != '%') {
      add_literal(pattern[i]);
      continue;
    }
    if (++i == pattern.size()) {
      return InvalidArgumentError("log_filename pattern ends with '%': " + std::string(pattern));
    }
    switch (pattern[i]) {
      case '%':
        add_literal('%');
        break;
      case 'Y':
        out.tokens_.push_back(Token{Kind::kDigits, "", 4, 4});
        break;
      case 'j':
        out.tokens_.push_back(Token{Kind::kDigits, "", 3, 3});
        break;
      case 'y':
      case 'm':
      case 'd':
      case 'H':
      case 'M':
      case 'S':
      case 'I':
        out.tokens_.push_back(Token{Kind::kDigits, "", 2, 2});
        break;
      case 'e':  // space-padded day of month
        out.tokens_.push_back(Token{Kind::kAny, "", 2, 2});
        break;
      case 'u':
      case 'w':
        out.tokens_.push_back(Token{Kind::kDigits, "", 1, 1});
        break;
      case 's':
      case 'U':
      case 'W':
      case 'V':
      case 'G':
      case 'C':
      case 'g':
        out.tokens_.push_back(Token{Kind::kDigits, "", 1, 20});
        break;
      case 'a':
      case 'A':
      case 'b':
      case 'B':
      case 'h':
      case 'p':
      case 'Z':
      case 'z':
        out.tokens_.push_back(Token{Kind::kLetters, "", 1, 64});
        break;
      default:
        out.tokens_.push_back(Token{Kind::kAny, "", 1, 255});
        break;
    }
  }
  return out;
}

bool FilenamePattern::Matches(std::string_view name) const { return MatchFrom(0, name); }

bool FilenamePattern::MatchFrom(size_t index, std::string_view rest) const {
  if (index == tokens_.size()) return rest.empty();
  const Token& token = tokens_[index];
  if (token.kind == Kind::kLiteral) {
    if (rest.substr(0, token.literal.size()) != token.literal) return false;
    return MatchFrom(index + 1, rest.substr(token.literal.size()));
  }
  // Longest run first, then shorter ones (patterns are short: backtracking is cheap).
  size_t run = 0;
  while (run < rest.size() && run < token.max) {
    char c = rest[run];
    bool ok = token.kind == Kind::kAny || (token.kind == Kind::kDigits && IsDigit(c)) ||
              (token.kind == Kind::kLetters && IsLetter(c));
    if (!ok) break;
    ++run;
  }
  for (size_t n = run; n >= token.min && n > 0; --n) {
    if (MatchFrom(index + 1, rest.substr(n))) return true;
  }
  return false;
}

}  // namespace pgagent::logtail
