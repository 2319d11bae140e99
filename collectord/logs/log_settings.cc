#include "collectord/logs/log_settings.h"

#include <algorithm>
#include <cctype>

#include "collectord/logs/log_parser.h"

namespace pgagent {
namespace {

std::string Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return std::string(s);
}

std::vector<std::string> Destinations(std::string_view list) {
  std::vector<std::string> out;
  size_t p = 0;
  while (p <= list.size()) {
    size_t comma = list.find(',', p);
    if (comma == std::string_view::npos) comma = list.size();
    std::string d = Trim(list.substr(p, comma - p));
    std::transform(d.begin(), d.end(), d.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (!d.empty()) out.push_back(d);
    p = comma + 1;
  }
  return out;
}

const std::string* Find(const std::map<std::string, std::string>& m, const std::string& k) {
  auto it = m.find(k);
  return it == m.end() ? nullptr : &it->second;
}

// PostgreSQL's logfile_getname(): the suffix replaces a trailing ".log" or is appended.
std::string WithSuffix(std::string name, std::string_view suffix) {
  if (name.size() > 4 && name.compare(name.size() - 4, 4, ".log") == 0)
    name.resize(name.size() - 4);
  return name + std::string(suffix);
}

}  // namespace

Result<std::map<std::string, std::string>> FetchLogSettings(const LogSettingsQueryFn& query) {
  PGAGENT_ASSIGN_OR_RETURN(auto rows, query(kLogSettingsQuery));
  std::map<std::string, std::string> out;
  for (auto& [name, value] : rows) out[name] = std::move(value);
  return out;
}

Result<LogLocation> ChooseLogLocation(const std::map<std::string, std::string>& settings,
                                      const LogLocationOverrides& overrides) {
  if (overrides.format == LogFormat::kSyslog ||
      FormatForConfiguredPath(settings) == LogFormat::kSyslog) {
    return FailedPreconditionError(
        "log_destination is syslog: the syslog daemon decides which file holds its lines; set "
        "[collection] log_path to that file (e.g. /var/log/postgresql.log or "
        "/var/log/messages) and log_format = syslog");
  }
  const std::string* collector = Find(settings, "logging_collector");
  if (collector != nullptr && *collector != "on") {
    return FailedPreconditionError(
        "logging_collector is off: PostgreSQL's stderr goes wherever the server was started "
        "with; set [collection] log_path explicitly");
  }
  const std::string* dest = Find(settings, "log_destination");
  const std::string* dir = Find(settings, "log_directory");
  const std::string* file = Find(settings, "log_filename");
  if (dest == nullptr || dir == nullptr || file == nullptr) {
    return InvalidArgumentError(
        "server settings lack log_destination, log_directory or log_filename");
  }
  std::vector<std::string> dests = Destinations(*dest);
  auto has = [&](std::string_view d) {
    return std::find(dests.begin(), dests.end(), d) != dests.end();
  };
  LogLocation src;
  if (overrides.format.has_value()) {
    if (!has(LogFormatName(*overrides.format))) {
      return FailedPreconditionError("log_destination '" + *dest + "' does not include " +
                                     std::string(LogFormatName(*overrides.format)));
    }
    src.format = *overrides.format;
  } else if (has("jsonlog")) {
    src.format = LogFormat::kJsonlog;
  } else if (has("csvlog")) {
    src.format = LogFormat::kCsvlog;
  } else if (has("stderr")) {
    src.format = LogFormat::kStderr;
  } else {
    return FailedPreconditionError("log_destination '" + *dest +
                                   "' writes no file pgagent can read; set [collection] log_path");
  }
  if (!dir->empty() && dir->front() == '/') {
    src.directory = *dir;
  } else {
    const std::string* data = Find(settings, "data_directory");
    if (data == nullptr || data->empty()) {
      return PermissionDeniedError(
          "log_directory '" + *dir +
          "' is relative and data_directory is not visible: grant pg_read_all_settings "
          "(or pg_monitor) or set [collection] log_path");
    }
    src.directory = *data + "/" + *dir;
  }
  while (src.directory.size() > 1 && src.directory.back() == '/') src.directory.pop_back();
  switch (src.format) {
    case LogFormat::kStderr:
      src.filename_pattern = *file;
      break;
    case LogFormat::kCsvlog:
      src.filename_pattern = WithSuffix(*file, ".csv");
      break;
    case LogFormat::kJsonlog:
      src.filename_pattern = WithSuffix(*file, ".json");
      break;
    case LogFormat::kSyslog:
      break;  // refused above
  }
  src.path_pattern = src.directory + "/" + src.filename_pattern;
  if (overrides.log_line_prefix.has_value()) {
    src.log_line_prefix = *overrides.log_line_prefix;
  } else if (const std::string* prefix = Find(settings, "log_line_prefix")) {
    src.log_line_prefix = *prefix;
  }
  if (const std::string* tz = Find(settings, "log_timezone")) src.log_timezone = *tz;
  return src;
}

LogFormat FormatForConfiguredPath(const std::map<std::string, std::string>& settings) {
  const std::string* dest = Find(settings, "log_destination");
  if (dest == nullptr) return LogFormat::kStderr;
  bool syslog = false;
  for (const std::string& d : Destinations(*dest)) {
    if (d == "stderr" || d == "csvlog" || d == "jsonlog") return LogFormat::kStderr;
    if (d == "syslog") syslog = true;
  }
  return syslog ? LogFormat::kSyslog : LogFormat::kStderr;
}

void ApplySyslogSettings(const std::map<std::string, std::string>& settings,
                         LogParserOptions* options) {
  if (const std::string* ident = Find(settings, "syslog_ident"); ident && !ident->empty()) {
    options->syslog_ident = *ident;
  }
  if (const std::string* seq = Find(settings, "syslog_sequence_numbers")) {
    options->syslog_sequence_numbers = *seq != "off";
  }
}

}  // namespace pgagent
