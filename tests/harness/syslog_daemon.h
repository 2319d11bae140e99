// A throwaway rsyslogd for integration tests of log_destination = syslog: its own config,
// work directory and unix socket in a temp dir (the machine's /dev/log and rsyslog setup are
// never used or touched). It writes every message it receives twice, in rsyslog's
// traditional file format ("Dec  4 21:40:33 host tag[pid]: msg") and in its high-precision
// one (RFC 3339 timestamps), with rsyslog's default control character escaping (#011).
// PostgreSQL reaches the socket through tests/harness/private_dev_log.sh, which
// PgClusterOptions::start_prefix puts in front of pg_ctl start (see ServerStartPrefix()).
// rsyslogd runs in the foreground as our child (SIGTERM at parent death), stopped and its
// directory removed on destruction.
// Thread-safety: not thread-safe; use from the test thread.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "common/status.h"

namespace pgagent::testing {

class SyslogDaemon {
 public:
  // Starts rsyslogd and waits until its socket exists. kNotFound when rsyslogd is not
  // installed (scripts/install-deps.sh installs it); kUnavailable when it exits early.
  static Result<std::unique_ptr<SyslogDaemon>> Start();
  ~SyslogDaemon();
  SyslogDaemon(const SyslogDaemon&) = delete;
  SyslogDaemon& operator=(const SyslogDaemon&) = delete;

  std::string socket_path() const { return dir_ + "/log.sock"; }
  std::string traditional_file() const { return dir_ + "/traditional.log"; }
  std::string rfc3339_file() const { return dir_ + "/rfc3339.log"; }
  // argv prefix that runs a command (as root) in a private mount namespace whose /dev/log is
  // socket_path(): for PgClusterOptions::start_prefix. REQUIRES: the test runs as root.
  std::vector<std::string> ServerStartPrefix() const;
  // rsyslogd's own messages, for errors.
  std::string LogTail() const;

 private:
  SyslogDaemon() = default;
  std::string dir_;
  pid_t pid_ = -1;
  pid_t owner_pid_ = -1;
};

}  // namespace pgagent::testing
