// The server's log settings (log_directory, log_filename, log_destination, log_line_prefix,
// ...) as the collector last read them, kept in [agent] state_dir so that log following can
// start while the database refuses or is down: authentication failures are then shipped too.
// A file "server_log_settings" of "name=value" lines (\n and \\ escaped), written atomically,
// mode 0600.
// Thread-safety: plain functions; callers serialize access to one state directory.
#pragma once

#include <map>
#include <string>

#include "common/status.h"

namespace pgagent {

using ServerLogSettings = std::map<std::string, std::string>;

// Errors: the write or rename failure (the caller logs it once and goes on).
Status SaveServerLogSettings(const std::string& state_dir, const ServerLogSettings& settings);
// kNotFound when never saved; kInvalidArgument for a damaged file.
Result<ServerLogSettings> LoadServerLogSettings(const std::string& state_dir);

}  // namespace pgagent
