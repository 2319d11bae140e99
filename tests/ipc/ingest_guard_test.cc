// shipperd's ingest against records it cannot store and senders it must not trust, with real
// ipc:// sockets, real LMDB files and (for the hostile sender) a second process running as
// another user:
//  - a record larger than the buffer cap is dead-lettered and the records behind it flow;
//  - a process that is not the collector cannot speak for the collector's boot;
//  - a buffer that keeps failing is logged once per failure streak, not once per resend.
#include <grp.h>
#include <gtest/gtest.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <mutex>
#include <thread>
#include <zmq.hpp>

#include "collectord/outbox/zmq_outbox.h"
#include "common/ipc_frame.h"
#include "common/log.h"
#include "shared/buffer/lmdb_buffer.h"
#include "shipperd/ingest/ingest_server.h"
#include "shipperd/shipper_daemon.h"
#include "tests/fakes/fake_record_buffer.h"
#include "tests/fakes/fake_transport.h"
#include "tests/harness/subprocess.h"
#include "tests/support/child_process.h"

namespace pgagent {
namespace {

using namespace std::chrono_literals;
using pgagent::v1::Frame;
using pgagent::v1::Record;

Record SystemRecord(uint64_t n) {
  Record r;
  r.set_kind(pgagent::v1::RECORD_KIND_SYSTEM);
  r.mutable_collected_at()->set_seconds(1795773600);
  r.mutable_system()->set_interval_s(static_cast<double>(n));
  return r;
}

Record LogRecord(size_t message_bytes) {
  Record r;
  r.set_kind(pgagent::v1::RECORD_KIND_LOG);
  r.mutable_collected_at()->set_seconds(1795773600);
  auto* e = r.mutable_log()->add_entries();
  e->set_level("LOG");
  e->set_message(std::string(message_bytes, 'x'));
  return r;
}

// Captures the journal lines of this process for the test's lifetime.
class LogCapture {
 public:
  LogCapture() {
    log::SetSinkForTest([this](const std::string& line) {
      std::lock_guard<std::mutex> lock(mu_);
      lines_.push_back(line);
    });
  }
  ~LogCapture() { log::SetSinkForTest(nullptr); }
  int Count(const std::string& event) {
    std::lock_guard<std::mutex> lock(mu_);
    int n = 0;
    for (const auto& l : lines_) n += l.find("\"event\":\"" + event + "\"") != std::string::npos;
    return n;
  }
  std::string All() {
    std::lock_guard<std::mutex> lock(mu_);
    std::string out;
    for (const auto& l : lines_) out += l + "\n";
    return out;
  }

 private:
  std::mutex mu_;
  std::vector<std::string> lines_;
};

class IngestGuardTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = testing::MakeTempDir("pgagent-ingest-guard-");
    ASSERT_TRUE(dir.ok());
    dir_ = *dir;
    runtime_dir_ = dir_ + "/run";
    buffer_dir_ = dir_ + "/buffer";
  }
  void TearDown() override { testing::RemoveTree(dir_); }

  std::unique_ptr<ZmqOutbox> Collector() {
    ZmqOutboxOptions oo;
    oo.endpoint = IngestEndpoint(runtime_dir_);
    auto outbox = ZmqOutbox::Connect(oo, SystemClock::Instance());
    EXPECT_TRUE(outbox.ok());
    return outbox.ok() ? std::move(*outbox) : nullptr;
  }

  // Pumps both ends until `want` records are acknowledged (false on timeout).
  static bool PumpUntilAcked(ZmqOutbox& outbox, IngestServer& server, size_t want,
                             std::vector<Record>* acked) {
    return testing::WaitUntil(
        [&] {
          outbox.Poll(1ms, acked);
          EXPECT_TRUE(server.Poll(5ms).ok());
          return acked->size() >= want;
        },
        30s);
  }

  std::string dir_, runtime_dir_, buffer_dir_;
};

// ---------------------------------------------------------------------------------------
// A record that can never be stored

