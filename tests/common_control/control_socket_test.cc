#include "common/control_socket.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <string>
#include <thread>

#include "tests/common_control/control_test_util.h"
#include "tests/fakes/fake_clock.h"

namespace pgagent {
namespace {

using namespace std::chrono_literals;
using pgagent::testing::ControlTempDir;
using pgagent::v1::ControlRequest;
using pgagent::v1::ControlResponse;

ControlResponse EchoComponent(const ControlRequest& request) {
  ControlResponse response;
  response.set_ok(true);
  response.mutable_status()->set_component(request.has_status() ? "test-daemon" : "other");
  return response;
}

ControlRequest StatusRequest() {
  ControlRequest request;
  request.mutable_status();
  return request;
}

// A connected raw client socket, for sending malformed frames. -1 on failure.
int RawConnect(const std::string& path) {
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path.c_str());
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

ControlResponse ReadResponse(int fd) {
  auto frame =
      ReadControlFrame(fd, kControlMaxResponseBytes, std::chrono::steady_clock::now() + 5s);
  ControlResponse response;
  if (frame.ok()) response.ParseFromString(*frame);
  return response;
}

class ControlSocketTest : public ::testing::Test {
 protected:
  std::unique_ptr<ControlServer> StartServer(ControlServerOptions options = {}) {
    if (options.path.empty()) options.path = socket_path_;
    if (!options.handler) options.handler = EchoComponent;
    auto server = ControlServer::Start(std::move(options));
    EXPECT_TRUE(server.ok()) << server.status().ToString();
    return server.ok() ? std::move(*server) : nullptr;
  }

