#include "common/control_socket.h"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <exception>
#include <vector>

#ifndef PGAGENT_VERSION
#define PGAGENT_VERSION "unknown"
#endif

namespace pgagent {
namespace {

using Steady = std::chrono::steady_clock;
using pgagent::v1::ControlRequest;
using pgagent::v1::ControlResponse;

ControlResponse ErrorResponse(std::string message) {
  ControlResponse response;
  response.set_ok(false);
  response.set_error(std::move(message));
  return response;
}

// Milliseconds left until `deadline` (0 when passed), for poll().
int MillisLeft(Steady::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Steady::now());
  if (left.count() <= 0) return 0;
  return left.count() > 60'000 ? 60'000 : static_cast<int>(left.count());
}

// Waits until fd is ready for `events`. Errors: kDeadlineExceeded, kUnavailable.
Status WaitReady(int fd, short events, Steady::time_point deadline) {
  for (;;) {
    const int wait_ms = MillisLeft(deadline);
    if (wait_ms == 0) return DeadlineExceededError("control socket: timed out");
    pollfd p{fd, events, 0};
    const int n = poll(&p, 1, wait_ms);
    if (n > 0) return Status::Ok();
    if (n < 0 && errno != EINTR) return ErrnoStatus("control socket: poll", errno);
  }
}

Status ReadExact(int fd, char* data, size_t size, Steady::time_point deadline) {
  size_t done = 0;
  while (done < size) {
    const ssize_t n = recv(fd, data + done, size - done, MSG_DONTWAIT);
    if (n > 0) {
      done += static_cast<size_t>(n);
      continue;
    }
    if (n == 0) return UnavailableError("control socket: the peer closed the connection early");
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      return Status(StatusCode::kUnavailable,
                    std::string("control socket: read: ") + std::strerror(errno));
    }
    PGAGENT_RETURN_IF_ERROR(WaitReady(fd, POLLIN, deadline));
  }
  return Status::Ok();
}

Status WriteAll(int fd, const char* data, size_t size, Steady::time_point deadline) {
  size_t done = 0;
  while (done < size) {
    const ssize_t n = send(fd, data + done, size - done, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n > 0) {
      done += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
      return Status(StatusCode::kUnavailable,
                    std::string("control socket: write: ") + std::strerror(errno));
    }
    PGAGENT_RETURN_IF_ERROR(WaitReady(fd, POLLOUT, deadline));
  }
  return Status::Ok();
}

Result<sockaddr_un> SocketAddress(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(addr.sun_path)) {
    return InvalidArgumentError("control socket path is empty or longer than " +
                                std::to_string(sizeof(addr.sun_path) - 1) + " bytes: " + path);
  }
  std::memcpy(addr.sun_path, path.data(), path.size());
  return addr;
}

// True when a process accepts connections on the socket file at `addr`.
bool SomeoneListens(const sockaddr_un& addr) {
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  const bool listening = connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) == 0;
  close(fd);
  return listening;
}

// Removes a stale socket file left by a daemon that died.
Status RemoveStaleSocket(const std::string& path, const sockaddr_un& addr) {
  struct stat st {};
  if (lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return Status::Ok();
    return ErrnoStatus("control socket: stat " + path, errno);
  }
  if (!S_ISSOCK(st.st_mode)) {
    return AlreadyExistsError("control socket: " + path + " exists and is not a socket");
  }
  if (SomeoneListens(addr)) {
    return AlreadyExistsError("control socket: another process already serves " + path);
  }
  if (unlink(path.c_str()) != 0 && errno != ENOENT) {
    return ErrnoStatus("control socket: remove stale " + path, errno);
  }
  return Status::Ok();
}

