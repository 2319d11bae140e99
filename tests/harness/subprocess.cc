#include "tests/harness/subprocess.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

extern char** environ;

namespace pgagent::testing {
namespace {

using Clock = std::chrono::steady_clock;

// Everything the child needs, prepared before fork().
struct ChildPlan {
  std::string path;
  std::vector<std::string> argv_storage;
  std::vector<std::string> env_storage;
  std::vector<char*> argv;
  std::vector<char*> envp;
  std::string cwd;
  bool switch_user = false;
  uid_t uid = 0;
  gid_t gid = 0;
};

Result<std::string> ResolveProgram(const std::string& name) {
  if (name.find('/') != std::string::npos) {
    if (access(name.c_str(), X_OK) != 0) return ErrnoStatus("cannot execute " + name, errno);
    return name;
  }
  const char* path_env = std::getenv("PATH");
  std::string path = path_env ? path_env : "/usr/local/bin:/usr/bin:/bin";
  std::stringstream ss(path);
  std::string dir;
  while (std::getline(ss, dir, ':')) {
    if (dir.empty()) continue;
    std::string candidate = dir + "/" + name;
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return NotFoundError("program not found in PATH: " + name);
}

Result<ChildPlan> MakePlan(const std::vector<std::string>& argv, const RunOptions& options) {
  if (argv.empty()) return InvalidArgumentError("RunProcess: empty argv");
  ChildPlan plan;
  PGAGENT_ASSIGN_OR_RETURN(plan.path, ResolveProgram(argv[0]));
  plan.argv_storage = argv;
  std::map<std::string, std::string> env;
  for (char** e = environ; e && *e; ++e) {
    std::string kv(*e);
    size_t eq = kv.find('=');
    if (eq != std::string::npos) env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  if (options.user) {
    plan.switch_user = true;
    plan.uid = options.user->uid;
    plan.gid = options.user->gid;
    env["HOME"] = options.user->home;
    env["USER"] = options.user->name;
    env["LOGNAME"] = options.user->name;
  }
  for (const auto& [k, v] : options.env) env[k] = v;
  for (const auto& [k, v] : env) plan.env_storage.push_back(k + "=" + v);
  for (auto& s : plan.argv_storage) plan.argv.push_back(s.data());
  plan.argv.push_back(nullptr);
  for (auto& s : plan.env_storage) plan.envp.push_back(s.data());
  plan.envp.push_back(nullptr);
  plan.cwd = options.cwd.empty() && options.user ? "/" : options.cwd;
  return plan;
}

// Runs in the forked child: only async-signal-safe calls. Never returns.
[[noreturn]] void ExecChild(const ChildPlan& plan, int in_fd, int out_fd, int err_fd,
                            int report_fd) {
  if (dup2(in_fd, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(err_fd, 2) < 0) goto fail;
  if (plan.switch_user) {
    if (setgroups(1, &plan.gid) != 0 || setgid(plan.gid) != 0 || setuid(plan.uid) != 0) {
      goto fail;
    }
  }
  if (!plan.cwd.empty() && chdir(plan.cwd.c_str()) != 0) goto fail;
  CloseInheritedFdsOnExec();  // report_fd is close-on-exec already: still usable below
  {
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
  }
  execve(plan.path.c_str(), plan.argv.data(), plan.envp.data());
fail:
  int err = errno;
  ssize_t ignored = write(report_fd, &err, sizeof(err));
  (void)ignored;
  _exit(127);
}

void CloseFd(int& fd) {
  if (fd >= 0) close(fd);
  fd = -1;
}

// Writes to a pipe whose reader may have exited, without dying of SIGPIPE.
ssize_t WriteNoSigpipe(int fd, const char* data, size_t len) {
  sigset_t pipe_set, old_set;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_set, &old_set);
  ssize_t n = write(fd, data, len);
  int saved = errno;
  if (n < 0 && errno == EPIPE) {
    timespec zero{0, 0};
    sigtimedwait(&pipe_set, nullptr, &zero);
  }
  pthread_sigmask(SIG_SETMASK, &old_set, nullptr);
  errno = saved;
  return n;
}

int DecodeWaitStatus(int wstatus) {
  if (WIFEXITED(wstatus)) return WEXITSTATUS(wstatus);
  if (WIFSIGNALED(wstatus)) return 128 + WTERMSIG(wstatus);
  return -1;
}

// Pumps stdin/stdout/stderr until both outputs hit EOF or the deadline passes.
bool PumpPipes(int& in_w, int& out_r, int& err_r, const std::string& input, RunOutput& output,
               Clock::time_point deadline) {
  size_t written = 0;
  char buf[65536];
  while (out_r >= 0 || err_r >= 0) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return false;
    pollfd fds[3];
    int n = 0;
    int idx_in = -1, idx_out = -1, idx_err = -1;
    if (in_w >= 0) fds[idx_in = n++] = {in_w, POLLOUT, 0};
    if (out_r >= 0) fds[idx_out = n++] = {out_r, POLLIN, 0};
    if (err_r >= 0) fds[idx_err = n++] = {err_r, POLLIN, 0};
    int rc = poll(fds, n, static_cast<int>(std::min<int64_t>(left.count(), 1000)));
    if (rc < 0 && errno != EINTR) return false;
    if (rc <= 0) continue;
    if (idx_in >= 0 && fds[idx_in].revents) {
      ssize_t w = WriteNoSigpipe(in_w, input.data() + written, input.size() - written);
      if (w > 0) written += static_cast<size_t>(w);
      if (w < 0 || written == input.size()) CloseFd(in_w);
    }
    struct Stream {
      int idx;
      int* fd;
      std::string* sink;
    } streams[] = {{idx_out, &out_r, &output.out}, {idx_err, &err_r, &output.err}};
    for (auto& s : streams) {
      if (s.idx < 0 || !fds[s.idx].revents) continue;
      ssize_t r = read(*s.fd, buf, sizeof(buf));
      if (r > 0) {
        s.sink->append(buf, static_cast<size_t>(r));
      } else if (r == 0 || errno != EINTR) {
        CloseFd(*s.fd);
      }
    }
  }
  return true;
}

std::string CommandName(const std::vector<std::string>& argv) {
  std::string s;
  for (size_t i = 0; i < argv.size() && i < 3; ++i) s += (i ? " " : "") + argv[i];
  return s;
}

}  // namespace

Result<OsUser> LookupOsUser(const std::string& name) {
  std::vector<char> buf(16384);
  passwd pw{};
  passwd* found = nullptr;
  int rc = getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &found);
  if (rc != 0 || found == nullptr) return NotFoundError("no OS user named " + name);
  return OsUser{name, pw.pw_uid, pw.pw_gid, pw.pw_dir ? pw.pw_dir : "/"};
}

Result<RunOutput> RunProcess(const std::vector<std::string>& argv, const RunOptions& options) {
  PGAGENT_ASSIGN_OR_RETURN(ChildPlan plan, MakePlan(argv, options));
  int in_pipe[2] = {-1, -1}, out_pipe[2] = {-1, -1}, err_pipe[2] = {-1, -1};
  int report[2] = {-1, -1};
  auto close_all = [&] {
    for (int* p : {in_pipe, out_pipe, err_pipe, report}) {
      CloseFd(p[0]);
      CloseFd(p[1]);
    }
  };
  bool has_input = !options.stdin_data.empty();
  if ((has_input                                                    ? pipe2(in_pipe, O_CLOEXEC)
       : (in_pipe[0] = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0 ? -1
                                                                    : 0) != 0 ||
      pipe2(out_pipe, O_CLOEXEC) != 0 || pipe2(err_pipe, O_CLOEXEC) != 0 ||
      pipe2(report, O_CLOEXEC) != 0) {
    Status s = ErrnoStatus("pipe for " + CommandName(argv), errno);
    close_all();
    return s;
  }
  pid_t pid = fork();
  if (pid < 0) {
    Status s = ErrnoStatus("fork for " + CommandName(argv), errno);
    close_all();
    return s;
  }
  if (pid == 0) ExecChild(plan, in_pipe[0], out_pipe[1], err_pipe[1], report[1]);
  CloseFd(in_pipe[0]);
  CloseFd(out_pipe[1]);
  CloseFd(err_pipe[1]);
  CloseFd(report[1]);
  int child_errno = 0;
  ssize_t got = read(report[0], &child_errno, sizeof(child_errno));
  CloseFd(report[0]);
  RunOutput output;
  auto deadline = Clock::now() + options.timeout;
  bool done = got <= 0 &&
              PumpPipes(in_pipe[1], out_pipe[0], err_pipe[0], options.stdin_data, output, deadline);
  close_all();
  if (got > 0) {
    waitpid(pid, nullptr, 0);
    return ErrnoStatus("exec " + plan.path, child_errno);
  }
  int wstatus = 0;
  while (true) {
    pid_t r = waitpid(pid, &wstatus, WNOHANG);
    if (r == pid) break;
    if (r < 0 && errno != EINTR) return ErrnoStatus("waitpid " + CommandName(argv), errno);
    if (!done || Clock::now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
      return DeadlineExceededError(CommandName(argv) + " did not finish within " +
                                   std::to_string(options.timeout.count()) +
                                   " ms; stderr: " + output.err);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  output.exit_code = DecodeWaitStatus(wstatus);
  return output;
}

Result<std::string> RunChecked(const std::vector<std::string>& argv, const RunOptions& options) {
  PGAGENT_ASSIGN_OR_RETURN(RunOutput out, RunProcess(argv, options));
  if (out.exit_code != 0) {
    const std::string& detail = out.err.empty() ? out.out : out.err;
    return UnavailableError(CommandName(argv) + " exited with " + std::to_string(out.exit_code) +
                            ": " + detail);
  }
  return std::move(out.out);
}

Result<std::string> MakeTempDir(const std::string& prefix) {
  std::string base = "/tmp";
  const char* tmpdir = std::getenv("TMPDIR");
  // Unix socket paths are limited to 107 bytes; keep the base short.
  if (tmpdir && *tmpdir && std::strlen(tmpdir) < 60) base = tmpdir;
  std::string templ = base + "/" + prefix + "XXXXXX";
  std::vector<char> buf(templ.begin(), templ.end());
  buf.push_back('\0');
  if (mkdtemp(buf.data()) == nullptr) return ErrnoStatus("mkdtemp " + templ, errno);
  std::error_code ec;
  auto canonical = std::filesystem::canonical(buf.data(), ec);
  return ec ? std::string(buf.data()) : canonical.string();
}

void RemoveTree(const std::string& path) {
  if (path.empty()) return;
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
}

Result<int> PickFreePort() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return ErrnoStatus("socket", errno);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    Status s = ErrnoStatus("bind 127.0.0.1:0", errno);
    close(fd);
    return s;
  }
  close(fd);
  return static_cast<int>(ntohs(addr.sin_port));
}

std::string FileTail(const std::string& path, size_t max_bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";
  in.seekg(0, std::ios::end);
  std::streamoff size = in.tellg();
  std::streamoff start = size > static_cast<std::streamoff>(max_bytes)
                             ? size - static_cast<std::streamoff>(max_bytes)
                             : 0;
  in.seekg(start);
  std::string tail((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return tail;
}

Result<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return ErrnoStatus("open " + path, errno);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void CloseInheritedFdsOnExec() {
  if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) == 0) return;
  // Kernels before 5.11: set the flag one by one.
  long max_fd = sysconf(_SC_OPEN_MAX);
  if (max_fd < 0 || max_fd > 65536) max_fd = 65536;
  for (int fd = 3; fd < max_fd; ++fd) fcntl(fd, F_SETFD, FD_CLOEXEC);
}

int TerminateChild(pid_t pid, std::chrono::milliseconds grace) {
  if (pid <= 0) return -1;
  int wstatus = 0;
  pid_t r = waitpid(pid, &wstatus, WNOHANG);
  if (r == pid) return DecodeWaitStatus(wstatus);
  if (r < 0) return -1;
  kill(pid, SIGTERM);
  auto deadline = Clock::now() + grace;
  while (Clock::now() < deadline) {
    r = waitpid(pid, &wstatus, WNOHANG);
    if (r == pid) return DecodeWaitStatus(wstatus);
    if (r < 0) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  kill(pid, SIGKILL);
  if (waitpid(pid, &wstatus, 0) == pid) return DecodeWaitStatus(wstatus);
  return -1;
}

}  // namespace pgagent::testing
