#include "common/ini_configparser.h"

#include <algorithm>
#include <deque>
#include <map>
#include <set>

namespace pgagent {
namespace {

constexpr int kMaxInterpolationDepth = 10;  // configparser.MAX_INTERPOLATION_DEPTH
constexpr std::string_view kWhitespace = " \t\r\n\f\v";

std::string_view Strip(std::string_view s) {
  const size_t b = s.find_first_not_of(kWhitespace);
  if (b == std::string_view::npos) return {};
  return s.substr(b, s.find_last_not_of(kWhitespace) - b + 1);
}

std::string LowerAscii(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

struct Option {
  std::string key;
  std::vector<std::string> lines;
  int line = 0;
};

struct Section {
  std::string name;
  std::vector<Option> options;
  std::map<std::string, size_t> index;  // key -> options[]
};

// The raw (not yet interpolated) file, as configparser's _read() builds it.
class RawReader {
 public:
  explicit RawReader(const std::string& path) : path_(path) {}

  Status Read(std::string_view content) {
    int line_no = 0;
    size_t pos = 0;
    while (pos < content.size()) {
      size_t end = content.find('\n', pos);
      if (end == std::string_view::npos) end = content.size();
      std::string_view line = content.substr(pos, end - pos);
      pos = end + 1;
      if (++line_no == 1 && line.starts_with("\xEF\xBB\xBF")) line.remove_prefix(3);
      PGAGENT_RETURN_IF_ERROR(ReadLine(line, line_no));
    }
    return Status::Ok();
  }

  const std::deque<Section>& sections() const { return sections_; }
  const Section& defaults() const { return defaults_; }

 private:
  Status Error(int line_no, const std::string& what) const {
    return InvalidArgumentError(path_ + ":" + std::to_string(line_no) + ": " + what +
                                " (Python configparser syntax)");
  }

  Status ReadLine(std::string_view line, int line_no) {
    const std::string_view value = Strip(line);
    const bool comment = value.starts_with('#') || value.starts_with(';');
    if (value.empty() || comment) {
      // An empty line belongs to a multi-line value; a comment line is skipped.
      if (!comment && current_ != nullptr && option_ != nullptr) option_->lines.emplace_back();
      return Status::Ok();
    }
    const int indent = static_cast<int>(line.find_first_not_of(kWhitespace));
    if (current_ != nullptr && option_ != nullptr && indent > indent_level_) {
      option_->lines.emplace_back(value);
      return Status::Ok();
    }
    indent_level_ = indent;
    if (value.starts_with('[') && value.find(']', 2) != std::string_view::npos) {
      return StartSection(value.substr(1, value.rfind(']') - 1), line_no);
    }
    if (current_ == nullptr) return Error(line_no, "no [section] header before this line");
    const size_t delimiter = value.find_first_of("=:");
    const std::string key =
        delimiter == std::string_view::npos ? "" : LowerAscii(Strip(value.substr(0, delimiter)));
    if (key.empty()) return Error(line_no, "expected \"key = value\"");
    if (current_->index.contains(key)) {
      return Error(line_no, "[" + current_->name + "] " + key + " is set twice");
    }
    current_->index[key] = current_->options.size();
    current_->options.push_back({key, {std::string(Strip(value.substr(delimiter + 1)))}, line_no});
    option_ = &current_->options.back();
    return Status::Ok();
  }

  Status StartSection(std::string_view name, int line_no) {
    option_ = nullptr;
    if (name == "DEFAULT") {
      current_ = &defaults_;
      return Status::Ok();
    }
    if (!seen_.insert(std::string(name)).second) {
      return Error(line_no, "section [" + std::string(name) + "] appears twice");
    }
    sections_.push_back({std::string(name), {}, {}});
    current_ = &sections_.back();
    return Status::Ok();
  }

  const std::string& path_;
  std::deque<Section> sections_;  // stable addresses for current_
  Section defaults_{"DEFAULT", {}, {}};
  std::set<std::string> seen_;
  Section* current_ = nullptr;
  Option* option_ = nullptr;
  int indent_level_ = 0;
};

// '\n'.join(lines).rstrip(), as _join_multiline_values().
std::string Joined(const std::vector<std::string>& lines) {
  std::string out;
  for (size_t i = 0; i < lines.size(); ++i) out += (i > 0 ? "\n" : "") + lines[i];
  const size_t last = out.find_last_not_of(kWhitespace);
  out.resize(last == std::string::npos ? 0 : last + 1);
  return out;
}

// BasicInterpolation.before_get() of one value.
class Interpolator {
 public:
  Interpolator(const Section& section, const Section& defaults, const std::string& path)
      : section_(section), defaults_(defaults), path_(path) {}

  Result<std::string> Value(const Option& option) const {
    std::string out;
    PGAGENT_RETURN_IF_ERROR(Expand(option, Joined(option.lines), 1, out));
    return out;
  }

 private:
  const Option* Find(const std::string& key) const {
    if (auto it = section_.index.find(key); it != section_.index.end()) {
      return &section_.options[it->second];
    }
    if (auto it = defaults_.index.find(key); it != defaults_.index.end()) {
      return &defaults_.options[it->second];
    }
    return nullptr;
  }

  Status Error(const Option& option, const std::string& what) const {
    return InvalidArgumentError(path_ + ":" + std::to_string(option.line) + ": [" + section_.name +
                                "] " + option.key + ": " + what +
                                " (Python configparser interpolation; write %% for a %)");
  }

  Status Expand(const Option& option, std::string_view rest, int depth, std::string& out) const {
    if (depth > kMaxInterpolationDepth) return Error(option, "%(...)s nested too deeply");
    while (!rest.empty()) {
      const size_t percent = rest.find('%');
      out.append(rest.substr(0, percent));
      if (percent == std::string_view::npos) break;
      rest.remove_prefix(percent);
      if (rest.starts_with("%%")) {
        out += '%';
        rest.remove_prefix(2);
        continue;
      }
      const size_t close = rest.find(")s");
      if (!rest.starts_with("%(") || close == std::string_view::npos || close == 2 ||
          rest.substr(2, close - 2).find(')') != std::string_view::npos) {
        return Error(option, "'%' must be followed by '%' or '(key)s'");
      }
      const std::string key = LowerAscii(rest.substr(2, close - 2));
      rest.remove_prefix(close + 2);
      const Option* ref = Find(key);
      if (ref == nullptr) return Error(option, "%(" + key + ")s names no key of the section");
      PGAGENT_RETURN_IF_ERROR(Expand(option, Joined(ref->lines), depth + 1, out));
    }
    return Status::Ok();
  }

  const Section& section_;
  const Section& defaults_;
  const std::string& path_;
};

}  // namespace

Result<std::vector<IniEntry>> ReadConfigparserIni(std::string_view content,
                                                  const std::string& path) {
  RawReader reader(path);
  PGAGENT_RETURN_IF_ERROR(reader.Read(content));
  std::vector<IniEntry> entries;
  const Section& defaults = reader.defaults();
  for (const Section& section : reader.sections()) {
    const Interpolator interpolator(section, defaults, path);
    for (const Option& option : section.options) {
      PGAGENT_ASSIGN_OR_RETURN(std::string value, interpolator.Value(option));
      entries.push_back({LowerAscii(section.name), option.key, std::move(value), option.line});
    }
    for (const Option& option : defaults.options) {
      if (section.index.contains(option.key)) continue;
      PGAGENT_ASSIGN_OR_RETURN(std::string value, interpolator.Value(option));
      entries.push_back(
          {LowerAscii(section.name), option.key, std::move(value), option.line, true});
    }
  }
  return entries;
}

}  // namespace pgagent