  ControlTempDir dir_;
  std::string socket_path_ = dir_.File("shipperd.ctl");
};

TEST_F(ControlSocketTest, ServerAnswersARequestWithTheHandlersResponse) {
  auto server = StartServer();
  auto response = ControlClient::Call(socket_path_, StatusRequest(), 5s);
  ASSERT_TRUE(response.ok()) << response.status().ToString();
  EXPECT_TRUE(response->ok());
  EXPECT_EQ(response->status().component(), "test-daemon");
  EXPECT_EQ(server->counters().served.load(), 1u);
}

TEST_F(ControlSocketTest, ServesManyRequestsOneAfterAnother) {
  auto server = StartServer();
  for (int i = 0; i < 20; ++i) {
    auto response = ControlClient::Call(socket_path_, StatusRequest(), 5s);
    ASSERT_TRUE(response.ok()) << response.status().ToString();
  }
  EXPECT_EQ(server->counters().served.load(), 20u);
}

TEST_F(ControlSocketTest, TwentyIdleConnectionsDoNotDelayARequest) {
  ControlServerOptions options;
  options.io_timeout = 2000ms;
  auto server = StartServer(std::move(options));
  std::vector<int> idle;
  for (int i = 0; i < 20; ++i) {
    const int fd = RawConnect(socket_path_);
    ASSERT_GE(fd, 0);
    idle.push_back(fd);
  }
  // One more that sends half a request and stalls.
  const int slow = RawConnect(socket_path_);
  ASSERT_GE(slow, 0);
  ASSERT_EQ(send(slow, "\0\0", 2, 0), 2);
  // Served one at a time, each idle connection would hold the server for io_timeout (40 s in
  // all): the answer comes well within one second instead.
  for (int i = 0; i < 3; ++i) {
    auto response = ControlClient::Call(socket_path_, StatusRequest(), 1000ms);
    ASSERT_TRUE(response.ok()) << response.status().ToString();
    EXPECT_EQ(response->status().component(), "test-daemon");
  }
  // The idle ones are answered "timed out" after io_timeout and closed, and counted.
  ControlResponse timed_out = ReadResponse(idle[0]);
  EXPECT_FALSE(timed_out.ok());
  EXPECT_NE(timed_out.error().find("timed out"), std::string::npos) << timed_out.error();
  const auto until = std::chrono::steady_clock::now() + 10s;
  while (server->counters().io_errors.load() < 21 && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(10ms);  // waits for the server's own deadlines to pass
  }
  EXPECT_EQ(server->counters().io_errors.load(), 21u);
  for (int fd : idle) close(fd);
  close(slow);
  EXPECT_EQ(server->counters().served.load(), 3u);
}

TEST_F(ControlSocketTest, ConnectionsBeyondTheLimitCloseTheOldestWaitingOne) {
  ControlServerOptions options;
  options.max_connections = 4;
  options.io_timeout = 10s;
  auto server = StartServer(std::move(options));
  std::vector<int> idle;
  for (int i = 0; i < 8; ++i) idle.push_back(RawConnect(socket_path_));
  auto response = ControlClient::Call(socket_path_, StatusRequest(), 2000ms);
  ASSERT_TRUE(response.ok()) << response.status().ToString();
  char byte;
  EXPECT_EQ(recv(idle[0], &byte, 1, 0), 0);  // closed to make room
  for (int fd : idle) close(fd);
}

TEST_F(ControlSocketTest, SocketPathIsTheControlDirPlusTheComponentName) {
  EXPECT_EQ(ControlSocketPath("/run/pgagent", "shipperd"), "/run/pgagent/shipperd.ctl");
  EXPECT_EQ(ControlSocketPath("/run/pgagent/", "collectord"), "/run/pgagent/collectord.ctl");
}

TEST_F(ControlSocketTest, SocketFileIsCreatedWithMode0660) {
  auto server = StartServer();
  struct stat st {};
  ASSERT_EQ(stat(socket_path_.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0660u);
}

TEST_F(ControlSocketTest, StopRemovesTheSocketFile) {
  auto server = StartServer();
  server->Stop();
  EXPECT_NE(access(socket_path_.c_str(), F_OK), 0);
  server->Stop();  // idempotent
}

TEST_F(ControlSocketTest, ClientReportsNotFoundWhenThereIsNoSocket) {
  auto response = ControlClient::Call(socket_path_, StatusRequest(), 2s);
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), StatusCode::kNotFound);
}

TEST_F(ControlSocketTest, ClientReportsUnavailableForAStaleSocketAndStartReplacesIt) {
  // A socket file nobody listens on, as a crashed daemon leaves behind.
  const int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", socket_path_.c_str());
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  close(fd);
  auto stale = ControlClient::Call(socket_path_, StatusRequest(), 2s);
  ASSERT_FALSE(stale.ok());
  EXPECT_EQ(stale.status().code(), StatusCode::kUnavailable);

  auto server = StartServer();
  auto response = ControlClient::Call(socket_path_, StatusRequest(), 5s);
  ASSERT_TRUE(response.ok()) << response.status().ToString();
}

TEST_F(ControlSocketTest, StartRefusesWhenAnotherServerServesThePath) {
  auto first = StartServer();
  ControlServerOptions options;
  options.path = socket_path_;
  options.handler = EchoComponent;
  auto second = ControlServer::Start(options);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kAlreadyExists);
  EXPECT_TRUE(ControlClient::Call(socket_path_, StatusRequest(), 5s).ok());
}

TEST_F(ControlSocketTest, StartRefusesToRemoveAFileThatIsNotASocket) {
  std::ofstream(socket_path_) << "precious";
  ControlServerOptions options;
  options.path = socket_path_;
  options.handler = EchoComponent;
  auto server = ControlServer::Start(options);
  ASSERT_FALSE(server.ok());
  EXPECT_EQ(server.status().code(), StatusCode::kAlreadyExists);
  std::ifstream in(socket_path_);
  std::string content;
  in >> content;
  EXPECT_EQ(content, "precious");
}

TEST_F(ControlSocketTest, StartRejectsAPathTooLongForASocket) {
  ControlServerOptions options;
  options.path = dir_.File(std::string(120, 'x'));
  options.handler = EchoComponent;
  auto server = ControlServer::Start(options);
  ASSERT_FALSE(server.ok());
  EXPECT_EQ(server.status().code(), StatusCode::kInvalidArgument);
}