// Binds so that the socket file is never more open than `mode`, then sets mode and group
// exactly. The bits are put on the socket's inode with fchmod() before bind() (Linux gives
// the new file those bits minus the umask), so the process-wide umask is left alone and
// other threads creating files meanwhile are unaffected.
Status BindSocket(int fd, const ControlServerOptions& options, const sockaddr_un& addr) {
  if (fchmod(fd, options.mode) != 0) return ErrnoStatus("control socket: fchmod", errno);
  if (bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
    return ErrnoStatus("control socket: bind " + options.path, errno);
  }
  if (options.group && chown(options.path.c_str(), static_cast<uid_t>(-1), *options.group) != 0) {
    return ErrnoStatus("control socket: chown " + options.path, errno);
  }
  if (chmod(options.path.c_str(), options.mode) != 0) {
    return ErrnoStatus("control socket: chmod " + options.path, errno);
  }
  if (listen(fd, 16) != 0) return ErrnoStatus("control socket: listen " + options.path, errno);
  return Status::Ok();
}

bool UserInGroup(uid_t uid, gid_t gid) {
  std::vector<char> buf(16384);
  passwd pw{};
  passwd* found = nullptr;
  if (getpwuid_r(uid, &pw, buf.data(), buf.size(), &found) != 0 || found == nullptr) {
    return false;
  }
  if (pw.pw_gid == gid) return true;
  int count = 64;
  std::vector<gid_t> groups(static_cast<size_t>(count));
  for (int attempt = 0; attempt < 3; ++attempt) {
    int n = count;
    if (getgrouplist(pw.pw_name, pw.pw_gid, groups.data(), &n) >= 0) {
      for (int i = 0; i < n; ++i) {
        if (groups[static_cast<size_t>(i)] == gid) return true;
      }
      return false;
    }
    count = n > count ? n : count * 2;
    groups.resize(static_cast<size_t>(count));
  }
  return false;
}

}  // namespace

std::string ControlSocketPath(const std::string& control_dir, const std::string& component) {
  std::string dir = control_dir;
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  return dir + "/" + component + ".ctl";
}

ControlHandler StatusOnlyControlHandler(std::string component, const Clock& clock,
                                        std::function<pgagent::v1::AgentHealth()> health,
                                        std::function<double()> last_cycle_unix_s) {
  const auto started = clock.Monotonic();
  return [component = std::move(component), &clock, health = std::move(health),
          last_cycle = std::move(last_cycle_unix_s), started](const ControlRequest& request) {
    if (!request.has_status()) {
      return ErrorResponse(component + " does not handle this request; ask shipperd");
    }
    ControlResponse response;
    response.set_ok(true);
    response.set_source(component);
    auto* status = response.mutable_status();
    status->set_component(component);
    status->set_version(PGAGENT_VERSION);
    status->set_pid(static_cast<int32_t>(getpid()));
    status->set_uptime_s(std::chrono::duration<double>(clock.Monotonic() - started).count());
    if (last_cycle) status->set_last_cycle_unix_s(last_cycle());
    if (health) *status->mutable_health() = health();
    return response;
  };
}

bool ControlPeerAllowed(uid_t peer_uid, gid_t peer_gid, uid_t daemon_uid, gid_t socket_gid) {
  if (peer_uid == 0 || peer_uid == daemon_uid) return true;
  if (peer_gid == socket_gid) return true;
  return UserInGroup(peer_uid, socket_gid);
}

Status WriteControlFrame(int fd, const std::string& bytes, Steady::time_point deadline) {
  if (bytes.size() > 0xffffffffu) return InvalidArgumentError("control frame too large");
  const uint32_t size = static_cast<uint32_t>(bytes.size());
  const char header[4] = {static_cast<char>(size >> 24), static_cast<char>(size >> 16),
                          static_cast<char>(size >> 8), static_cast<char>(size)};
  PGAGENT_RETURN_IF_ERROR(WriteAll(fd, header, sizeof(header), deadline));
  return WriteAll(fd, bytes.data(), bytes.size(), deadline);
}

