// LoadConfig(): read the INI file, map its lines, parse it with libinih, apply the
// environment, resolve secrets, validate. The rules are documented in common/config.h.
#include <fcntl.h>
#include <ini.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <regex>
#include <set>
#include <utility>

#include "common/config.h"
#include "common/config_keys.h"
#include "common/ini_configparser.h"
#include "common/json_util.h"

namespace pgagent {
namespace {

using config_internal::FieldPtr;
using config_internal::KeySpec;
using config_internal::Lower;
using config_internal::Quote;
using config_internal::StringCheck;

// libinih (Debian's build) reads lines into a 200-byte buffer and silently splits longer
// ones; we refuse them instead.
constexpr size_t kMaxLineChars = 198;
constexpr off_t kMaxConfigBytes = 1 << 20;
constexpr off_t kMaxSecretBytes = 64 << 10;
constexpr size_t kMaxEchoedChars = 60;

enum class Source { kDefault, kIni, kEnv, kFile };

// Where a value came from, as put in front of a message: "path:12", "environment variable X".
struct Origin {
  Source source = Source::kDefault;
  std::string where;
};

// One INI file of the load (the Python agent's, then pgagent's) and how it is read.
struct IniFile {
  std::string path;
  bool configparser = false;  // Python configparser's rules, not libinih's
  std::string why;            // why this syntax, for the warnings
  std::string content;
  mode_t mode = 0;
  std::vector<IniEntry> entries;
};

using SectionKey = std::pair<std::string, std::string>;

std::string_view TrimView(std::string_view s) {
  const char* ws = " \t\r\n\f\v";
  const size_t b = s.find_first_not_of(ws);
  if (b == std::string_view::npos) return {};
  return s.substr(b, s.find_last_not_of(ws) - b + 1);
}

// A non-secret value for a message: quoted, and shortened when long.
std::string Echo(std::string_view value) {
  if (value.size() <= kMaxEchoedChars) return Quote(value);
  return Quote(value.substr(0, kMaxEchoedChars)) + "...";
}

std::string ModeText(mode_t mode) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

bool ReadableByOthers(mode_t mode) { return (mode & (S_IRGRP | S_IROTH)) != 0; }

bool HasControlChars(std::string_view s) {
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f) return true;
  }
  return false;
}

// Mirrors libinih's find_chars_or_comment(): the first char of `chars`, or the start of an
// inline comment (';' after whitespace), or the end.
size_t FindCharsOrComment(std::string_view s, std::string_view chars) {
  bool was_space = false;
  for (size_t i = 0; i < s.size(); ++i) {
    if (chars.find(s[i]) != std::string_view::npos) return i;
    if (was_space && s[i] == ';') return i;
    was_space = std::isspace(static_cast<unsigned char>(s[i])) != 0;
  }
  return s.size();
}

// Line numbers of every (section, key) occurrence, in file order, following libinih's
// grammar (libinih itself does not report them in Debian's build). Also refuses lines
// libinih would split or cut.
class LineMap {
 public:
  Status Scan(std::string_view content, const std::string& path) {
    std::string section;
    std::string prev_key;
    int line_no = 0;
    size_t pos = 0;
    while (pos < content.size()) {
      size_t end = content.find('\n', pos);
      if (end == std::string_view::npos) end = content.size();
      std::string_view line = content.substr(pos, end - pos);
      pos = end + 1;
      ++line_no;
      if (line_no == 1 && line.starts_with("\xEF\xBB\xBF")) line.remove_prefix(3);
      std::string_view content_part = line;
      if (content_part.ends_with('\r')) content_part.remove_suffix(1);
      if (content_part.size() > kMaxLineChars) {
        return InvalidArgumentError(path + ":" + std::to_string(line_no) +
                                    ": line is longer than " + std::to_string(kMaxLineChars) +
                                    " characters");
      }
      ScanLine(line, line_no, section, prev_key);
    }
    return Status::Ok();
  }

  // Line of the n-th (0-based) occurrence of section/key, 0 when unknown.
  int LineOf(const SectionKey& sk, size_t n) const {
    auto it = lines_.find(sk);
    if (it == lines_.end() || n >= it->second.size()) return 0;
    return it->second[n];
  }

 private:
  void ScanLine(std::string_view line, int line_no, std::string& section, std::string& prev_key) {
    std::string_view start = TrimView(line);
    if (start.empty() || start[0] == ';' || start[0] == '#') return;
    if (!prev_key.empty() && std::isspace(static_cast<unsigned char>(line[0]))) {
      lines_[{section, prev_key}].push_back(line_no);  // continuation of the previous key
      return;
    }
    if (start[0] == '[') {
      const size_t close = FindCharsOrComment(start.substr(1), "]");
      if (close < start.size() - 1 && start[1 + close] == ']') {
        section = Lower(start.substr(1, close));
        prev_key.clear();
      }
      return;
    }
    const size_t eq = FindCharsOrComment(start, "=:");
    if (eq < start.size() && (start[eq] == '=' || start[eq] == ':')) {
      prev_key = Lower(TrimView(start.substr(0, eq)));
      lines_[{section, prev_key}].push_back(line_no);
    }
  }

  std::map<SectionKey, std::vector<int>> lines_;
};