TEST_F(ControlSocketTest, OversizedRequestGetsAnErrorResponseAndIsCounted) {
  auto server = StartServer();
  const int fd = RawConnect(socket_path_);
  ASSERT_GE(fd, 0);
  const unsigned char header[4] = {0x00, 0x10, 0x00, 0x00};  // 1 MiB > 64 KiB
  ASSERT_EQ(write(fd, header, 4), 4);
  ControlResponse response = ReadResponse(fd);
  close(fd);
  EXPECT_FALSE(response.ok());
  EXPECT_NE(response.error().find("exceeds the limit"), std::string::npos) << response.error();
  EXPECT_EQ(server->counters().malformed.load(), 1u);
  EXPECT_TRUE(ControlClient::Call(socket_path_, StatusRequest(), 5s).ok());
}

TEST_F(ControlSocketTest, UnparsableRequestGetsAnErrorResponseAndIsCounted) {
  auto server = StartServer();
  const int fd = RawConnect(socket_path_);
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(WriteControlFrame(fd, std::string("\xff\xff\xff\xff\xff", 5),
                                std::chrono::steady_clock::now() + 5s)
                  .ok());
  ControlResponse response = ReadResponse(fd);
  close(fd);
  EXPECT_FALSE(response.ok());
  EXPECT_NE(response.error().find("malformed"), std::string::npos) << response.error();
  EXPECT_EQ(server->counters().malformed.load(), 1u);
  EXPECT_EQ(server->counters().served.load(), 0u);
}

TEST_F(ControlSocketTest, EmptyRequestReachesTheHandler) {
  auto server = StartServer();
  auto response = ControlClient::Call(socket_path_, ControlRequest(), 5s);
  ASSERT_TRUE(response.ok()) << response.status().ToString();
  EXPECT_EQ(response->status().component(), "other");
}

TEST_F(ControlSocketTest, AStuckClientDoesNotBlockTheNextOne) {
  ControlServerOptions options;
  options.io_timeout = 300ms;
  auto server = StartServer(options);
  const int stuck = RawConnect(socket_path_);
  ASSERT_GE(stuck, 0);
  ASSERT_EQ(write(stuck, "\x00\x00", 2), 2);  // half a header, then nothing
  auto response = ControlClient::Call(socket_path_, StatusRequest(), 5s);
  ASSERT_TRUE(response.ok()) << response.status().ToString();
  EXPECT_TRUE(response->ok());
  // The stuck client's deadline (300 ms) may pass after the answer: wait for it, bounded.
  const auto until = std::chrono::steady_clock::now() + 5s;
  while (server->counters().io_errors.load() == 0 && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(20ms);
  }
  close(stuck);
  EXPECT_EQ(server->counters().io_errors.load(), 1u);
}

TEST_F(ControlSocketTest, ResponseOverTheCapBecomesAnErrorResponse) {
  ControlServerOptions options;
  options.max_response_bytes = 1000;
  options.handler = [](const ControlRequest&) {
    ControlResponse response;
    response.set_ok(true);
    response.mutable_status()->set_version(std::string(5000, 'v'));
    return response;
  };
  auto server = StartServer(options);
  auto response = ControlClient::Call(socket_path_, StatusRequest(), 5s);
  ASSERT_TRUE(response.ok()) << response.status().ToString();
  EXPECT_FALSE(response->ok());
  EXPECT_NE(response->error().find("ask for fewer"), std::string::npos);
}

TEST_F(ControlSocketTest, ClientTimesOutWhenTheHandlerIsSlowerThanTheDeadline) {
  std::atomic<bool> release{false};
  ControlServerOptions options;
  options.handler = [&release](const ControlRequest& request) {
    // Bounded wait: the test releases it right after the client gave up.
    for (int i = 0; i < 500 && !release; ++i) std::this_thread::sleep_for(10ms);
    return EchoComponent(request);
  };
  auto server = StartServer(options);
  auto response = ControlClient::Call(socket_path_, StatusRequest(), 200ms);
  release = true;
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), StatusCode::kDeadlineExceeded);
}

