#include "collectord/server_log_settings.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <sstream>

namespace pgagent {
namespace {

constexpr const char* kFileName = "/server_log_settings";

std::string Escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string Unescape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 1 < s.size()) {
      out += s[++i] == 'n' ? '\n' : s[i];
    } else {
      out += s[i];
    }
  }
  return out;
}

}  // namespace

Status SaveServerLogSettings(const std::string& state_dir, const ServerLogSettings& settings) {
  std::string text;
  for (const auto& [name, value] : settings) text += name + "=" + Escape(value) + "\n";
  // Before the offset store, which creates the directory too, exists.
  if (::mkdir(state_dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return ErrnoStatus(state_dir + ": cannot create", errno);
  }
  const std::string path = state_dir + kFileName;
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoStatus(tmp + ": cannot write", errno);
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      return ErrnoStatus(tmp + ": cannot write", err);
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) return ErrnoStatus(tmp + ": cannot write", errno);
  if (::rename(tmp.c_str(), path.c_str()) != 0) return ErrnoStatus(path + ": cannot rename", errno);
  return Status::Ok();
}

Result<ServerLogSettings> LoadServerLogSettings(const std::string& state_dir) {
  const std::string path = state_dir + kFileName;
  std::ifstream in(path);
  if (!in) return NotFoundError(path + ": no saved server log settings");
  ServerLogSettings settings;
  for (std::string line; std::getline(in, line);) {
    const size_t eq = line.find('=');
    if (eq == std::string::npos || eq == 0) {
      return InvalidArgumentError(path + ": damaged line \"" + line.substr(0, 40) + "\"");
    }
    settings[line.substr(0, eq)] = Unescape(line.substr(eq + 1));
  }
  return settings;
}

}  // namespace pgagent