Result<std::string> ReadControlFrame(int fd, size_t max_bytes, Steady::time_point deadline) {
  unsigned char header[4];
  PGAGENT_RETURN_IF_ERROR(ReadExact(fd, reinterpret_cast<char*>(header), 4, deadline));
  const uint32_t size = (uint32_t{header[0]} << 24) | (uint32_t{header[1]} << 16) |
                        (uint32_t{header[2]} << 8) | uint32_t{header[3]};
  if (size > max_bytes) {
    return ResourceExhaustedError("control frame of " + std::to_string(size) +
                                  " bytes exceeds the limit of " + std::to_string(max_bytes));
  }
  std::string bytes(size, '\0');
  PGAGENT_RETURN_IF_ERROR(ReadExact(fd, bytes.data(), size, deadline));
  return bytes;
}

// ---------------------------------------------------------------------------------------
// ControlServer

Result<std::unique_ptr<ControlServer>> ControlServer::Start(ControlServerOptions options) {
  if (!options.handler) return InvalidArgumentError("control socket: no handler");
  PGAGENT_ASSIGN_OR_RETURN(sockaddr_un addr, SocketAddress(options.path));
  PGAGENT_RETURN_IF_ERROR(RemoveStaleSocket(options.path, addr));
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return ErrnoStatus("control socket: socket", errno);
  if (Status bound = BindSocket(fd, options, addr); !bound.ok()) {
    close(fd);
    unlink(options.path.c_str());
    return bound;
  }
  struct stat st {};
  const int wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake < 0 || stat(options.path.c_str(), &st) != 0) {
    Status error = ErrnoStatus("control socket: eventfd/stat", errno);
    if (wake >= 0) close(wake);
    close(fd);
    unlink(options.path.c_str());
    return error;
  }
  return std::unique_ptr<ControlServer>(new ControlServer(std::move(options), fd, wake, st.st_gid));
}

ControlServer::ControlServer(ControlServerOptions options, int listen_fd, int wake_fd,
                             gid_t socket_gid)
    : options_(std::move(options)),
      listen_fd_(listen_fd),
      wake_fd_(wake_fd),
      socket_gid_(socket_gid),
      daemon_uid_(geteuid()) {
  thread_ = std::thread([this] { Loop(); });
}

ControlServer::~ControlServer() { Stop(); }

void ControlServer::Stop() {
  if (!thread_.joinable()) return;
  stop_ = true;
  const uint64_t one = 1;
  // A failed write leaves the loop to notice stop_ at its next poll timeout.
  [[maybe_unused]] ssize_t written = write(wake_fd_, &one, sizeof(one));
  thread_.join();
  close(listen_fd_);
  close(wake_fd_);
  unlink(options_.path.c_str());
}

void ControlServer::Loop() {
  std::vector<Connection> open;
  std::vector<pollfd> fds;
  while (!stop_) {
    fds.assign({{listen_fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}});
    auto wake_at = Steady::now() + std::chrono::seconds(1);
    for (const Connection& c : open) {
      fds.push_back({c.fd, POLLIN, 0});
      wake_at = std::min(wake_at, c.deadline);
    }
    const int n = poll(fds.data(), fds.size(), std::max(1, MillisLeft(wake_at)));
    if (stop_) break;
    if (n > 0 && (fds[0].revents & (POLLERR | POLLNVAL))) PauseUnlessStopped();
    std::vector<Connection> still_open;
    for (size_t i = 0; i < open.size(); ++i) {
      Connection& c = open[i];
      const bool ready = n > 0 && fds[i + 2].revents != 0;
      if (ready && ReadAvailable(c)) continue;
      if (!ready && Steady::now() >= c.deadline) {
        Finish(c, DeadlineExceededError("control socket: timed out waiting for the request"));
        continue;
      }
      still_open.push_back(std::move(c));
    }
    open = std::move(still_open);
    if (n > 0 && (fds[0].revents & POLLIN)) AcceptAll(open);
  }
  for (Connection& c : open) close(c.fd);
}