TEST_F(IngestGuardTest, ARecordLargerThanTheBufferCapIsDeadLetteredAndTheRecordsBehindItFlow) {
  LogCapture journal;
  LmdbBufferOptions bo;
  bo.path = buffer_dir_;
  bo.max_size_mb = 1;  // a 1.3 MB log record can never be stored
  auto buffer = LmdbBuffer::Open(bo);
  ASSERT_TRUE(buffer.ok()) << buffer.status().ToString();
  IngestOptions io;
  io.runtime_dir = runtime_dir_;
  auto server = IngestServer::Bind(io, **buffer, SystemClock::Instance());
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  auto outbox = Collector();
  ASSERT_NE(outbox, nullptr);

  for (uint64_t n = 1; n <= 5; ++n) ASSERT_TRUE(outbox->Offer(SystemRecord(n)).ok());
  ASSERT_TRUE(outbox->Offer(LogRecord(1344745)).ok());
  for (uint64_t n = 6; n <= 100; ++n) ASSERT_TRUE(outbox->Offer(SystemRecord(n)).ok());
  std::vector<Record> acked;
  ASSERT_TRUE(PumpUntilAcked(*outbox, **server, 101, &acked)) << acked.size() << " acked";

  // Every storable record is stored, in order, once.
  auto items = (*buffer)->Peek(1000);
  ASSERT_TRUE(items.ok());
  ASSERT_EQ(items->size(), 100u);
  for (size_t i = 0; i < items->size(); ++i) {
    EXPECT_EQ((*items)[i].record.system().interval_s(), static_cast<double>(i + 1));
  }
  // The unstorable one is kept as a dead letter, whole, with the reason.
  auto letters = (*buffer)->ListDeadLetters(10);
  ASSERT_TRUE(letters.ok());
  ASSERT_EQ(letters->size(), 1u);
  EXPECT_EQ((*letters)[0].records.at(0).id().seq(), 6u);
  EXPECT_EQ((*letters)[0].records.at(0).log().entries(0).message().size(), 1344745u);
  EXPECT_NE((*letters)[0].response_body.find("larger than the buffer cap"), std::string::npos)
      << (*letters)[0].response_body;
  const IngestStats stats = (*server)->stats();
  EXPECT_EQ(stats.unstorable_records, 1u);
  EXPECT_EQ(stats.unstorable_dropped, 0u);
  EXPECT_EQ(stats.buffer_errors, 0u);
  EXPECT_EQ(stats.records_stored, 100u);
  EXPECT_EQ(journal.Count("ingest.record_dead_lettered"), 1) << journal.All();

  // A restart of shipperd resumes after it: nothing is asked for again.
  auto hwm = (*buffer)->HighWaterMark(outbox->boot_id());
  ASSERT_TRUE(hwm.ok());
  EXPECT_EQ(*hwm, 101u);
}

TEST_F(IngestGuardTest, ShipperdRefusesABufferCapThatCannotHoldTheLargestRecord) {
  const std::string path = dir_ + "/pgagent.ini";
  {
    std::ofstream f(path);
    f << "[listener]\nurl = https://127.0.0.1:9/ingest/postgres\napi_key = k\n"
      << "[buffer]\npath = " << buffer_dir_ << "\nmax_size_mb = 1\n"
      << "[ipc]\nruntime_dir = " << runtime_dir_ << "\n";
  }
  chmod(path.c_str(), 0600);
  auto out = testing::RunProcess({testing::BinaryDir() + "/shipperd/pgagent-shipperd", path});
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->exit_code, 78) << out->err;
  EXPECT_NE(out->err.find(path + ":6: [buffer] max_size_mb: is too small for [ipc] "
                                 "max_message_bytes"),
            std::string::npos)
      << out->err;
}

// ---------------------------------------------------------------------------------------
// Only collectord can speak for collectord's boot

// Runs in a forked child as `uid`: says Hello with the victim's boot id, sends records above
// its high-water mark, and reports on `report_fd` what shipperd answered ('R' for a Reject
// that says permission denied, 'W' for a Welcome, 'A' for an Ack).
[[noreturn]] void HostilePeer(uid_t uid, gid_t gid, const std::string& endpoint,
                              const std::string& boot_id, int report_fd) {
  if (setgroups(0, nullptr) != 0 || setgid(gid) != 0 || setuid(uid) != 0) _exit(3);
  zmq::context_t ctx(1);
  zmq::socket_t s(ctx, zmq::socket_type::dealer);
  s.set(zmq::sockopt::linger, 0);
  s.connect(endpoint);
  Frame hello;
  hello.mutable_hello()->set_boot_id(boot_id);
  hello.mutable_hello()->set_protocol_version(kIpcProtocolVersion);
  hello.mutable_hello()->set_nonce(1);
  s.send(zmq::buffer(EncodeFrame(hello)), zmq::send_flags::none);
  for (uint64_t seq = 11; seq <= 60; ++seq) {
    Frame f;
    f.mutable_record()->set_seq(seq);
    Record r = SystemRecord(1000 + seq);
    r.mutable_id()->set_boot_id(boot_id);
    r.mutable_id()->set_seq(seq);
    *f.mutable_record()->mutable_record() = r;
    s.send(zmq::buffer(EncodeFrame(f)), zmq::send_flags::none);
  }
  std::string report;
  const auto until = std::chrono::steady_clock::now() + 3s;
  while (std::chrono::steady_clock::now() < until) {
    zmq::pollitem_t item{static_cast<void*>(s), 0, ZMQ_POLLIN, 0};
    if (zmq::poll(&item, 1, 100ms) <= 0) continue;
    zmq::message_t msg;
    if (!s.recv(msg, zmq::recv_flags::dontwait)) continue;
    Frame f;
    if (!f.ParseFromArray(msg.data(), static_cast<int>(msg.size()))) continue;
    if (f.has_reject() && f.reject().reason().find("permission denied") != std::string::npos) {
      report += 'R';
    }
    if (f.has_welcome()) report += 'W';
    if (f.has_ack()) report += 'A';
  }
  [[maybe_unused]] ssize_t w = write(report_fd, report.data(), report.size());
  _exit(0);
}