class Loader {
 public:
  Loader(const ConfigFiles& files, const Environment& env, const ConfigRequirements& requirements)
      : path_(files.path),
        python_agent_path_(files.python_agent_path),
        env_(env),
        requirements_(requirements) {}

  Result<LoadedConfig> Run() {
    PGAGENT_RETURN_IF_ERROR(LoadFiles());
    PGAGENT_RETURN_IF_ERROR(ApplyEnv());
    PGAGENT_RETURN_IF_ERROR(ResolveSecret(Spec("database", "password"),
                                          Spec("database", "password_file"), "db_password"));
    PGAGENT_RETURN_IF_ERROR(
        ResolveSecret(Spec("listener", "api_key"), Spec("listener", "api_key_file"), "api_key"));
    PGAGENT_RETURN_IF_ERROR(CheckStrings());
    PGAGENT_RETURN_IF_ERROR(CheckPlaceholders());
    PGAGENT_RETURN_IF_ERROR(CheckListener());
    PGAGENT_RETURN_IF_ERROR(CheckCrossKeys());
    RaiseStatementTimeout();
    return LoadedConfig{std::move(config_), path_, std::move(warnings_)};
  }

  // The INI handler of libinih. Returns 1 (continue).
  static int OnIniValue(void* user, const char* section, const char* name, const char* value) {
    auto* entries = static_cast<std::vector<IniEntry>*>(user);
    entries->push_back({Lower(section), Lower(name), value, 0});
    return 1;
  }

 private:
  static const KeySpec& Spec(std::string_view section, std::string_view key) {
    const KeySpec* spec = config_internal::FindKeySpec(section, key);
    if (spec == nullptr) std::abort();  // a key named in this file is missing from the table
    return *spec;
  }

  const Origin& OriginOf(const KeySpec& spec) {
    auto it = origins_.find(&spec);
    if (it != origins_.end()) return it->second;
    return origins_[&spec] = Origin{Source::kDefault, path_};
  }

  static std::string KeyName(const KeySpec& spec) {
    return "[" + std::string(spec.section) + "] " + std::string(spec.key);
  }

  // "<where>: [section] key: <problem>"
  Status Invalid(const KeySpec& spec, std::string_view problem) {
    return InvalidArgumentError(OriginOf(spec).where + ": " + KeyName(spec) + ": " +
                                std::string(problem));
  }

  Status LoadFiles();
  Status ReadConfigFile(IniFile& file);
  void ChooseSyntax(IniFile& file);
  Status ParseIni(IniFile& file);
  Result<std::vector<IniEntry>> ReadWithInih(const IniFile& file);
  void WarnWhereReadingsDiffer(const IniFile& file, const std::vector<IniEntry>& other);
  Status ApplyIni(const IniFile& file);
  Status ApplyEnv();
  Status SetValue(const KeySpec& spec, std::string_view text, Origin origin);
  Status SetInt(const KeySpec& spec, std::string_view text, int64_t* field);
  Status SetDouble(const KeySpec& spec, std::string_view text, double* field);
  Status SetBool(const KeySpec& spec, std::string_view text, bool* field);
  Status SetString(const KeySpec& spec, std::string_view text, std::string* field);
  Status ResolveSecret(const KeySpec& value_spec, const KeySpec& file_spec,
                       std::string_view credential);
  Result<std::string> ReadSecretFile(const std::string& file, const std::string& context);
  Status CheckStrings();
  Status CheckUtf8(const KeySpec& spec, const std::string& value);
  Status CheckString(const KeySpec& spec, const std::string& value);
  Status CheckPlaceholders();
  Status CheckListener();
  Status CheckBudgetFits();
  Status CheckUrl(const KeySpec& spec, const std::string& url);
  Status CheckCrossKeys();
  Status CheckBufferFitsLargestRecord();
  Status RequireNotGreater(const KeySpec& a, int64_t va, const KeySpec& b, int64_t vb,
                           std::string_view why);
  void RaiseStatementTimeout();

  const std::string path_;
  const std::string python_agent_path_;
  const Environment& env_;
  const ConfigRequirements requirements_;
  Config config_;
  std::map<const KeySpec*, Origin> origins_;
  std::vector<std::string> warnings_;
  // Secrets written in the INI file, by where they are, even when overridden.
  std::map<const KeySpec*, std::string> ini_secrets_;
};

// The Python agent's file (when given and present) under pgagent's, each read by its syntax.
// A missing pgagent file is accepted when the settings are elsewhere: in the environment (the
// Python agent started from BITVILLE_PG_* variables alone) or in the Python agent's file.
Status Loader::LoadFiles() {
  std::vector<IniFile> files;
  struct stat st {};
  if (!python_agent_path_.empty() && ::stat(python_agent_path_.c_str(), &st) == 0) {
    files.push_back({python_agent_path_, true, "it is the Python agent's file", {}, 0, {}});
  }
  const bool settings_in_env = EnvironmentCarriesSettings(env_);
  const bool elsewhere = settings_in_env || !files.empty();
  if (path_.empty() || (::stat(path_.c_str(), &st) != 0 && errno == ENOENT && elsewhere)) {
    if (!elsewhere) {
      return InvalidArgumentError(
          "no config file: pass --config PATH or PATH, or set BITVILLE_PG_CONFIG_PATH");
    }
    warnings_.push_back((path_.empty() ? std::string("no config file") : path_ + ": not found") +
                        "; the settings come from " +
                        (files.empty() ? "" : files.front().path + ", ") +
                        "the BITVILLE_PG_* environment variables and the defaults");
  } else {
    files.push_back({path_, false, "", {}, 0, {}});
  }
  for (IniFile& file : files) {
    PGAGENT_RETURN_IF_ERROR(ReadConfigFile(file));
    PGAGENT_RETURN_IF_ERROR(ParseIni(file));
    PGAGENT_RETURN_IF_ERROR(ApplyIni(file));
  }
  return Status::Ok();
}

