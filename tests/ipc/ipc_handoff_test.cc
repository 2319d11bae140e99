// The collectord -> shipperd handoff with real ipc:// sockets, real LMDB files and, for the
// kill loops, real processes: the pgagent-shipperd binary and the ipc_stream_peer collector.
// PGAGENT_KILL_LOOPS sets the number of SIGKILLs per loop (default 10 in CI; 100 for the
// full run: `PGAGENT_KILL_LOOPS=100 ctest -R ipc_handoff_test`).
#include <gtest/gtest.h>
#include <signal.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <thread>
#include <zmq.hpp>

#include "collectord/outbox/zmq_outbox.h"
#include "common/ipc_frame.h"
#include "shared/buffer/lmdb_buffer.h"
#include "shipperd/ingest/ingest_server.h"
#include "tests/support/child_process.h"

namespace pgagent {
namespace {

using namespace std::chrono_literals;
using pgagent::v1::Frame;
using pgagent::v1::Record;
using testing::ChildProcess;

int KillLoops() {
  const char* v = std::getenv("PGAGENT_KILL_LOOPS");
  return v != nullptr && std::atoi(v) > 0 ? std::atoi(v) : 10;
}

std::string MakeTempDir() {
  char tmpl[] = "/tmp/pgagent-ipc-XXXXXX";
  const char* dir = mkdtemp(tmpl);
  EXPECT_NE(dir, nullptr);
  return dir != nullptr ? dir : "/tmp";
}

uint64_t NumberOf(const Record& r) {
  if (r.kind() == pgagent::v1::RECORD_KIND_LOG) {
    return std::strtoull(r.log().entries(0).message().c_str(), nullptr, 10);
  }
  return static_cast<uint64_t>(r.system().interval_s());
}

Record SystemRecord(uint64_t n) {
  Record r;
  r.set_kind(pgagent::v1::RECORD_KIND_SYSTEM);
  r.mutable_collected_at()->set_seconds(1795773600);
  r.mutable_system()->set_interval_s(static_cast<double>(n));
  return r;
}

class IpcHandoffTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir();
    runtime_dir_ = dir_ + "/run";
    buffer_dir_ = dir_ + "/buffer";
    acked_file_ = dir_ + "/acked.txt";
  }
  void TearDown() override {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  std::string WriteShipperConfig() {
    const std::string path = dir_ + "/pgagent.ini";
    std::ofstream f(path);
    f << "[listener]\nurl = https://127.0.0.1:9/ingest/postgres\napi_key = k\nproject_id = ipc\n"
      << "[buffer]\npath = " << buffer_dir_ << "\n"
      << "[ipc]\nruntime_dir = " << runtime_dir_ << "\n"
      << "[collection]\ninterval_s = 600\n";
    f.close();
    chmod(path.c_str(), 0600);
    return path;
  }

  std::unique_ptr<ChildProcess> StartShipper() {
    if (config_.empty()) config_ = WriteShipperConfig();
    const std::string& config = config_;
    auto child = ChildProcess::Start({testing::BinaryDir() + "/shipperd/pgagent-shipperd", config},
                                     dir_ + "/shipperd.log");
    EXPECT_TRUE(child.ok()) << child.status().ToString();
    return child.ok() ? std::move(*child) : nullptr;
  }

  std::unique_ptr<ChildProcess> StartPeer(uint64_t first, uint64_t count, const std::string& kind,
                                          size_t window_records = 256) {
    auto child = ChildProcess::Start(
        {testing::BinaryDir() + "/tests/ipc/ipc_stream_peer", "--endpoint",
         IngestEndpoint(runtime_dir_), "--first", std::to_string(first), "--count",
         std::to_string(count), "--acked-file", acked_file_, "--kind", kind, "--timeout-s", "240",
         "--window-records", std::to_string(window_records)},
        dir_ + "/peer.log");
    EXPECT_TRUE(child.ok()) << child.status().ToString();
    return child.ok() ? std::move(*child) : nullptr;
  }

  std::vector<uint64_t> AckedNumbers() {
    std::ifstream f(acked_file_);
    std::vector<uint64_t> numbers;
    uint64_t n;
    while (f >> n) numbers.push_back(n);
    return numbers;
  }

  // Number -> how many times it is stored, for the records of the given kind.
  std::map<uint64_t, int> StoredNumbers(pgagent::v1::RecordKind kind) {
    LmdbBufferOptions o;
    o.path = buffer_dir_;
    o.read_only = true;
    auto buffer = LmdbBuffer::Open(o);
    EXPECT_TRUE(buffer.ok()) << buffer.status().ToString();
    std::map<uint64_t, int> stored;
    if (!buffer.ok()) return stored;
    uint64_t after = 0;
    for (;;) {
      auto items = (*buffer)->Peek(1000, after);
      EXPECT_TRUE(items.ok());
      if (!items.ok() || items->empty()) break;
      for (const auto& item : *items) {
        if (item.record.kind() == kind) ++stored[NumberOf(item.record)];
        after = item.key;
      }
    }
    return stored;
  }

  std::string Log(const std::string& name) {
    std::ifstream f(dir_ + "/" + name);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
  }

  std::string dir_, runtime_dir_, buffer_dir_, acked_file_, config_;
};

TEST_F(IpcHandoffTest, RecordsFlowInOrderAndAreAcknowledgedAfterTheyAreStored) {
  LmdbBufferOptions bo;
  bo.path = buffer_dir_;
  auto buffer = LmdbBuffer::Open(bo);
  ASSERT_TRUE(buffer.ok()) << buffer.status().ToString();
  IngestOptions io;
  io.runtime_dir = runtime_dir_;
  auto server = IngestServer::Bind(io, **buffer, SystemClock::Instance());
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  struct stat st{};
  ASSERT_EQ(stat(IngestSocketPath(runtime_dir_).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0660u);

  ZmqOutboxOptions oo;
  oo.endpoint = IngestEndpoint(runtime_dir_);
  auto outbox = ZmqOutbox::Connect(oo, SystemClock::Instance());
  ASSERT_TRUE(outbox.ok());
  for (uint64_t n = 1; n <= 300; ++n) ASSERT_TRUE((*outbox)->Offer(SystemRecord(n)).ok());
  std::vector<Record> acked;
  ASSERT_TRUE(testing::WaitUntil(
      [&] {
        (*outbox)->Poll(1ms, &acked);
        EXPECT_TRUE((*server)->Poll(5ms).ok());
        return acked.size() == 300;
      },
      20s));
  auto items = (*buffer)->Peek(1000);
  ASSERT_TRUE(items.ok());
  ASSERT_EQ(items->size(), 300u);
  for (size_t i = 0; i < items->size(); ++i) {
    EXPECT_EQ(NumberOf((*items)[i].record), i + 1);
    EXPECT_EQ((*items)[i].record.id().seq(), i + 1);
    EXPECT_EQ((*items)[i].record.id().boot_id(), (*outbox)->boot_id());
  }
  EXPECT_EQ((*server)->stats().records_stored, 300u);
}

TEST_F(IpcHandoffTest, GarbageAndOversizedFramesAreRejectedAndCounted) {
  LmdbBufferOptions bo;
  bo.path = buffer_dir_;
  auto buffer = LmdbBuffer::Open(bo);
  ASSERT_TRUE(buffer.ok());
  IngestOptions io;
  io.runtime_dir = runtime_dir_;
  io.max_message_bytes = 64 * 1024;
  auto server = IngestServer::Bind(io, **buffer, SystemClock::Instance());
  ASSERT_TRUE(server.ok());

  zmq::context_t ctx(1);
  auto raw = std::make_unique<zmq::socket_t>(ctx, zmq::socket_type::dealer);
  raw->set(zmq::sockopt::linger, 0);
  raw->connect(IngestEndpoint(runtime_dir_));
  auto send = [&](const std::string& bytes) { raw->send(zmq::buffer(bytes), zmq::send_flags::none); };
  auto pump = [&] {
    for (int i = 0; i < 20; ++i) ASSERT_TRUE((*server)->Poll(10ms).ok());
  };
  auto replies = [&] {
    std::vector<Frame> frames;
    zmq::message_t msg;
    while (raw->recv(msg, zmq::recv_flags::dontwait)) {
      Frame f;
      if (f.ParseFromArray(msg.data(), static_cast<int>(msg.size()))) frames.push_back(f);
    }
    return frames;
  };

  send("\xff\xfe garbage \x01\x02");
  send(std::string());  // an empty frame
  Frame record_first;
  record_first.mutable_record()->set_seq(1);
  *record_first.mutable_record()->mutable_record() = SystemRecord(1);
  send(EncodeFrame(record_first));  // a record before Hello
  Frame bad_hello;
  bad_hello.mutable_hello()->set_boot_id("b");
  bad_hello.mutable_hello()->set_protocol_version(99);
  send(EncodeFrame(bad_hello));
  pump();
  auto got = replies();
  bool saw_hello_required = false, saw_version_reject = false;
  for (const auto& f : got) {
    saw_hello_required |= f.has_hello_required();
    saw_version_reject |= f.has_reject() && f.reject().reason().find("protocol version") != std::string::npos;
  }
  EXPECT_TRUE(saw_hello_required);
  EXPECT_TRUE(saw_version_reject);

  Frame hello;
  hello.mutable_hello()->set_boot_id("b");
  hello.mutable_hello()->set_protocol_version(kIpcProtocolVersion);
  send(EncodeFrame(hello));
  Frame mismatched;  // kind says log, payload is system
  mismatched.mutable_record()->set_seq(1);
  Record r = SystemRecord(1);
  r.mutable_id()->set_boot_id("b");
  r.mutable_id()->set_seq(1);
  r.set_kind(pgagent::v1::RECORD_KIND_LOG);
  *mismatched.mutable_record()->mutable_record() = r;
  send(EncodeFrame(mismatched));
  pump();
  got = replies();
  bool saw_welcome = false, saw_record_reject = false;
  for (const auto& f : got) {
    saw_welcome |= f.has_welcome();
    saw_record_reject |= f.has_reject() && f.reject().seq() == 1;
  }
  EXPECT_TRUE(saw_welcome);
  EXPECT_TRUE(saw_record_reject);

  send(std::string(100 * 1024, 'x'));  // over ZMQ_MAXMSGSIZE: ZeroMQ drops the connection
  pump();
  const IngestStats stats = (*server)->stats();
  EXPECT_EQ(stats.malformed_frames, 2u);
  EXPECT_EQ(stats.bad_protocol_version, 1u);
  EXPECT_EQ(stats.hello_required, 1u);
  EXPECT_EQ(stats.invalid_records, 1u);
  EXPECT_GE(stats.disconnects, 1u);
  EXPECT_EQ(stats.records_stored, 0u);

  // The server still serves a well-behaved collector afterwards.
  ZmqOutboxOptions oo;
  oo.endpoint = IngestEndpoint(runtime_dir_);
  auto outbox = ZmqOutbox::Connect(oo, SystemClock::Instance());
  ASSERT_TRUE(outbox.ok());
  ASSERT_TRUE((*outbox)->Offer(SystemRecord(7)).ok());
  std::vector<Record> acked;
  ASSERT_TRUE(testing::WaitUntil(
      [&] {
        (*outbox)->Poll(1ms, &acked);
        EXPECT_TRUE((*server)->Poll(5ms).ok());
        return acked.size() == 1;
      },
      10s));
}

TEST_F(IpcHandoffTest, SigkillsOfShipperdLoseNoAcknowledgedRecordAndStoreNoneTwice) {
  auto shipper = StartShipper();
  ASSERT_NE(shipper, nullptr);
  const uint64_t count = 400000;  // more than the loop can finish: it streams throughout
  auto peer = StartPeer(1, count, "system");
  ASSERT_NE(peer, nullptr);
  std::mt19937 rng(12345);
  const int loops = KillLoops();
  for (int i = 0; i < loops; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50 + rng() % 250));
    shipper->Signal(SIGKILL);
    ASSERT_TRUE(shipper->Wait(5s).has_value());
    std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 100));
    shipper = StartShipper();
    ASSERT_NE(shipper, nullptr);
  }
  std::this_thread::sleep_for(500ms);
  peer->Signal(SIGKILL);
  peer->Wait(5s);
  EXPECT_EQ(shipper->Stop(), 0) << Log("shipperd.log");
  const auto acked = AckedNumbers();
  ASSERT_GT(acked.size(), static_cast<size_t>(loops)) << Log("peer.log");
  const auto stored = StoredNumbers(pgagent::v1::RECORD_KIND_SYSTEM);
  for (uint64_t n : acked) ASSERT_EQ(stored.count(n) ? stored.at(n) : 0, 1) << "record " << n;
  for (const auto& [n, times] : stored) ASSERT_EQ(times, 1) << "record " << n << " stored twice";
  std::printf("shipperd SIGKILLs: %d, records acknowledged: %zu, stored: %zu\n", loops,
              acked.size(), stored.size());
}

