// The control socket of a daemon: a UNIX stream socket (e.g. /run/pgagent/shipperd.ctl)
// on which pgagentctl asks one question per connection.
//
// Wire format, both directions: a 4-byte big-endian length, then that many bytes of a
// serialized pgagent.v1.ControlRequest (client -> daemon) or ControlResponse (daemon ->
// client). The daemon answers every connection it accepts with exactly one response and
// closes it. Requests over max_request_bytes and bytes that do not parse get an error
// response (ok = false) and are counted; they never stop the server.
//
// Who may ask (two layers):
//  1. The file system: the socket file is created with mode 0660 (never more open, even for
//     an instant: the mode is set on the socket before bind(), then again with chmod), owned
//     by the daemon's user and group (or `group`); connect() needs write permission on it, so
//     only that user, members of that group and root get through.
//  2. SO_PEERCRED, checked on every connection, in case the file's mode or directory was
//     loosened: the peer's uid must be 0 (root) or the daemon's effective uid, or the
//     peer's primary gid or one of its user's groups (getgrouplist) must be the socket
//     file's group. Anyone else gets ok = false, "permission denied: ..." and is counted.
// So the administrator grants pgagentctl access by adding a DBA to the daemon's group.
//
// Threads: ControlServer owns one thread that accepts connections and reads the requests of
// all open connections at once (poll() over up to max_connections of them), so idle or slow
// clients delay nobody: each must deliver its request within io_timeout of connecting, or it
// gets a "timed out" answer and is closed (counted as io_errors). Complete requests are
// answered one at a time on that thread, calling the handler there; writing an answer is
// bounded by io_timeout. Beyond max_connections open ones, the oldest is closed.
// Start() and Stop() belong to the owning thread; counters() may be read from any thread.
// ControlClient::Call is reentrant.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "common/clock.h"
#include "common/status.h"
#include "pgagent/v1/control.pb.h"

namespace pgagent {

inline constexpr size_t kControlMaxRequestBytes = 64 * 1024;
inline constexpr size_t kControlMaxResponseBytes = 16 * 1024 * 1024;

// "<control_dir>/<component>.ctl", e.g. ControlSocketPath("/run/pgagent", "shipperd").
std::string ControlSocketPath(const std::string& control_dir, const std::string& component);

// Answers one request. Called on the server's thread; must not throw. A handler that
// fails sets ok = false and error in the response.
using ControlHandler =
    std::function<pgagent::v1::ControlResponse(const pgagent::v1::ControlRequest&)>;

// A handler for a daemon that answers only `status` (collectord): component, version, pid,
// uptime (since this call, on `clock`), and last_cycle_unix_s / health from the callbacks
// (each may be nullptr: left unset; called on the server's thread, so thread-safe). Other
// requests get ok = false, "<component> does not handle this request; ask shipperd".
// REQUIRES: clock outlives the handler.
ControlHandler StatusOnlyControlHandler(std::string component, const Clock& clock,
                                        std::function<pgagent::v1::AgentHealth()> health,
                                        std::function<double()> last_cycle_unix_s);

struct ControlServerOptions {
  std::string path;  // socket file; its directory must exist
  ControlHandler handler;
  // Mode of the socket file. Tests may loosen it to reach the SO_PEERCRED check.
  mode_t mode = 0660;
  // Group of the socket file; nullopt keeps the creating process's (or the directory's
  // setgid) group.
  std::optional<gid_t> group;
  size_t max_request_bytes = kControlMaxRequestBytes;
  size_t max_response_bytes = kControlMaxResponseBytes;
  std::chrono::milliseconds io_timeout{2000};
  size_t max_connections = 64;
};

struct ControlServerCounters {
  std::atomic<uint64_t> served{0};     // requests answered by the handler
  std::atomic<uint64_t> malformed{0};  // bad length, unparsable bytes, truncated frames
  std::atomic<uint64_t> refused{0};    // peers refused by the SO_PEERCRED check
  std::atomic<uint64_t> io_errors{0};  // timeouts and resets while reading or writing
};

// Whether a peer with these credentials may use a socket whose file belongs to
// socket_gid, for a daemon running as daemon_uid (the rule above). Exposed for tests.
bool ControlPeerAllowed(uid_t peer_uid, gid_t peer_gid, uid_t daemon_uid, gid_t socket_gid);

class ControlServer {
 public:
  // Binds the socket (a stale socket file at `path` is removed first; any other kind of
  // file there is an error) and starts the thread.
  // Errors: kInvalidArgument for an empty/too long path or no handler; kAlreadyExists when
  // a non-socket file is in the way or another process serves the socket; kPermissionDenied
  // / kUnavailable for socket errors.
  static Result<std::unique_ptr<ControlServer>> Start(ControlServerOptions options);
  // Stops the thread and removes the socket file.
  ~ControlServer();
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  // Stops accepting, finishes the connection being served (bounded by io_timeout), joins
  // the thread and unlinks the socket file. Idempotent.
  void Stop();