void ControlServer::AcceptAll(std::vector<Connection>& open) {
  for (int i = 0; i < 64; ++i) {
    const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) {
      // EAGAIN/ECONNABORTED: the client gave up. EMFILE/ENFILE/ENOMEM would make poll()
      // report the pending connection again at once: pause instead of spinning.
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED) {
        ++counters_.io_errors;
        PauseUnlessStopped();
      }
      return;
    }
    if (open.size() >= options_.max_connections) {
      ++counters_.io_errors;  // the oldest waiting connection makes room
      close(open.front().fd);
      open.erase(open.begin());
    }
    open.push_back(Connection{fd, Steady::now() + options_.io_timeout, {}});
  }
}

bool ControlServer::ReadAvailable(Connection& c) {
  char buf[4096];
  for (;;) {
    size_t want = sizeof(buf);
    if (c.bytes.size() >= 4) {
      const auto* h = reinterpret_cast<const unsigned char*>(c.bytes.data());
      const uint32_t size =
          (uint32_t{h[0]} << 24) | (uint32_t{h[1]} << 16) | (uint32_t{h[2]} << 8) | uint32_t{h[3]};
      if (size > options_.max_request_bytes) {
        Finish(c, ResourceExhaustedError("control frame of " + std::to_string(size) +
                                         " bytes exceeds the limit of " +
                                         std::to_string(options_.max_request_bytes)));
        return true;
      }
      if (c.bytes.size() == 4 + size_t{size}) {
        Finish(c, c.bytes.substr(4));
        return true;
      }
      want = std::min(want, 4 + size_t{size} - c.bytes.size());
    } else {
      want = 4 - c.bytes.size();
    }
    const ssize_t got = recv(c.fd, buf, want, MSG_DONTWAIT);
    if (got > 0) {
      c.bytes.append(buf, static_cast<size_t>(got));
      continue;
    }
    if (got < 0 && errno == EINTR) continue;
    if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return false;
    Finish(c, got == 0
                  ? UnavailableError("control socket: the peer closed the connection early")
                  : UnavailableError(std::string("control socket: read: ") + std::strerror(errno)));
    return true;
  }
}

void ControlServer::PauseUnlessStopped() {
  pollfd wake{wake_fd_, POLLIN, 0};
  poll(&wake, 1, 100);
}

void ControlServer::Finish(Connection& c, Result<std::string> frame) {
  if (!frame.ok() && frame.status().code() == StatusCode::kUnavailable) {
    ++counters_.io_errors;  // the peer hung up (or the read failed): nobody to answer
    close(c.fd);
    c.fd = -1;
    return;
  }
  ControlResponse response = Answer(c.fd, std::move(frame));
  Reply(c.fd, response, Steady::now() + options_.io_timeout);
  close(c.fd);
  c.fd = -1;
}

Result<pgagent::v1::ControlRequest> ControlServer::ParseRequest(Result<std::string> frame) {
  if (!frame.ok()) {
    if (frame.status().code() == StatusCode::kResourceExhausted) ++counters_.malformed;
    return frame.status();
  }
  ControlRequest request;
  if (!request.ParseFromString(*frame)) {
    ++counters_.malformed;
    return InvalidArgumentError("malformed control request (not a pgagent.v1.ControlRequest)");
  }
  return request;
}