TEST_F(IpcHandoffTest, SigkillsOfTheCollectorKeepEveryAcknowledgedRecordStoredOnce) {
  auto shipper = StartShipper();
  ASSERT_NE(shipper, nullptr);
  std::mt19937 rng(54321);
  const int loops = KillLoops();
  for (int i = 0; i < loops; ++i) {
    auto peer = StartPeer(static_cast<uint64_t>(i + 1) * 10000000ULL, 1000000, "system");
    ASSERT_NE(peer, nullptr);
    std::this_thread::sleep_for(std::chrono::milliseconds(50 + rng() % 250));
    peer->Signal(SIGKILL);
    ASSERT_TRUE(peer->Wait(5s).has_value());
  }
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(shipper->Stop(), 0);
  const auto acked = AckedNumbers();
  ASSERT_GT(acked.size(), 0u) << Log("peer.log");
  const auto stored = StoredNumbers(pgagent::v1::RECORD_KIND_SYSTEM);
  for (uint64_t n : acked) ASSERT_EQ(stored.count(n) ? stored.at(n) : 0, 1) << "record " << n;
  for (const auto& [n, times] : stored) ASSERT_EQ(times, 1) << "record " << n << " stored twice";
  std::printf("collector SIGKILLs: %d, records acknowledged: %zu, stored: %zu\n", loops,
              acked.size(), stored.size());
}