Status Loader::ReadConfigFile(IniFile& file) {
  const std::string& path = file.path;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(path + ": cannot read config file", errno);
  struct stat st {};
  Status status;
  if (::fstat(fd, &st) != 0) {
    status = ErrnoStatus(path + ": cannot stat config file", errno);
  } else if (!S_ISREG(st.st_mode)) {
    status = InvalidArgumentError(path + ": config file is not a regular file");
  } else if (st.st_size > kMaxConfigBytes) {
    status = InvalidArgumentError(path + ": config file is larger than 1 MiB");
  } else {
    file.mode = st.st_mode;
    std::string& content = file.content;
    content.resize(static_cast<size_t>(st.st_size));
    size_t done = 0;
    while (done < content.size()) {
      const ssize_t n = ::read(fd, content.data() + done, content.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        status = ErrnoStatus(path + ": cannot read config file", errno);
        break;
      }
      if (n == 0) break;
      done += static_cast<size_t>(n);
    }
    content.resize(done);
  }
  ::close(fd);
  return status;
}

// The value of [agent] ini_syntax in `entries`, "" when unset.
std::string IniSyntaxKey(const std::vector<IniEntry>& entries) {
  for (const IniEntry& e : entries) {
    if (e.section == "agent" && e.key == "ini_syntax") return Lower(TrimView(e.value));
  }
  return "";
}

// Python configparser's rules for the Python agent's file, for files in /etc/bitville/ (where
// it kept them), or when [agent] ini_syntax (in the file, or its environment variable) says so.
void Loader::ChooseSyntax(IniFile& file) {
  if (file.configparser) return;
  auto env = env_.find("BITVILLE_PG_AGENT_INI_SYNTAX");
  std::string syntax = env != env_.end() ? Lower(TrimView(env->second)) : "";
  std::string why = "BITVILLE_PG_AGENT_INI_SYNTAX = " + syntax;
  if (syntax.empty() || syntax == "auto") {
    auto inih = ReadWithInih(file);
    if (inih.ok()) syntax = IniSyntaxKey(*inih);
    if (!inih.ok() || syntax.empty()) {
      auto python = ReadConfigparserIni(file.content, file.path);
      if (python.ok()) syntax = IniSyntaxKey(*python);
    }
    why = "[agent] ini_syntax = " + syntax;
  }
  if (syntax == "configparser") {
    file.configparser = true;
    file.why = why;
  } else if ((syntax.empty() || syntax == "auto") && file.path.starts_with("/etc/bitville/")) {
    file.configparser = true;
    file.why = "it is in /etc/bitville/, where the Python agent kept its files";
  }
}

Result<std::vector<IniEntry>> Loader::ReadWithInih(const IniFile& file) {
  const std::string& content = file.content;
  const std::string& path = file.path;
  const size_t nul = content.find('\0');
  if (nul != std::string::npos) {
    const auto line = 1 + std::count(content.begin(), content.begin() + nul, '\n');
    return InvalidArgumentError(path + ":" + std::to_string(line) + ": contains a NUL byte");
  }
  LineMap line_map;
  PGAGENT_RETURN_IF_ERROR(line_map.Scan(content, path));
  std::vector<IniEntry> entries;
  const int rc = ini_parse_string(content.c_str(), &Loader::OnIniValue, &entries);
  if (rc > 0) {
    return InvalidArgumentError(path + ":" + std::to_string(rc) +
                                ": syntax error: expected \"[section]\" or \"key = value\"");
  }
  if (rc != 0) return InternalError(path + ": libinih failed with code " + std::to_string(rc));
  std::map<SectionKey, size_t> seen;
  for (IniEntry& entry : entries) {
    const SectionKey sk{entry.section, entry.key};
    entry.line = line_map.LineOf(sk, seen[sk]++);
  }
  return entries;
}

Status Loader::ParseIni(IniFile& file) {
  ChooseSyntax(file);
  if (file.configparser) {
    if (file.content.find('\0') != std::string::npos) {
      return InvalidArgumentError(file.path + ": contains a NUL byte");
    }
    PGAGENT_ASSIGN_OR_RETURN(file.entries, ReadConfigparserIni(file.content, file.path));
    auto inih = ReadWithInih(file);
    if (inih.ok()) WarnWhereReadingsDiffer(file, *inih);
  } else {
    PGAGENT_ASSIGN_OR_RETURN(file.entries, ReadWithInih(file));
    auto python = ReadConfigparserIni(file.content, file.path);
    if (python.ok()) WarnWhereReadingsDiffer(file, *python);
  }
  return Status::Ok();
}