ControlResponse ControlServer::Answer(int fd, Result<std::string> frame) {
  // The request is read before the credential check so that a refused client reads our
  // answer instead of a reset.
  auto request = ParseRequest(std::move(frame));
  ucred cred{};
  socklen_t len = sizeof(cred);
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 ||
      !ControlPeerAllowed(cred.uid, cred.gid, daemon_uid_, socket_gid_)) {
    ++counters_.refused;
    return ErrorResponse("permission denied: uid " + std::to_string(cred.uid) +
                         " is neither root, the daemon's user, nor in the socket's group (gid " +
                         std::to_string(socket_gid_) + ")");
  }
  if (!request.ok()) {
    const StatusCode code = request.status().code();
    if (code != StatusCode::kInvalidArgument && code != StatusCode::kResourceExhausted) {
      ++counters_.io_errors;
    }
    return ErrorResponse(request.status().message());
  }
  try {
    ControlResponse response = options_.handler(*request);
    ++counters_.served;
    return response;
  } catch (const std::exception& e) {
    return ErrorResponse(std::string("internal error: ") + e.what());
  }
}

void ControlServer::Reply(int fd, const ControlResponse& response, Steady::time_point deadline) {
  std::string bytes;
  if (!response.SerializeToString(&bytes)) {
    bytes.clear();
    ErrorResponse("internal error: the response could not be serialized").SerializeToString(&bytes);
  } else if (bytes.size() > options_.max_response_bytes) {
    bytes.clear();
    ErrorResponse("response of " + std::to_string(response.ByteSizeLong()) +
                  " bytes exceeds the limit of " + std::to_string(options_.max_response_bytes) +
                  "; ask for fewer items")
        .SerializeToString(&bytes);
  }
  if (!WriteControlFrame(fd, bytes, deadline).ok()) ++counters_.io_errors;
}

// ---------------------------------------------------------------------------------------
// ControlClient

namespace {

Status ConnectError(const std::string& path, int err) {
  switch (err) {
    case ENOENT:
      return NotFoundError("no control socket at " + path);
    case ECONNREFUSED:
      return UnavailableError("nobody listens on " + path + " (stale socket)");
    case EACCES:
    case EPERM:
      return PermissionDeniedError("permission denied on " + path +
                                   ": run as root or as a member of the socket's group");
    case EAGAIN:
    case EINPROGRESS:
    case ETIMEDOUT:
      return DeadlineExceededError("timed out connecting to " + path);
    default:
      return UnavailableError("cannot connect to " + path + ": " + std::strerror(err));
  }
}

Result<int> Connect(const std::string& path, std::chrono::milliseconds timeout) {
  PGAGENT_ASSIGN_OR_RETURN(sockaddr_un addr, SocketAddress(path));
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return ErrnoStatus("control socket: socket", errno);
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));  // bounds a full backlog
  if (connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
    const int err = errno;
    close(fd);
    return ConnectError(path, err);
  }
  const int flags = fcntl(fd, F_GETFL, 0);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) {
    const int err = errno;
    close(fd);
    return ErrnoStatus("control socket: fcntl", err);
  }
  return fd;
}

}  // namespace

Result<ControlResponse> ControlClient::Call(const std::string& path, const ControlRequest& request,
                                            std::chrono::milliseconds timeout) {
  const Steady::time_point deadline = Steady::now() + timeout;
  std::string bytes;
  if (!request.SerializeToString(&bytes) || bytes.size() > kControlMaxRequestBytes) {
    return InvalidArgumentError("control request too large or not serializable");
  }
  PGAGENT_ASSIGN_OR_RETURN(int fd, Connect(path, timeout));
  Status written = WriteControlFrame(fd, bytes, deadline);
  auto frame = written.ok() ? ReadControlFrame(fd, kControlMaxResponseBytes, deadline)
                            : Result<std::string>(written);
  close(fd);
  if (!frame.ok()) {
    if (frame.status().code() == StatusCode::kResourceExhausted) {
      return DataLossError(frame.status().message());
    }
    if (frame.status().code() == StatusCode::kUnavailable) {
      return AbortedError(path + ": " + frame.status().message());
    }
    return frame.status().WithContext(path);
  }
  ControlResponse response;
  if (!response.ParseFromString(*frame)) {
    return DataLossError("malformed control response from " + path);
  }
  return response;
}

}  // namespace pgagent