TEST_F(IngestGuardTest, AProcessThatIsNotTheCollectorCannotSpeakForItsBoot) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to run the hostile sender as another user";
  const passwd* nobody = getpwnam("nobody");
  ASSERT_NE(nobody, nullptr);
  LogCapture journal;
  const std::string state_dir = dir_ + "/collector-state";  // owned by root: the collector's
  ASSERT_EQ(mkdir(state_dir.c_str(), 0700), 0);
  LmdbBufferOptions bo;
  bo.path = buffer_dir_;
  auto buffer = LmdbBuffer::Open(bo);
  ASSERT_TRUE(buffer.ok());
  IngestOptions io;
  io.runtime_dir = runtime_dir_;
  io.collector_state_dir = state_dir;
  auto server = IngestServer::Bind(io, **buffer, SystemClock::Instance());
  ASSERT_TRUE(server.ok());
  // Let the hostile user reach the socket, as a member of its group could: only the
  // SO_PEERCRED check stands in its way.
  ASSERT_EQ(chmod(dir_.c_str(), 0755), 0);
  ASSERT_EQ(chmod(runtime_dir_.c_str(), 0755), 0);
  ASSERT_EQ(chmod(IngestSocketPath(runtime_dir_).c_str(), 0666), 0);

  auto outbox = Collector();
  ASSERT_NE(outbox, nullptr);
  for (uint64_t n = 1; n <= 10; ++n) ASSERT_TRUE(outbox->Offer(SystemRecord(n)).ok());
  std::vector<Record> acked;
  ASSERT_TRUE(PumpUntilAcked(*outbox, **server, 10, &acked));

  int pipe_fds[2];
  ASSERT_EQ(pipe(pipe_fds), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(pipe_fds[0]);
    HostilePeer(nobody->pw_uid, nobody->pw_gid, IngestEndpoint(runtime_dir_), outbox->boot_id(),
                pipe_fds[1]);
  }
  close(pipe_fds[1]);
  int status = 0;
  ASSERT_TRUE(testing::WaitUntil(
      [&] {
        EXPECT_TRUE((*server)->Poll(10ms).ok());
        return waitpid(child, &status, WNOHANG) == child;
      },
      20s));
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  char report[256] = {};
  const ssize_t got = read(pipe_fds[0], report, sizeof(report) - 1);
  close(pipe_fds[0]);
  const std::string answers(report, got > 0 ? static_cast<size_t>(got) : 0);
  EXPECT_NE(answers.find('R'), std::string::npos) << "answers: " << answers;
  EXPECT_EQ(answers.find('W'), std::string::npos) << "answers: " << answers;
  EXPECT_EQ(answers.find('A'), std::string::npos) << "answers: " << answers;

  // The real collector's next records are stored, not taken for duplicates.
  for (uint64_t n = 11; n <= 60; ++n) ASSERT_TRUE(outbox->Offer(SystemRecord(n)).ok());
  ASSERT_TRUE(PumpUntilAcked(*outbox, **server, 60, &acked));
  auto items = (*buffer)->Peek(1000);
  ASSERT_TRUE(items.ok());
  ASSERT_EQ(items->size(), 60u);
  for (size_t i = 0; i < items->size(); ++i) {
    EXPECT_EQ((*items)[i].record.system().interval_s(), static_cast<double>(i + 1)) << i;
  }
  const IngestStats stats = (*server)->stats();
  EXPECT_GE(stats.refused_frames, 51u);  // the Hello and 50 records
  EXPECT_EQ(stats.duplicates, 0u);
  EXPECT_EQ(stats.records_stored, 60u);
  EXPECT_EQ(journal.Count("ingest.peer_refused"), 1) << journal.All();
  EXPECT_NE(journal.All().find("\"uid\":\"" + std::to_string(nobody->pw_uid) + "\""),
            std::string::npos)
      << journal.All();
}