// One warning per key the two syntaxes read differently (never with the values: they may be
// secrets), e.g. "pa%%ss ;word": configparser reads "pa%ss ;word", libinih "pa%%ss".
void Loader::WarnWhereReadingsDiffer(const IniFile& file, const std::vector<IniEntry>& other) {
  std::map<SectionKey, const IniEntry*> theirs;
  for (const IniEntry& e : other) theirs.emplace(SectionKey{e.section, e.key}, &e);
  std::set<SectionKey> warned;
  const std::string how =
      file.configparser
          ? "; read with Python configparser's rules, because " + file.why
          : "; read with pgagent's syntax (set [agent] ini_syntax = configparser if the file "
            "was written for the Python agent)";
  auto warn = [&](const IniEntry& e) {
    // Only settings: an unknown key has its own warning, whichever syntax reads it.
    if (config_internal::FindKeySpec(e.section, e.key) == nullptr) return;
    if (!warned.insert({e.section, e.key}).second) return;
    warnings_.push_back(file.path + ":" + std::to_string(e.line) + ": [" + e.section + "] " +
                        e.key +
                        ": pgagent's INI syntax and Python's configparser read this value "
                        "differently (inline \" ;\" comment, %%, indented continuation line or "
                        "[DEFAULT])" +
                        how);
  };
  for (const IniEntry& e : file.entries) {
    auto it = theirs.find({e.section, e.key});
    if (it == theirs.end() || it->second->value != e.value) warn(e);
  }
  std::set<SectionKey> ours;
  for (const IniEntry& e : file.entries) ours.insert({e.section, e.key});
  for (const IniEntry& e : other) {
    if (!ours.contains({e.section, e.key})) warn(e);
  }
}

Status Loader::ApplyIni(const IniFile& file) {
  std::set<std::string> known_sections;
  for (const KeySpec& spec : config_internal::AllKeySpecs()) known_sections.emplace(spec.section);
  std::set<std::string> warned_sections;
  bool holds_secret = false;
  for (const IniEntry& entry : file.entries) {
    const std::string where = file.path + ":" + std::to_string(entry.line);
    if (entry.section.empty()) {
      warnings_.push_back(where + ": key " + Echo(entry.key) + " outside any section ignored");
      continue;
    }
    if (!known_sections.contains(entry.section)) {
      if (warned_sections.insert(entry.section).second) {
        warnings_.push_back(where + ": unknown section [" + entry.section + "] ignored");
      }
      continue;
    }
    const KeySpec* spec = config_internal::FindKeySpec(entry.section, entry.key);
    if (spec == nullptr) {
      if (!entry.from_default) {
        warnings_.push_back(where + ": unknown key [" + entry.section + "] " + entry.key +
                            " ignored");
      }
      continue;
    }
    auto previous = origins_.find(spec);
    if (previous != origins_.end() && previous->second.source == Source::kIni) {
      if (previous->second.where.starts_with(file.path + ":")) {
        return InvalidArgumentError(where + ": " + KeyName(*spec) + ": set again (first at " +
                                    previous->second.where +
                                    "; an indented line continues the previous key)");
      }
      warnings_.push_back(where + ": " + KeyName(*spec) + ": overrides " + previous->second.where);
    }
    if (spec->secret && !entry.value.empty()) {
      ini_secrets_[spec] = where;
      holds_secret = true;
    }
    PGAGENT_RETURN_IF_ERROR(SetValue(*spec, entry.value, Origin{Source::kIni, where}));
  }
  if (holds_secret && ReadableByOthers(file.mode)) {
    warnings_.push_back(file.path + ": holds a secret and is readable by group or others (mode " +
                        ModeText(file.mode) +
                        "); move it to password_file / api_key_file or a systemd credential, "
                        "or chmod 600 the file");
  }
  return Status::Ok();
}

Status Loader::ApplyEnv() {
  auto lookup = [&](std::string_view name) -> const std::string* {
    if (name.empty()) return nullptr;
    auto it = env_.find(name);
    return it == env_.end() || it->second.empty() ? nullptr : &it->second;
  };
  std::set<std::string, std::less<>> known = {"BITVILLE_PG_CONFIG_PATH"};
  for (const KeySpec& spec : config_internal::AllKeySpecs()) {
    const std::string canonical = config_internal::CanonicalEnvName(spec);
    const std::string legacy(spec.legacy_env);
    known.insert(canonical);
    if (!legacy.empty()) known.insert(legacy);
    const std::string* canonical_value = lookup(canonical);
    const std::string* legacy_value = legacy == canonical ? nullptr : lookup(legacy);
    if (canonical_value != nullptr && legacy_value != nullptr) {
      warnings_.push_back("environment variable " + legacy + " ignored: " + canonical +
                          " is set too and wins");
    }
    const std::string* value = canonical_value != nullptr ? canonical_value : legacy_value;
    if (value == nullptr) continue;
    const std::string& name = canonical_value != nullptr ? canonical : legacy;
    PGAGENT_RETURN_IF_ERROR(
        SetValue(spec, TrimView(*value), Origin{Source::kEnv, "environment variable " + name}));
  }
  for (const auto& [name, value] : env_) {
    if (name.starts_with("BITVILLE_PG_") && !known.contains(name)) {
      warnings_.push_back("environment variable " + name + " is not a pgagent setting (ignored)");
    }
  }
  return Status::Ok();
}

