#include "tests/harness/test_listener.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <google/protobuf/util/json_util.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <sstream>
#include <thread>

#include "common/json_util.h"
#include "tests/harness/subprocess.h"

#ifndef PGAGENT_SOURCE_DIR
#error "PGAGENT_SOURCE_DIR must be defined (tests/harness/CMakeLists.txt)"
#endif

namespace pgagent::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr auto kStartTimeout = 30s;
constexpr int kControlTimeoutSeconds = 15;

std::string ScriptPath() {
  if (const char* env = std::getenv("PGAGENT_TEST_LISTENER_SCRIPT"); env && *env) return env;
  return std::string(PGAGENT_SOURCE_DIR) + "/tests/harness/test_listener.py";
}

// Debian's interpreter first: a fresh machine has /usr/bin/python3, and a user's pyenv
// shim may lack the standard library modules we rely on or be slow to start.
std::string PythonPath() {
  if (const char* env = std::getenv("PGAGENT_PYTHON"); env && *env) return env;
  if (access("/usr/bin/python3", X_OK) == 0) return "/usr/bin/python3";
  return "python3";
}

// The integer after "key": in a flat JSON object written by the script.
Result<int> JsonIntField(const std::string& json, const std::string& key) {
  const std::string needle = "\"" + key + "\":";
  size_t pos = json.find(needle);
  if (pos == std::string::npos) return NotFoundError("no " + key + " in " + json);
  pos += needle.size();
  while (pos < json.size() && json[pos] == ' ') ++pos;
  char* end = nullptr;
  long value = std::strtol(json.c_str() + pos, &end, 10);
  if (end == json.c_str() + pos) return InvalidArgumentError("bad " + key + " in " + json);
  return static_cast<int>(value);
}

std::string FormatDouble(double v) {
  std::ostringstream ss;
  ss.precision(17);
  ss << v;
  return ss.str();
}

Result<int> ConnectLoopback(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return ErrnoStatus("socket", errno);
  timeval tv{kControlTimeoutSeconds, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    Status s = ErrnoStatus("connect to the listener control port " + std::to_string(port), errno);
    close(fd);
    return s;
  }
  return fd;
}

Status SendAll(int fd, const std::string& data) {
  size_t sent = 0;
  while (sent < data.size()) {
    ssize_t n = send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return ErrnoStatus("send to the listener control port", errno);
    sent += static_cast<size_t>(n);
  }
  return Status::Ok();
}

Result<std::string> ReadAll(int fd) {
  std::string data;
  char buf[65536];
  while (true) {
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus("read from the listener control port", errno);
    if (n == 0) return data;
    data.append(buf, static_cast<size_t>(n));
  }
}

}  // namespace

Result<std::unique_ptr<TestListener>> TestListener::Start(const TestListenerOptions& options) {
  std::unique_ptr<TestListener> listener(new TestListener());
  listener->options_ = options;
  listener->owner_pid_ = getpid();
  PGAGENT_ASSIGN_OR_RETURN(listener->dir_, MakeTempDir("pgagent-listener-"));
  const std::string& dir = listener->dir_;
  std::vector<std::string> args = {PythonPath(),
                                   ScriptPath(),
                                   "--dir",
                                   dir,
                                   "--port",
                                   std::to_string(options.port),
                                   "--api-key",
                                   options.api_key,
                                   "--project",
                                   options.project,
                                   "--rate-limit",
                                   std::to_string(options.rate_limit_per_minute),
                                   "--window-seconds",
                                   FormatDouble(options.rate_window_seconds),
                                   "--ready-file",
                                   dir + "/ready.json",
                                   "--exit-on-stdin-eof"};
  if (options.plain_http) args.push_back("--plain-http");
  if (options.max_stored_bytes > 0) {
    args.push_back("--max-stored-bytes");
    args.push_back(std::to_string(options.max_stored_bytes));
  }
  if (options.verbose) args.push_back("--verbose");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  int stdin_pipe[2];
  if (pipe2(stdin_pipe, O_CLOEXEC) != 0) return ErrnoStatus("pipe for the test listener", errno);
  const std::string log_path = dir + "/listener.log";
  int log_fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (log_fd < 0) {
    Status s = ErrnoStatus("open " + log_path, errno);
    close(stdin_pipe[0]);
    close(stdin_pipe[1]);
    return s;
  }
  pid_t pid = fork();
  if (pid == 0) {
    // Child: only async-signal-safe calls until exec.
    dup2(stdin_pipe[0], 0);
    dup2(log_fd, 1);
    dup2(log_fd, 2);
    CloseInheritedFdsOnExec();
    execvp(argv[0], argv.data());
    _exit(127);
  }
  int fork_errno = errno;
  close(stdin_pipe[0]);
  close(log_fd);
  if (pid < 0) {
    close(stdin_pipe[1]);
    return ErrnoStatus("fork the test listener", fork_errno);
  }
  listener->pid_ = pid;
  listener->stdin_fd_ = stdin_pipe[1];
  PGAGENT_RETURN_IF_ERROR(listener->WaitUntilListening());
  return listener;
}

