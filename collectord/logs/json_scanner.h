// A minimal JSON tokenizer over one text: strings (escapes decoded, \uXXXX and surrogate
// pairs to UTF-8, lone surrogates to U+FFFD), scalars (numbers, true/false/null as text) and
// punctuation. Shared by the jsonlog parser (log_records.cc) and the auto_explain json plan
// redactor (explain_redact.cc). Never allocates beyond the decoded strings; any bytes.
// Not thread-safe (a cursor); the text must outlive the scanner.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace pgagent {

class JsonScanner {
 public:
  explicit JsonScanner(std::string_view s) : s_(s) {}

  void SkipWs() {
    while (p_ < s_.size() &&
           (s_[p_] == ' ' || s_[p_] == '\t' || s_[p_] == '\r' || s_[p_] == '\n')) {
      ++p_;
    }
  }
  bool Consume(char c) {
    SkipWs();
    if (p_ < s_.size() && s_[p_] == c) {
      ++p_;
      return true;
    }
    return false;
  }
  bool AtEnd() {
    SkipWs();
    return p_ == s_.size();
  }
  char Peek() {
    SkipWs();
    return p_ < s_.size() ? s_[p_] : '\0';
  }

  // A JSON string into *out (escapes decoded).
  bool String(std::string* out) {
    out->clear();
    if (!Consume('"')) return false;
    while (p_ < s_.size()) {
      size_t run = p_;
      while (run < s_.size() && s_[run] != '"' && s_[run] != '\\') ++run;
      out->append(s_.data() + p_, run - p_);
      p_ = run;
      if (p_ >= s_.size()) return false;
      if (s_[p_] == '"') {
        ++p_;
        return true;
      }
      if (!Escape(out)) return false;
    }
    return false;
  }

  // A number, true, false or null, as its text.
  bool Scalar(std::string_view* out) {
    SkipWs();
    size_t start = p_;
    while (p_ < s_.size() && s_[p_] != ',' && s_[p_] != '}' && s_[p_] != ']' && s_[p_] != ' ' &&
           s_[p_] != '\t' && s_[p_] != '\r' && s_[p_] != '\n') {
      char c = s_[p_];
      bool ok = (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' ||
                c == 'E' || (c >= 'a' && c <= 'z');
      if (!ok) return false;
      ++p_;
    }
    if (p_ == start) return false;
    *out = s_.substr(start, p_ - start);
    return true;
  }

  // Position of the next unread byte (for callers that copy the raw text around tokens).
  size_t pos() const { return p_; }

 private:
  bool Hex4(uint32_t* v) {
    if (s_.size() - p_ < 4) return false;
    uint32_t r = 0;
    for (int i = 0; i < 4; ++i) {
      char c = s_[p_++];
      r <<= 4;
      if (c >= '0' && c <= '9')
        r |= static_cast<uint32_t>(c - '0');
      else if (c >= 'a' && c <= 'f')
        r |= static_cast<uint32_t>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F')
        r |= static_cast<uint32_t>(c - 'A' + 10);
      else
        return false;
    }
    *v = r;
    return true;
  }

  static void AppendUtf8(uint32_t cp, std::string* out) {
    if (cp < 0x80) {
      out->push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }

  bool Escape(std::string* out) {
    ++p_;  // backslash
    if (p_ >= s_.size()) return false;
    char c = s_[p_++];
    switch (c) {
      case '"':
        out->push_back('"');
        return true;
      case '\\':
        out->push_back('\\');
        return true;
      case '/':
        out->push_back('/');
        return true;
      case 'b':
        out->push_back('\b');
        return true;
      case 'f':
        out->push_back('\f');
        return true;
      case 'n':
        out->push_back('\n');
        return true;
      case 'r':
        out->push_back('\r');
        return true;
      case 't':
        out->push_back('\t');
        return true;
      case 'u':
        break;
      default:
        return false;
    }
    uint32_t cp;
    if (!Hex4(&cp)) return false;
    if (cp >= 0xD800 && cp <= 0xDBFF && s_.size() - p_ >= 6 && s_[p_] == '\\' &&
        s_[p_ + 1] == 'u') {
      size_t save = p_;
      p_ += 2;
      uint32_t lo;
      if (Hex4(&lo) && lo >= 0xDC00 && lo <= 0xDFFF) {
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
      } else {
        p_ = save;
        cp = 0xFFFD;
      }
    } else if (cp >= 0xD800 && cp <= 0xDFFF) {
      cp = 0xFFFD;  // lone surrogate
    }
    AppendUtf8(cp, out);
    return true;
  }

  std::string_view s_;
  size_t p_ = 0;
};

}  // namespace pgagent