Status Loader::SetValue(const KeySpec& spec, std::string_view text, Origin origin) {
  origins_[&spec] = std::move(origin);
  FieldPtr field = config_internal::Field(config_, spec);
  if (auto* i = std::get_if<int64_t*>(&field)) return SetInt(spec, text, *i);
  if (auto* d = std::get_if<double*>(&field)) return SetDouble(spec, text, *d);
  if (auto* b = std::get_if<bool*>(&field)) return SetBool(spec, text, *b);
  return SetString(spec, text, std::get<std::string*>(field));
}

// "1..65535", ">= 0", "0.01..100.0": the accepted range, for messages.
std::string RangeText(const KeySpec& spec, bool is_double) {
  if (is_double) {
    return config_internal::FormatDouble(spec.min_double) + ".." +
           config_internal::FormatDouble(spec.max_double);
  }
  if (spec.max_int == INT64_MAX) return ">= " + std::to_string(spec.min_int);
  return std::to_string(spec.min_int) + ".." + std::to_string(spec.max_int);
}

Status Loader::SetInt(const KeySpec& spec, std::string_view text, int64_t* field) {
  const std::string hint = RangeText(spec, false);
  std::string_view digits = text.starts_with('+') ? text.substr(1) : text;
  int64_t v = 0;
  const auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
  if (ec == std::errc::result_out_of_range) {
    return Invalid(spec, Echo(text) + " is out of range (" + hint + ")");
  }
  if (digits.empty() || ec != std::errc() || ptr != digits.data() + digits.size()) {
    return Invalid(spec, Echo(text) + " is not a number (" + hint + ")");
  }
  if (v < spec.min_int || v > spec.max_int) {
    return Invalid(spec, std::to_string(v) + " is out of range (" + hint + ")");
  }
  *field = v;
  return Status::Ok();
}

Status Loader::SetDouble(const KeySpec& spec, std::string_view text, double* field) {
  const std::string hint = RangeText(spec, true);
  double v = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size() || !std::isfinite(v)) {
    return Invalid(spec, Echo(text) + " is not a number (" + hint + ")");
  }
  if (v < spec.min_double || v > spec.max_double) {
    return Invalid(spec, Echo(text) + " is out of range (" + hint + ")");
  }
  *field = v;
  return Status::Ok();
}

// The words Python's configparser accepts in getboolean().
Status Loader::SetBool(const KeySpec& spec, std::string_view text, bool* field) {
  const std::string word = Lower(text);
  if (word == "1" || word == "yes" || word == "true" || word == "on") {
    *field = true;
  } else if (word == "0" || word == "no" || word == "false" || word == "off") {
    *field = false;
  } else {
    return Invalid(spec, Echo(text) + " is not a boolean (true/false, yes/no, on/off, 1/0)");
  }
  return Status::Ok();
}

Status Loader::SetString(const KeySpec& spec, std::string_view text, std::string* field) {
  if (spec.check == StringCheck::kQuotable && text.size() >= 2 && text.starts_with('"') &&
      text.ends_with('"')) {
    text = text.substr(1, text.size() - 2);
  }
  if (spec.choices.empty()) {
    *field = std::string(text);
    return Status::Ok();
  }
  const std::string word = Lower(text);
  std::string_view choices = spec.choices;
  while (!choices.empty()) {
    const size_t bar = choices.find('|');
    if (choices.substr(0, bar) == word) {
      *field = word;
      return Status::Ok();
    }
    choices = bar == std::string_view::npos ? std::string_view() : choices.substr(bar + 1);
  }
  return Invalid(spec, Echo(text) + " is not one of " + std::string(spec.choices));
}

Status Loader::ResolveSecret(const KeySpec& value_spec, const KeySpec& file_spec,
                             std::string_view credential) {
  std::string* value = std::get<std::string*>(config_internal::Field(config_, value_spec));
  const std::string& file = *std::get<std::string*>(config_internal::Field(config_, file_spec));
  const Source value_source = OriginOf(value_spec).source;
  std::string credential_path;
  auto dir = env_.find("CREDENTIALS_DIRECTORY");
  if (dir != env_.end() && !dir->second.empty()) {
    const std::string candidate = dir->second + "/" + std::string(credential);
    struct stat st {};
    if (::stat(candidate.c_str(), &st) == 0) credential_path = candidate;
  }
  // Sources present, best first (see common/config.h).
  std::vector<std::string> present;
  if (value_source == Source::kEnv && !value->empty())
    present.push_back(OriginOf(value_spec).where);
  if (!credential_path.empty()) present.push_back("systemd credential " + credential_path);
  if (!file.empty()) present.push_back(KeyName(file_spec) + " " + file);
  auto in_ini = ini_secrets_.find(&value_spec);
  if (in_ini != ini_secrets_.end()) present.push_back(in_ini->second);
  if (present.size() > 1) {
    std::string ignored;
    for (size_t i = 1; i < present.size(); ++i) ignored += (i > 1 ? ", " : "") + present[i];
    warnings_.push_back(KeyName(value_spec) + ": taken from " + present[0] + "; also set by " +
                        ignored + " (ignored)");
  }
  if (value_source == Source::kEnv && !value->empty()) return Status::Ok();
  if (!credential_path.empty()) {
    PGAGENT_ASSIGN_OR_RETURN(
        *value, ReadSecretFile(credential_path, "systemd credential " + credential_path));
    origins_[&value_spec] = Origin{Source::kFile, "systemd credential " + credential_path};
  } else if (!file.empty()) {
    PGAGENT_ASSIGN_OR_RETURN(*value, ReadSecretFile(file, OriginOf(file_spec).where + ": " +
                                                              KeyName(file_spec) + " " + file));
    origins_[&value_spec] = Origin{Source::kFile, file + " (" + KeyName(file_spec) + ")"};
  }
  return Status::Ok();
}

