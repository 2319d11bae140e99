#include "tests/harness/syslog_daemon.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <fstream>
#include <thread>

#include "tests/harness/subprocess.h"

namespace pgagent::testing {
namespace {

using namespace std::chrono_literals;

constexpr char kRsyslogd[] = "/usr/sbin/rsyslogd";

// imuxsock on our socket only (SysSock.Use off: never /dev/log), no rate limiting, two files.
std::string Config(const std::string& dir) {
  return "global(workDirectory=\"" + dir + "/work\")\n" +
         "module(load=\"imuxsock\" SysSock.Use=\"off\")\n" + "input(type=\"imuxsock\" Socket=\"" +
         dir + "/log.sock\" RateLimit.Interval=\"0\" CreatePath=\"off\")\n" +
         "*.* action(type=\"omfile\" file=\"" + dir +
         "/traditional.log\" template=\"RSYSLOG_TraditionalFileFormat\")\n" +
         "*.* action(type=\"omfile\" file=\"" + dir +
         "/rfc3339.log\" template=\"RSYSLOG_FileFormat\")\n";
}

}  // namespace

Result<std::unique_ptr<SyslogDaemon>> SyslogDaemon::Start() {
  if (access(kRsyslogd, X_OK) != 0) {
    return NotFoundError(std::string(kRsyslogd) +
                         " is not installed (scripts/install-deps.sh installs rsyslog)");
  }
  std::unique_ptr<SyslogDaemon> d(new SyslogDaemon());
  PGAGENT_ASSIGN_OR_RETURN(d->dir_, MakeTempDir("pgagent-rsyslog-"));
  d->owner_pid_ = getpid();
  // The postgres user writes to the socket and reads nothing else here.
  if (chmod(d->dir_.c_str(), 0755) != 0) return ErrnoStatus("chmod " + d->dir_, errno);
  if (mkdir((d->dir_ + "/work").c_str(), 0700) != 0) return ErrnoStatus("mkdir work", errno);
  const std::string conf = d->dir_ + "/rsyslog.conf";
  std::ofstream(conf) << Config(d->dir_);
  const std::string pidfile = d->dir_ + "/rsyslogd.pid";
  const std::string out = d->dir_ + "/rsyslogd.out";
  const int out_fd = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (out_fd < 0) return ErrnoStatus("open " + out, errno);
  const char* argv[] = {kRsyslogd, "-n", "-f", conf.c_str(), "-i", pidfile.c_str(), nullptr};
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(1);
    dup2(out_fd, 1);
    dup2(out_fd, 2);
    CloseInheritedFdsOnExec();
    execv(argv[0], const_cast<char* const*>(argv));
    _exit(127);
  }
  close(out_fd);
  if (pid < 0) return ErrnoStatus("fork rsyslogd", errno);
  d->pid_ = pid;
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  struct stat st {};
  while (stat(d->socket_path().c_str(), &st) != 0 || !S_ISSOCK(st.st_mode)) {
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      d->pid_ = -1;
      return UnavailableError("rsyslogd exited during start-up: " + d->LogTail());
    }
    if (std::chrono::steady_clock::now() > deadline) {
      return DeadlineExceededError("rsyslogd made no socket within 30 s: " + d->LogTail());
    }
    std::this_thread::sleep_for(10ms);
  }
  if (chmod(d->socket_path().c_str(), 0666) != 0) return ErrnoStatus("chmod socket", errno);
  return d;
}

SyslogDaemon::~SyslogDaemon() {
  if (getpid() != owner_pid_) return;  // a forked copy of the test process exiting
  if (pid_ > 0) TerminateChild(pid_, 3s);
  pid_ = -1;
  if (!dir_.empty()) RemoveTree(dir_);
}

std::vector<std::string> SyslogDaemon::ServerStartPrefix() const {
  return {"/bin/sh", std::string(PGAGENT_SOURCE_DIR) + "/tests/harness/private_dev_log.sh",
          socket_path(), dir_ + "/namespace"};
}

std::string SyslogDaemon::LogTail() const { return FileTail(dir_ + "/rsyslogd.out"); }

}  // namespace pgagent::testing
