// Internal to collectord/sql: a byte-level scanner for PostgreSQL's lexical syntax, shared by
// RedactSql and RedactSecrets. It finds token boundaries only; it never allocates and never
// reads past the view it was given. Any byte value (NUL, invalid UTF-8) is accepted: bytes
// >= 0x80 count as identifier characters, as in PostgreSQL's scanner.
// Thread-safety: a SqlLexer is an immutable view; const methods are safe concurrently.
// The caller keeps the scanned text alive for the lexer's lifetime.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace pgagent::sql_internal {

enum class TokenKind : uint8_t {
  kSpace,        // run of whitespace
  kComment,      // -- line comment (without its newline) or nested /* block */ comment
  kLiteral,      // 'string', E'..', U&'..', B'..', X'..', N'..', $tag$..$tag$, number
  kParam,        // $1
  kQuotedIdent,  // "identifier" or U&"identifier"
  kWord,         // keyword or identifier
  kOther,        // one byte of operator / punctuation / anything else
  kError,        // unterminated quote, dollar body or block comment
};

struct Token {
  TokenKind kind;
  size_t end;  // one past the token's last byte; for kError the text's size
};

inline constexpr size_t kNpos = std::string_view::npos;

bool IsSpace(unsigned char c);
bool IsIdentStart(unsigned char c);  // letter, '_', byte >= 0x80
bool IsIdentCont(unsigned char c);   // IsIdentStart, digit, '$'
bool IsDigit(unsigned char c);

class SqlLexer {
 public:
  explicit SqlLexer(std::string_view text) : s_(text) {}

  // The token starting at pos. REQUIRES: pos < size().
  Token Next(size_t pos) const;
  size_t size() const { return s_.size(); }

  // The scanners below take the position of the opening quote / '$' and return one past the
  // closing one, or kNpos when the body is unterminated.
  size_t ScanStandardString(size_t pos) const;  // '' doubles a quote; backslash is literal
  size_t ScanEscapeString(size_t pos) const;    // E'': backslash escapes the next byte
  size_t ScanQuotedIdent(size_t pos) const;     // "" doubles a quote
  size_t ScanBlockComment(size_t pos) const;    // nested /* */
  // Returns one past the opening $tag$ when pos starts one, kNpos otherwise.
  size_t ScanDollarTag(size_t pos) const;
  // REQUIRES: [pos, tag_end) is an opening tag from ScanDollarTag.
  size_t ScanDollarBody(size_t pos, size_t tag_end) const;
  size_t ScanNumber(size_t pos) const;  // REQUIRES: a digit or '.' + digit at pos
  size_t ScanWord(size_t pos) const;    // REQUIRES: IsIdentStart(s_[pos])
  size_t SkipSpaces(size_t pos) const;

 private:
  unsigned char At(size_t i) const { return i < s_.size() ? static_cast<unsigned char>(s_[i]) : 0; }
  bool HasAt(size_t i, unsigned char c) const { return i < s_.size() && At(i) == c; }
  Token PrefixedOrWord(size_t pos) const;
  Token Dollar(size_t pos) const;

  std::string_view s_;
};

// MaskFailClosed (redact.h) for a text whose token at `open_at` is known to be unterminated
// (the lexer said so): the masked span then runs to the end of the text whatever the quote
// counts say. open_at == kNpos: plain MaskFailClosed. Defined in mask.cc.
std::string MaskFailClosedOpenAt(std::string_view text, size_t open_at, size_t* masked);

}  // namespace pgagent::sql_internal