Status TestListener::WaitUntilListening() {
  const std::string ready_path = dir_ + "/ready.json";
  auto deadline = Clock::now() + kStartTimeout;
  while (Clock::now() < deadline) {
    auto ready = ReadFile(ready_path);
    if (ready.ok()) {
      PGAGENT_ASSIGN_OR_RETURN(port_, JsonIntField(*ready, "port"));
      PGAGENT_ASSIGN_OR_RETURN(control_port_, JsonIntField(*ready, "control_port"));
      if (!options_.plain_http) {
        ca_file_ = dir_ + "/ca.pem";
        wrong_ca_file_ = dir_ + "/wrong-ca.pem";
      }
      return Status::Ok();
    }
    int wstatus = 0;
    if (waitpid(pid_, &wstatus, WNOHANG) == pid_) {
      pid_ = -1;
      return UnavailableError("test listener exited during start-up (status " +
                              std::to_string(wstatus) + "): " + LogTail());
    }
    std::this_thread::sleep_for(10ms);
  }
  return DeadlineExceededError("test listener did not start within 30 s: " + LogTail());
}

TestListener::~TestListener() {
  if (stdin_fd_ >= 0) close(stdin_fd_);
  stdin_fd_ = -1;
  if (getpid() != owner_pid_) return;  // a forked copy of the test process exiting
  if (pid_ > 0) TerminateChild(pid_, 3s);
  pid_ = -1;
  RemoveTree(dir_);
}

std::string TestListener::base_url() const {
  return std::string(options_.plain_http ? "http" : "https") +
         "://127.0.0.1:" + std::to_string(port_);
}

std::string TestListener::LogTail() const { return FileTail(dir_ + "/listener.log", 4000); }

Result<std::string> TestListener::Control(const std::string& method, const std::string& path,
                                          const std::string& body) const {
  PGAGENT_ASSIGN_OR_RETURN(int fd, ConnectLoopback(control_port_));
  std::string request =
      method + " " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n" +
      "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
      "\r\nConnection: close\r\n\r\n" + body;
  Status sent = SendAll(fd, request);
  Result<std::string> response = sent.ok() ? ReadAll(fd) : Result<std::string>(sent);
  close(fd);
  if (!response.ok()) return response.status();
  // "HTTP/1.0 200 OK\r\n...\r\n\r\n<body>"
  size_t space = response->find(' ');
  size_t header_end = response->find("\r\n\r\n");
  if (space == std::string::npos || header_end == std::string::npos) {
    return UnavailableError("malformed control response to " + path);
  }
  int status = std::atoi(response->c_str() + space + 1);
  std::string payload = response->substr(header_end + 4);
  if (status < 200 || status > 299) {
    return InvalidArgumentError("control " + method + " " + path + " -> " + std::to_string(status) +
                                ": " + payload);
  }
  return payload;
}