  const std::string& path() const { return options_.path; }
  const ControlServerCounters& counters() const { return counters_; }

 private:
  ControlServer(ControlServerOptions options, int listen_fd, int wake_fd, gid_t socket_gid);
  // A connection whose request is still being read.
  struct Connection {
    int fd = -1;
    std::chrono::steady_clock::time_point deadline;
    std::string bytes;  // received so far: the 4-byte length, then the request
  };
  void Loop();
  void AcceptAll(std::vector<Connection>& open);
  // Reads what is available. True when the connection is done with (answered or broken).
  bool ReadAvailable(Connection& c);
  // Waits 100 ms, or less when Stop() is called.
  void PauseUnlessStopped();
  // Answers (from a complete frame or the error that ended reading it) and closes.
  void Finish(Connection& c, Result<std::string> frame);
  // Parses the request; on failure returns the error to answer.
  Result<pgagent::v1::ControlRequest> ParseRequest(Result<std::string> frame);
  pgagent::v1::ControlResponse Answer(int fd, Result<std::string> frame);
  void Reply(int fd, const pgagent::v1::ControlResponse& response,
             std::chrono::steady_clock::time_point deadline);

  ControlServerOptions options_;
  int listen_fd_;
  int wake_fd_;  // eventfd: Stop() wakes the poll
  gid_t socket_gid_;
  uid_t daemon_uid_;
  std::atomic<bool> stop_{false};
  ControlServerCounters counters_;
  std::thread thread_;
};

class ControlClient {
 public:
  // Connects to `path`, sends `request`, waits for the response; the whole call is bounded
  // by `timeout`. Errors: kNotFound when there is no socket file (daemon down);
  // kUnavailable when nobody listens on it (stale socket: daemon down); kAborted when the
  // connection breaks after connecting; kPermissionDenied when the file system refuses (not
  // in the socket's group);
  // kDeadlineExceeded on timeout; kDataLoss for a malformed or oversized response.
  // A response with ok = false (e.g. refused by SO_PEERCRED) is returned as a value.
  static Result<pgagent::v1::ControlResponse> Call(const std::string& path,
                                                   const pgagent::v1::ControlRequest& request,
                                                   std::chrono::milliseconds timeout);
};

// Framing helpers used by both sides (exposed for the tests that send malformed frames).
// Writes length + bytes before `deadline`. Errors: kDeadlineExceeded, kUnavailable.
Status WriteControlFrame(int fd, const std::string& bytes,
                         std::chrono::steady_clock::time_point deadline);
// Reads one frame of at most max_bytes. Errors: kDeadlineExceeded; kUnavailable when the
// peer closed early or the read failed; kResourceExhausted when the length exceeds max_bytes.
Result<std::string> ReadControlFrame(int fd, size_t max_bytes,
                                     std::chrono::steady_clock::time_point deadline);

}  // namespace pgagent
