// A long-running child process for integration tests (a daemon under test, a load
// generator): started with fork/exec, its stdout+stderr appended to a log file, stopped by
// pid only (never by name). The destructor kills (SIGKILL) and reaps a child still running.
// Thread-safety: not thread-safe; use from the test thread.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace pgagent::testing {

class ChildProcess {
 public:
  // argv[0] must be an absolute path. `env` entries are added to (or override) the current
  // environment. Errors: kUnavailable when fork fails, kNotFound when argv[0] is missing.
  static Result<std::unique_ptr<ChildProcess>> Start(const std::vector<std::string>& argv,
                                                     const std::string& log_file,
                                                     const std::map<std::string, std::string>& env = {});
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  // Sends `signal` to the child (by pid). No effect once it was reaped.
  void Signal(int signal);
  // Waits up to `timeout` for the child to exit; returns its exit code (128 + signal when
  // killed), or nullopt when it is still running.
  std::optional<int> Wait(std::chrono::milliseconds timeout);
  // SIGTERM, wait up to `grace`, then SIGKILL; returns the exit code.
  int Stop(std::chrono::milliseconds grace = std::chrono::seconds(10));
  bool running();
  const std::string& log_file() const { return log_file_; }

 private:
  ChildProcess() = default;
  pid_t pid_ = -1;
  std::optional<int> exit_code_;
  std::string log_file_;
};

// Polls `condition` every 20 ms until it is true or `timeout` passes; returns its last value.
bool WaitUntil(const std::function<bool()>& condition, std::chrono::milliseconds timeout);

// The directory of the build tree (where the daemons are built), from PGAGENT_BINARY_DIR.
std::string BinaryDir();

}  // namespace pgagent::testing