Result<int> TestListener::ControlCount(const std::string& path) const {
  PGAGENT_ASSIGN_OR_RETURN(std::string json, Control("GET", path));
  return JsonIntField(json, "count");
}

Status TestListener::FailNext(const std::string& mode, int count, int status, double seconds,
                              double retry_after_s, const std::string& match) {
  std::string body = "{\"mode\":";
  AppendJsonString(body, mode);
  body += ",\"count\":" + std::to_string(count) + ",\"status\":" + std::to_string(status) +
          ",\"seconds\":" + FormatDouble(seconds) +
          ",\"retry_after\":" + FormatDouble(retry_after_s) + ",\"match\":";
  AppendJsonString(body, match);
  body += "}";
  return Control("POST", "/control/fail", body).status();
}

Status TestListener::ClearFailures() { return Control("POST", "/control/clear-failures").status(); }

Status TestListener::SetRateLimit(int per_minute) {
  return Control("POST", "/control/rate-limit", "{\"limit\":" + std::to_string(per_minute) + "}")
      .status();
}

Status TestListener::SetRateLimit(int limit, double window_seconds) {
  return Control("POST", "/control/rate-limit",
                 "{\"limit\":" + std::to_string(limit) +
                     ",\"window_seconds\":" + FormatDouble(window_seconds) + "}")
      .status();
}

Status TestListener::ResetRateWindow() {
  return Control("POST", "/control/reset-rate-window").status();
}

Status TestListener::SetReady(bool ready) {
  return Control("POST", "/control/ready", ready ? "{\"ready\":true}" : "{\"ready\":false}")
      .status();
}

Status TestListener::AddApiKey(const std::string& api_key, const std::string& project) {
  std::string body = "{\"api_key\":";
  AppendJsonString(body, api_key);
  body += ",\"project\":";
  AppendJsonString(body, project);
  body += "}";
  return Control("POST", "/control/api-key", body).status();
}

Status TestListener::Reset() { return Control("POST", "/control/reset").status(); }

Result<std::string> TestListener::StoredJson() const { return Control("GET", "/control/stored"); }

Result<google::protobuf::ListValue> TestListener::StoredRows() const {
  PGAGENT_ASSIGN_OR_RETURN(std::string json, StoredJson());
  google::protobuf::ListValue rows;
  auto parsed = google::protobuf::util::JsonStringToMessage(json, &rows);
  if (!parsed.ok()) {
    return DataLossError("cannot parse the listener's stored rows: " + parsed.ToString());
  }
  return rows;
}

Result<int> TestListener::StoredCount() const { return ControlCount("/control/stored-count"); }

Result<int> TestListener::CorrelationRowCount(const std::string& uuid) const {
  return ControlCount("/control/correlation-count?id=" + uuid);
}

Result<int> TestListener::WaitForStoredCount(int count, std::chrono::milliseconds timeout) const {
  auto deadline = Clock::now() + timeout;
  while (true) {
    PGAGENT_ASSIGN_OR_RETURN(int stored, StoredCount());
    if (stored >= count) return stored;
    if (Clock::now() >= deadline) {
      return DeadlineExceededError("listener stored " + std::to_string(stored) + " rows, not " +
                                   std::to_string(count) + ", within " +
                                   std::to_string(timeout.count()) + " ms");
    }
    std::this_thread::sleep_for(20ms);
  }
}

Result<int> TestListener::CountWithStatus(int http_status) const {
  return ControlCount("/control/count?status=" + std::to_string(http_status));
}

Result<std::string> TestListener::StatsJson() const { return Control("GET", "/control/stats"); }

Status TestListener::ClearStored() { return Control("POST", "/control/clear-stored").status(); }

Status TestListener::ClearStoredThrough(int64_t row_id) {
  return Control("POST", "/control/clear-stored",
                 "{\"through_row_id\":" + std::to_string(row_id) + "}")
      .status();
}

}  // namespace pgagent::testing