Result<std::string> Loader::ReadSecretFile(const std::string& file, const std::string& context) {
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return InvalidArgumentError(context + ": cannot read: " + std::strerror(errno));
  struct stat st {};
  std::string data;
  Status status;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    status = InvalidArgumentError(context + ": not a regular file");
  } else if (st.st_size > kMaxSecretBytes) {
    status = InvalidArgumentError(context + ": larger than 64 KiB");
  } else {
    data.resize(static_cast<size_t>(st.st_size));
    const ssize_t n = ::read(fd, data.data(), data.size());
    if (n < 0) status = InvalidArgumentError(context + ": cannot read: " + std::strerror(errno));
    data.resize(n < 0 ? 0 : static_cast<size_t>(n));
  }
  ::close(fd);
  PGAGENT_RETURN_IF_ERROR(status);
  while (!data.empty() && (data.back() == '\n' || data.back() == '\r')) data.pop_back();
  if (data.empty()) return InvalidArgumentError(context + ": is empty");
  if (ReadableByOthers(st.st_mode)) {
    warnings_.push_back(file + ": holds a secret and is readable by group or others (mode " +
                        ModeText(st.st_mode) + "); chmod 600 it");
  }
  return data;
}

Status Loader::CheckStrings() {
  for (const KeySpec& spec : config_internal::AllKeySpecs()) {
    FieldPtr field = config_internal::Field(config_, spec);
    if (auto* s = std::get_if<std::string*>(&field)) {
      PGAGENT_RETURN_IF_ERROR(CheckUtf8(spec, **s));
      PGAGENT_RETURN_IF_ERROR(CheckString(spec, **s));
    }
  }
  return Status::Ok();
}

// Every string goes into protobuf string fields (records, IPC frames) or log lines, which
// require UTF-8: a bad byte would fail every frame later, so it is refused here. The value
// is not echoed (it may be a secret, and it would not print).
Status Loader::CheckUtf8(const KeySpec& spec, const std::string& value) {
  const size_t bad = FirstInvalidUtf8(value);
  if (bad == std::string::npos) return Status::Ok();
  return Invalid(spec, "is not valid UTF-8 (byte " + std::to_string(bad + 1) + " of " +
                           std::to_string(value.size()) + "); write the value in UTF-8");
}