TEST(StatusOnlyControlHandlerTest, AnswersStatusFromTheCallbacks) {
  FakeClock clock;
  ControlHandler handler = StatusOnlyControlHandler(
      "collectord", clock,
      [] {
        pgagent::v1::AgentHealth health;
        health.set_db_state("connected");
        return health;
      },
      [] { return 1767225000.0; });
  clock.Advance(61s);
  ControlResponse response = handler(StatusRequest());
  ASSERT_TRUE(response.ok());
  EXPECT_EQ(response.source(), "collectord");
  EXPECT_EQ(response.status().component(), "collectord");
  EXPECT_EQ(response.status().version(), PGAGENT_VERSION);
  EXPECT_DOUBLE_EQ(response.status().uptime_s(), 61.0);
  EXPECT_DOUBLE_EQ(response.status().last_cycle_unix_s(), 1767225000.0);
  EXPECT_EQ(response.status().health().db_state(), "connected");
  EXPECT_EQ(response.status().pid(), getpid());
}

TEST(StatusOnlyControlHandlerTest, RefusesQueueRequests) {
  FakeClock clock;
  ControlHandler handler = StatusOnlyControlHandler("collectord", clock, nullptr, nullptr);
  ControlRequest request;
  request.mutable_queue_stats();
  ControlResponse response = handler(request);
  EXPECT_FALSE(response.ok());
  EXPECT_NE(response.error().find("ask shipperd"), std::string::npos);
  EXPECT_FALSE(handler(StatusRequest()).status().has_health());
}

// ---------------------------------------------------------------------------------------
// Who may ask

TEST(ControlPeerAllowedTest, AllowsRootTheDaemonsUserAndTheSocketsGroup) {
  EXPECT_TRUE(ControlPeerAllowed(0, 0, 1000, 1000));
  EXPECT_TRUE(ControlPeerAllowed(1000, 5, 1000, 1000));
  EXPECT_TRUE(ControlPeerAllowed(1234, 1000, 1000, 1000));
  // nobody's primary group (from the user database) is nogroup.
  EXPECT_TRUE(ControlPeerAllowed(testing::kNobodyUid, 0, 1000, testing::kNogroupGid));
}

TEST(ControlPeerAllowedTest, RefusesOthers) {
  EXPECT_FALSE(ControlPeerAllowed(testing::kNobodyUid, testing::kNogroupGid, 1000, 0));
  EXPECT_FALSE(ControlPeerAllowed(424242, 424242, 1000, 0));  // not in the user database
}

class ControlSocketPermissionTest : public ControlSocketTest {
 protected:
  void SetUp() override {
    ASSERT_EQ(geteuid(), 0u) << "the permission tests run as root (they setuid to nobody)";
    ASSERT_EQ(chmod(dir_.path().c_str(), 0755), 0);  // let nobody reach the socket file
  }
  // In a child running as nobody: 0 = answered ok, 1 = refused by the daemon (ok=false,
  // "permission denied"), 2 = kPermissionDenied from connect(), 3 = anything else.
  int CallAsNobody() {
    const std::string path = socket_path_;
    return testing::RunAsNobody([path] {
      auto response = ControlClient::Call(path, StatusRequest(), 5s);
      if (!response.ok()) return response.status().code() == StatusCode::kPermissionDenied ? 2 : 3;
      if (response->ok()) return 0;
      return response->error().find("permission denied") != std::string::npos ? 1 : 3;
    });
  }
};

TEST_F(ControlSocketPermissionTest, FileModeKeepsOutUsersOutsideTheGroup) {
  auto server = StartServer();  // 0660, group root
  EXPECT_EQ(CallAsNobody(), 2);
}

TEST_F(ControlSocketPermissionTest, PeerCredentialsRefuseOutsidersEvenWhenTheFileModeIsLoose) {
  ControlServerOptions options;
  options.mode = 0666;  // a mistake the SO_PEERCRED check must catch
  auto server = StartServer(options);
  EXPECT_EQ(CallAsNobody(), 1);
  EXPECT_EQ(server->counters().refused.load(), 1u);
  EXPECT_EQ(server->counters().served.load(), 0u);
}

TEST_F(ControlSocketPermissionTest, MembersOfTheSocketsGroupAreAnswered) {
  ControlServerOptions options;
  options.group = testing::kNogroupGid;
  auto server = StartServer(options);
  struct stat st {};
  ASSERT_EQ(stat(socket_path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_gid, testing::kNogroupGid);
  EXPECT_EQ(CallAsNobody(), 0);
  EXPECT_EQ(server->counters().served.load(), 1u);
}

}  // namespace
}  // namespace pgagent
