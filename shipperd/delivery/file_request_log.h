// FileRequestLog: the RequestLog of shipperd, a small text file (one unix-ms send time per
// line, 0600) next to the buffer. Written with write-to-temp + rename after every request,
// without fsync: it must survive a crash or SIGKILL of shipperd (the page cache does), and a
// host crash takes longer than the minute the file covers. A missing or unreadable file is
// an empty log.
// Thread-safety: one instance belongs to one thread (the Dispatcher's).
#pragma once

#include <string>

#include "shipperd/delivery/request_budget.h"

namespace pgagent {

class FileRequestLog final : public RequestLog {
 public:
  explicit FileRequestLog(std::string path) : path_(std::move(path)) {}

  // Errors: none; unreadable content is skipped line by line.
  Result<std::vector<int64_t>> Load() override;
  // Errors: kUnavailable with errno text when the file cannot be written.
  Status Save(const std::vector<int64_t>& sent_unix_ms) override;

 private:
  std::string path_;
};

}  // namespace pgagent