TEST_F(IpcHandoffTest, LogReadingPausesWhileShipperdIsDownAndResumesWithoutLoss) {
  // Shipperd is not running: the window (8 records) and the pending log queue fill, and the
  // peer's log reading pauses. Then shipperd starts and everything arrives exactly once.
  auto peer = StartPeer(1, 200, "log", /*window_records=*/8);
  ASSERT_NE(peer, nullptr);
  std::this_thread::sleep_for(1500ms);
  EXPECT_TRUE(peer->running());
  auto shipper = StartShipper();
  ASSERT_NE(shipper, nullptr);
  auto code = peer->Wait(60s);
  ASSERT_TRUE(code.has_value());
  EXPECT_EQ(*code, 0) << Log("peer.log");
  EXPECT_EQ(shipper->Stop(), 0);
  const std::string summary = Log("peer.log");
  EXPECT_NE(summary.find("acked=200 "), std::string::npos) << summary;
  EXPECT_EQ(summary.find("log_pauses=0"), std::string::npos) << summary;
  const auto stored = StoredNumbers(pgagent::v1::RECORD_KIND_LOG);
  ASSERT_EQ(stored.size(), 200u);
  for (uint64_t n = 1; n <= 200; ++n) EXPECT_EQ(stored.count(n) ? stored.at(n) : 0, 1) << n;
}

}  // namespace
}  // namespace pgagent