size_t Utf8Length(std::string_view s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

Status Loader::CheckString(const KeySpec& spec, const std::string& value) {
  switch (spec.check) {
    case StringCheck::kNone:
      return Status::Ok();
    case StringCheck::kNonEmpty:
      if (value.empty()) return Invalid(spec, "must not be empty");
      break;
    case StringCheck::kAbsolutePath:
      if (!value.starts_with('/')) return Invalid(spec, Echo(value) + " is not an absolute path");
      break;
    case StringCheck::kOptionalAbsolutePath:
      if (!value.empty() && !value.starts_with('/')) {
        return Invalid(spec, Echo(value) + " is not an absolute path");
      }
      break;
    case StringCheck::kLogPath:
      if (Lower(value) == "auto") {
        *std::get<std::string*>(config_internal::Field(config_, spec)) = "auto";
      } else if (!value.starts_with('/')) {
        return Invalid(spec, Echo(value) + " is neither \"auto\" nor an absolute path");
      }
      break;
    case StringCheck::kUrl:
      break;  // CheckListener(), which also knows allow_plain_http
    case StringCheck::kProjectId:
      if (value.empty() || Utf8Length(value) > 50) {
        return Invalid(spec, "must be 1..50 characters, not " + std::to_string(Utf8Length(value)));
      }
      break;
    case StringCheck::kApplicationName:
      if (value.empty() || value.size() > 63) return Invalid(spec, "must be 1..63 characters");
      for (unsigned char c : value) {
        if (c < 0x20 || c > 0x7e) return Invalid(spec, "must be printable ASCII");
      }
      break;
    case StringCheck::kRegexWithGroup:
      try {
        if (std::regex(value, std::regex::ECMAScript).mark_count() < 1) {
          return Invalid(spec, "the regex has no capture group for the id");
        }
      } catch (const std::regex_error& e) {
        return Invalid(spec, Echo(value) + " is not a valid regex: " + e.what());
      }
      break;
    case StringCheck::kPrintable:
    case StringCheck::kQuotable:
      break;
  }
  if (HasControlChars(value)) return Invalid(spec, "contains control characters");
  return Status::Ok();
}

// "<your-password-here>", "your_api_key_here": the Python example's placeholders.
bool IsPlaceholder(std::string_view value) {
  const std::string v = Lower(TrimView(value));
  if (v.size() >= 3 && v.starts_with('<') && v.ends_with('>')) return true;
  return v.size() > 10 && (v.starts_with("your_") || v.starts_with("your-")) &&
         (v.ends_with("_here") || v.ends_with("-here"));
}

Status Loader::CheckPlaceholders() {
  for (const KeySpec& spec : config_internal::AllKeySpecs()) {
    FieldPtr field = config_internal::Field(config_, spec);
    const auto* s = std::get_if<std::string*>(&field);
    // A log_line_prefix "<%t>" or a regex may well look like "<...>".
    const bool free_text =
        spec.check == StringCheck::kQuotable || spec.check == StringCheck::kRegexWithGroup;
    if (s == nullptr || free_text || !IsPlaceholder(**s)) continue;
    return Invalid(spec, (spec.secret ? std::string("the value") : Echo(**s)) +
                             " is a placeholder of the example configuration; put the real "
                             "value there");
  }
  return Status::Ok();
}

Status Loader::CheckListener() {
  const ListenerConfig& l = config_.listener;
  PGAGENT_RETURN_IF_ERROR(CheckUrl(Spec("listener", "url"), l.url));
  const KeySpec& api_key = Spec("listener", "api_key");
  if (requirements_.need_api_key && l.api_key.empty()) {
    return Invalid(api_key,
                   "required by pgagent-shipperd and not set (use api_key_file, the systemd "
                   "credential api_key, BITVILLE_PG_LISTENER_API_KEY or api_key)");
  }
  for (unsigned char c : l.api_key) {
    if (c <= 0x20 || c == 0x7f)
      return Invalid(api_key, "contains whitespace or control characters");
  }
  if (l.insecure_skip_tls_verify && Lower(l.url).starts_with("https://")) {
    warnings_.push_back(OriginOf(Spec("listener", "insecure_skip_tls_verify")).where +
                        ": [listener] insecure_skip_tls_verify = true: the listener's TLS "
                        "certificate is NOT verified");
  }
  if (l.requests_per_minute > 100) {
    warnings_.push_back(
        OriginOf(Spec("listener", "requests_per_minute")).where +
        ": [listener] requests_per_minute: " + std::to_string(l.requests_per_minute) +
        " is above the listener's limit of 100 per minute; expect 429 responses");
  }
  return CheckBudgetFits();
}

// The live aggregates of the four listener sources need 4 x 60 / aggregate_interval_s
// requests per minute; they may use their share and borrow the backlog's.
Status Loader::CheckBudgetFits() {
  const ListenerConfig& l = config_.listener;
  if (l.correlation_share + l.live_share > 1.0 + 1e-9) {
    return Invalid(Spec("listener", "live_share"),
                   "correlation_share + live_share must not exceed 1 (the backlog gets the "
                   "rest)");
  }
  const double live_needed = 4.0 * 60.0 / static_cast<double>(l.aggregate_interval_s);
  const double live_room =
      static_cast<double>(l.requests_per_minute) * (1.0 - l.correlation_share);
  if (live_needed > live_room) {
    char text[320];
    std::snprintf(text, sizeof(text),
                  ": [listener] aggregate_interval_s = %lld needs %.0f requests per minute for "
                  "live data, but requests_per_minute = %lld with correlation_share = %.2f "
                  "leaves %.0f: live data will lag; raise aggregate_interval_s",
                  static_cast<long long>(l.aggregate_interval_s), live_needed,
                  static_cast<long long>(l.requests_per_minute), l.correlation_share, live_room);
    warnings_.push_back(OriginOf(Spec("listener", "aggregate_interval_s")).where + text);
  }
  return Status::Ok();
}

// The URL is not echoed: it may carry credentials.
Status Loader::CheckUrl(const KeySpec& spec, const std::string& url) {
  const size_t sep = url.find("://");
  const std::string scheme = Lower(url.substr(0, sep == std::string::npos ? 0 : sep));
  if (scheme == "http" && !config_.listener.allow_plain_http) {
    return Invalid(spec,
                   "http:// would send the API key in clear text; use https:// or set "
                   "[listener] allow_plain_http = true");
  }
  if (scheme != "https" && scheme != "http") {
    return Invalid(spec, "must start with https:// (or http:// with allow_plain_http = true)");
  }
  for (unsigned char c : url) {
    if (c <= 0x20 || c == 0x7f) return Invalid(spec, "contains whitespace or control characters");
  }
  const std::string rest = url.substr(sep + 3);
  const std::string authority = rest.substr(0, rest.find_first_of("/?#"));
  if (authority.find('@') != std::string::npos) {
    return Invalid(spec, "must not contain user information (user@); the key goes in api_key");
  }
  if (authority.empty() || authority.starts_with(':')) return Invalid(spec, "has no host");
  const std::string path = rest.substr(authority.size());
  if (!path.substr(0, path.find_first_of("?#")).ends_with("/ingest/postgres")) {
    warnings_.push_back(OriginOf(spec).where +
                        ": [listener] url: the path does not end in "
                        "/ingest/postgres, where the Bitville listener accepts PostgreSQL data");
  }
  return Status::Ok();
}

Status Loader::CheckCrossKeys() {
  const Config& c = config_;
  PGAGENT_RETURN_IF_ERROR(RequireNotGreater(
      Spec("listener", "breaker_cooldown_s"), c.listener.breaker_cooldown_s,
      Spec("listener", "breaker_max_cooldown_s"), c.listener.breaker_max_cooldown_s, ""));
  PGAGENT_RETURN_IF_ERROR(RequireNotGreater(Spec("listener", "connect_timeout_s"),
                                            c.listener.connect_timeout_s,
                                            Spec("listener", "timeout_s"), c.listener.timeout_s,
                                            "the total timeout includes connecting"));
  PGAGENT_RETURN_IF_ERROR(
      RequireNotGreater(Spec("ipc", "heartbeat_interval_ms"), c.ipc.heartbeat_interval_ms,
                        Spec("ipc", "heartbeat_timeout_ms"), c.ipc.heartbeat_timeout_ms, ""));
  PGAGENT_RETURN_IF_ERROR(RequireNotGreater(
      Spec("ipc", "max_message_bytes"), c.ipc.max_message_bytes, Spec("ipc", "window_max_bytes"),
      c.ipc.window_max_bytes, "a message must fit the window"));
  PGAGENT_RETURN_IF_ERROR(
      RequireNotGreater(Spec("collection", "log_max_line_bytes"), c.collection.log_max_line_bytes,
                        Spec("ipc", "max_message_bytes"), c.ipc.max_message_bytes,
                        "a record carrying the longest line must fit one IPC message"));
  PGAGENT_RETURN_IF_ERROR(CheckBufferFitsLargestRecord());
  // burst_interval_s >= interval_s is allowed: burst sampling then changes nothing (short
  // intervals, as in benchmarks, are already faster than any burst).
  return Status::Ok();
}

// A record is at most one IPC message. A buffer cap that cannot hold two of the largest would
// make such a record unstorable (shipperd would refuse it forever), so it is refused here.
Status Loader::CheckBufferFitsLargestRecord() {
  const KeySpec& cap = Spec("buffer", "max_size_mb");
  const KeySpec& message = Spec("ipc", "max_message_bytes");
  const int64_t cap_bytes = config_.buffer.max_size_mb * (int64_t{1} << 20);
  const int64_t need = 2 * config_.ipc.max_message_bytes;
  if (cap_bytes >= need) return Status::Ok();
  const int64_t min_mb = (need + (int64_t{1} << 20) - 1) >> 20;
  const bool blame_message =
      OriginOf(cap).source == Source::kDefault && OriginOf(message).source != Source::kDefault;
  const std::string why = "the buffer must hold two of the largest records (one IPC message, " +
                          std::to_string(config_.ipc.max_message_bytes) +
                          " bytes, each): " + std::to_string(config_.buffer.max_size_mb) +
                          " MiB < " + std::to_string(need) + " bytes";
  if (blame_message) {
    return Invalid(message, "is too large for " + KeyName(cap) + "; " + why + "; lower it to " +
                                std::to_string(cap_bytes / 2) + " or raise " + KeyName(cap));
  }
  return Invalid(cap, "is too small for " + KeyName(message) + "; " + why + "; raise it to " +
                          std::to_string(min_mb) + " or lower " + KeyName(message) +
                          " (and [collection] log_max_line_bytes with it)");
}

// Error unless va <= vb, blamed on whichever of the two keys was set explicitly.
Status Loader::RequireNotGreater(const KeySpec& a, int64_t va, const KeySpec& b, int64_t vb,
                                 std::string_view why) {
  if (va <= vb) return Status::Ok();
  const bool blame_b =
      OriginOf(a).source == Source::kDefault && OriginOf(b).source != Source::kDefault;
  std::string problem =
      (blame_b ? "is smaller than " + KeyName(a) : "is greater than " + KeyName(b)) + " (" +
      std::to_string(va) + " > " + std::to_string(vb) + ")";
  if (!why.empty()) problem += ": " + std::string(why);
  return Invalid(blame_b ? b : a, problem);
}

void Loader::RaiseStatementTimeout() {
  int64_t& timeout = config_.database.statement_timeout_ms;
  if (timeout >= 1000) return;
  warnings_.push_back(OriginOf(Spec("database", "statement_timeout_ms")).where +
                      ": [database] statement_timeout_ms: " + std::to_string(timeout) +
                      " raised to the minimum of 1000");
  timeout = 1000;
}

}  // namespace

bool EnvironmentCarriesSettings(const Environment& env) {
  static const std::set<std::string, std::less<>> kNotSettings = {
      "BITVILLE_PG_CONFIG_PATH", "BITVILLE_PG_IPC_RUNTIME_DIR", "BITVILLE_PG_AGENT_CONTROL_DIR",
      "BITVILLE_PG_AGENT_STATE_DIR", "BITVILLE_PG_BUFFER_PATH"};
  return std::any_of(env.begin(), env.end(), [](const auto& kv) {
    return kv.first.starts_with("BITVILLE_PG_") && !kNotSettings.contains(kv.first) &&
           !kv.second.empty();
  });
}

Result<LoadedConfig> LoadConfig(const ConfigFiles& files, const Environment& env,
                                const ConfigRequirements& requirements) {
  Loader loader(files, env, requirements);
  return loader.Run();
}

Result<LoadedConfig> LoadConfig(const std::string& path, const Environment& env,
                                const ConfigRequirements& requirements) {
  return LoadConfig(ConfigFiles{path, ""}, env, requirements);
}

}  // namespace pgagent
