#include "shipperd/delivery/file_request_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <fstream>
#include <sstream>

namespace pgagent {

Result<std::vector<int64_t>> FileRequestLog::Load() {
  std::vector<int64_t> sent;
  std::ifstream in(path_);
  std::string line;
  while (sent.size() < 100000 && std::getline(in, line)) {
    int64_t ms = 0;
    const auto [end, ec] = std::from_chars(line.data(), line.data() + line.size(), ms);
    if (ec == std::errc() && end == line.data() + line.size()) sent.push_back(ms);
  }
  return sent;
}

Status FileRequestLog::Save(const std::vector<int64_t>& sent_unix_ms) {
  std::string text;
  text.reserve(sent_unix_ms.size() * 14);
  for (int64_t ms : sent_unix_ms) text += std::to_string(ms) + '\n';
  const std::string tmp = path_ + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoStatus("open " + tmp, errno);
  const char* p = text.data();
  size_t left = text.size();
  while (left > 0) {
    const ssize_t n = ::write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      return ErrnoStatus("write " + tmp, err);
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  if (::close(fd) != 0) return ErrnoStatus("close " + tmp, errno);
  if (::rename(tmp.c_str(), path_.c_str()) != 0) return ErrnoStatus("rename " + tmp, errno);
  return Status::Ok();
}

}  // namespace pgagent
