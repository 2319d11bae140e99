// Runs a child process for the test harness (initdb, pg_ctl, psql, openssl, python3) and
// collects its output, with a bounded deadline. Optionally drops to another OS user (the
// `postgres` user when the tests run as root). Also the temp-dir and free-port helpers the
// harness shares.
// Thread-safety: every function may be called from any thread. The child is prepared
// before fork() so that only async-signal-safe calls run between fork() and exec().
// Children never inherit the test's other descriptors (sockets, pipes): a postmaster
// started by pg_ctl would otherwise hold them open for its whole life.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace pgagent::testing {

// An OS user to run a child as (uid/gid/home resolved with getpwnam).
struct OsUser {
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;
  std::string home;
};

// Looks up a user; kNotFound when there is no such user.
Result<OsUser> LookupOsUser(const std::string& name);

struct RunOptions {
  // Bytes written to the child's stdin (then closed). Empty: stdin is /dev/null.
  std::string stdin_data;
  // Run as this user (REQUIRES: the caller is root); nullopt: as the current user.
  std::optional<OsUser> user;
  // Working directory of the child; empty: "/" when `user` is set, else unchanged.
  std::string cwd;
  // Environment variables set (or overridden) in the child.
  std::map<std::string, std::string> env;
  // The child is killed (SIGKILL, by pid) when it runs longer.
  std::chrono::milliseconds timeout{std::chrono::seconds(120)};
};

struct RunOutput {
  int exit_code = -1;  // exit status, or 128 + signal number when killed by a signal
  std::string out;
  std::string err;
};

// Runs argv[0] (an absolute path, or a name looked up in PATH) to completion.
// kNotFound when the program cannot be executed, kDeadlineExceeded on timeout, kUnavailable
// when fork/pipe fail. A non-zero exit code is NOT an error here: check exit_code.
Result<RunOutput> RunProcess(const std::vector<std::string>& argv, const RunOptions& options = {});

// Like RunProcess but a non-zero exit code is an error naming the command and carrying its
// stderr (and stdout when stderr is empty).
Result<std::string> RunChecked(const std::vector<std::string>& argv,
                               const RunOptions& options = {});

// Creates a fresh directory <$TMPDIR or /tmp>/<prefix>XXXXXX (mode 0700) and returns its
// absolute path. Falls back to /tmp when $TMPDIR would make unix socket paths too long.
Result<std::string> MakeTempDir(const std::string& prefix);

// Removes a directory tree; errors are ignored (best effort at teardown).
void RemoveTree(const std::string& path);

// A TCP port on 127.0.0.1 that was free a moment ago (bind to port 0, read, close).
Result<int> PickFreePort();

// The last `max_bytes` of a file (or "" when unreadable), for error messages.
std::string FileTail(const std::string& path, size_t max_bytes = 4000);

// Reads a whole file; kNotFound / kPermissionDenied on failure.
Result<std::string> ReadFile(const std::string& path);

// In a forked child before exec: marks every descriptor >= 3 close-on-exec.
// Async-signal-safe.
void CloseInheritedFdsOnExec();

// Sends SIGTERM to `pid` (a child we started), waits up to `grace`, then SIGKILL; reaps it.
// Returns the exit status as RunOutput::exit_code does, or -1 if it was already reaped.
int TerminateChild(pid_t pid, std::chrono::milliseconds grace);

}  // namespace pgagent::testing