TEST_F(IngestGuardTest, TheCollectorsUserIsTheOwnerOfItsStateDirectory) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to chown the state directory";
  const passwd* nobody = getpwnam("nobody");
  ASSERT_NE(nobody, nullptr);
  const std::string state_dir = dir_ + "/collector-state";
  ASSERT_EQ(mkdir(state_dir.c_str(), 0700), 0);
  ASSERT_EQ(chown(state_dir.c_str(), nobody->pw_uid, nobody->pw_gid), 0);
  LmdbBufferOptions bo;
  bo.path = buffer_dir_;
  auto buffer = LmdbBuffer::Open(bo);
  ASSERT_TRUE(buffer.ok());
  IngestOptions io;
  io.runtime_dir = runtime_dir_;
  io.collector_state_dir = state_dir;
  auto server = IngestServer::Bind(io, **buffer, SystemClock::Instance());
  ASSERT_TRUE(server.ok());
  ASSERT_EQ(chmod(dir_.c_str(), 0755), 0);
  ASSERT_EQ(chmod(runtime_dir_.c_str(), 0755), 0);
  ASSERT_EQ(chmod(IngestSocketPath(runtime_dir_).c_str(), 0666), 0);
  // "nobody" owns the collector's state directory here, so it is the collector: welcomed.
  int pipe_fds[2];
  ASSERT_EQ(pipe(pipe_fds), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(pipe_fds[0]);
    HostilePeer(nobody->pw_uid, nobody->pw_gid, IngestEndpoint(runtime_dir_), "boot-of-nobody",
                pipe_fds[1]);
  }
  close(pipe_fds[1]);
  int status = 0;
  ASSERT_TRUE(testing::WaitUntil(
      [&] {
        EXPECT_TRUE((*server)->Poll(10ms).ok());
        return waitpid(child, &status, WNOHANG) == child;
      },
      20s));
  char report[256] = {};
  const ssize_t got = read(pipe_fds[0], report, sizeof(report) - 1);
  close(pipe_fds[0]);
  const std::string answers(report, got > 0 ? static_cast<size_t>(got) : 0);
  EXPECT_NE(answers.find('W'), std::string::npos) << "answers: " << answers;
  EXPECT_EQ(answers.find('R'), std::string::npos) << "answers: " << answers;
  EXPECT_EQ((*server)->stats().refused_frames, 0u);
}

// ---------------------------------------------------------------------------------------
// A failing buffer is logged once per streak

TEST_F(IngestGuardTest, AFailingBufferIsLoggedOnceWhenItFailsAndOnceWhenItRecovers) {
  LogCapture journal;
  FakeRecordBuffer buffer;
  FakeTransport transport;
  Config config;
  config.ipc.runtime_dir = runtime_dir_;
  config.listener.url = "https://127.0.0.1:9/ingest/postgres";
  config.collection.interval_s = 600;
  ShipperDaemon daemon(config, buffer, nullptr, nullptr, transport, SystemClock::Instance());
  // Every store fails for a while: collectord resends after each ack timeout.
  buffer.FailNextAppends(40, UnavailableError("injected: disk on fire"));
  ASSERT_TRUE(daemon.Start().ok());
  ZmqOutboxOptions oo;
  oo.endpoint = IngestEndpoint(runtime_dir_);
  oo.window.ack_timeout = 100ms;
  auto outbox = ZmqOutbox::Connect(oo, SystemClock::Instance());
  ASSERT_TRUE(outbox.ok());
  for (uint64_t n = 1; n <= 5; ++n) ASSERT_TRUE((*outbox)->Offer(SystemRecord(n)).ok());
  std::vector<Record> acked;
  ASSERT_TRUE(testing::WaitUntil(
      [&] {
        (*outbox)->Poll(10ms, &acked);
        return acked.size() >= 5;
      },
      60s))
      << acked.size() << " acked; " << journal.All();
  const auto counters = daemon.Health().counters();
  daemon.Stop();
  EXPECT_GE(buffer.append_calls(), 41u);
  EXPECT_EQ(journal.Count("ingest.buffer_failed"), 1) << journal.All();
  EXPECT_EQ(journal.Count("ingest.buffer_recovered"), 1) << journal.All();
  ASSERT_TRUE(counters.contains("ingest_failed_polls"));
  EXPECT_EQ(counters.at("ingest_failed_polls"), 40u);
}

}  // namespace
}  // namespace pgagent
