#include "shipperd/ingest/ingest_server.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <set>

#include "common/ipc_frame.h"

namespace pgagent {

using pgagent::v1::Frame;
using pgagent::v1::Record;

struct IngestServer::AtomicStats {
  std::atomic<uint64_t> frames{0}, records_stored{0}, duplicates{0}, acks_sent{0}, hellos{0},
      malformed_frames{0}, bad_protocol_version{0}, invalid_records{0}, out_of_order{0},
      hello_required{0}, buffer_errors{0}, disconnects{0}, peers{0};
};

IngestServer::IngestServer(const IngestOptions& options, RecordBuffer& buffer, const Clock& clock)
    : options_(options),
      buffer_(buffer),
      clock_(clock),
      endpoint_(IngestEndpoint(options.runtime_dir)),
      socket_path_(IngestSocketPath(options.runtime_dir)),
      context_(1),
      socket_(context_, zmq::socket_type::router),
      monitor_(context_, zmq::socket_type::pair),
      stats_(std::make_unique<AtomicStats>()) {}

IngestServer::~IngestServer() {
  try {
    socket_.close();
    monitor_.close();
  } catch (const zmq::error_t&) {
  }
  ::unlink(socket_path_.c_str());
}

Result<std::unique_ptr<IngestServer>> IngestServer::Bind(const IngestOptions& options,
                                                         RecordBuffer& buffer,
                                                         const Clock& clock) {
  std::unique_ptr<IngestServer> server(new IngestServer(options, buffer, clock));
  PGAGENT_RETURN_IF_ERROR(server->Setup());
  return server;
}

Status IngestServer::Setup() {
  if (::mkdir(options_.runtime_dir.c_str(), 0750) != 0 && errno != EEXIST) {
    return ErrnoStatus("create runtime dir " + options_.runtime_dir, errno);
  }
  if (::unlink(socket_path_.c_str()) != 0 && errno != ENOENT) {
    return ErrnoStatus("remove stale socket " + socket_path_, errno);
  }
  try {
    socket_.set(zmq::sockopt::linger, 0);
    socket_.set(zmq::sockopt::maxmsgsize, options_.max_message_bytes);
    socket_.set(zmq::sockopt::router_mandatory, 0);
    socket_.set(zmq::sockopt::rcvhwm, 10000);
    const std::string monitor_endpoint = "inproc://ingest-monitor";
    zmq_socket_monitor(static_cast<void*>(socket_), monitor_endpoint.c_str(),
                       ZMQ_EVENT_DISCONNECTED);
    monitor_.connect(monitor_endpoint);
    // Create the socket file with the final mode: no window where it is wider than asked.
    const mode_t old_umask = ::umask(0777 & ~options_.socket_mode);
    socket_.bind(endpoint_);
    ::umask(old_umask);
  } catch (const zmq::error_t& e) {
    return UnavailableError("bind " + endpoint_ + ": " + e.what());
  }
  if (::chmod(socket_path_.c_str(), options_.socket_mode) != 0) {
    return ErrnoStatus("chmod " + socket_path_, errno);
  }
  return Status::Ok();
}

Status IngestServer::Poll(std::chrono::milliseconds timeout) {
  std::vector<Incoming> batch = ReceiveBatch(timeout);
  DrainMonitor();
  ForgetIdlePeers();
  if (batch.empty()) return Status::Ok();
  return HandleBatch(batch);
}

std::vector<IngestServer::Incoming> IngestServer::ReceiveBatch(std::chrono::milliseconds timeout) {
  std::vector<Incoming> batch;
  zmq::pollitem_t item{static_cast<void*>(socket_), 0, ZMQ_POLLIN, 0};
  try {
    if (zmq::poll(&item, 1, timeout) <= 0) return batch;
    while (batch.size() < options_.max_batch_records) {
      zmq::message_t identity;
      if (!socket_.recv(identity, zmq::recv_flags::dontwait)) break;
      Incoming in;
      in.identity = identity.to_string();
      zmq::message_t payload;
      bool more = identity.more();
      if (more && socket_.recv(payload, zmq::recv_flags::dontwait)) {
        in.bytes = payload.to_string();
        more = payload.more();
      }
      while (more) {  // extra parts are not part of the protocol: drain and count
        zmq::message_t extra;
        if (!socket_.recv(extra, zmq::recv_flags::dontwait)) break;
        more = extra.more();
        in.bytes.clear();
      }
      ++stats_->frames;
      batch.push_back(std::move(in));
    }
  } catch (const zmq::error_t&) {
    // EINTR from a signal: handle what was read; the caller's loop checks for shutdown.
  }
  return batch;
}

Status IngestServer::HandleBatch(std::vector<Incoming>& batch) {
  const auto now = clock_.Monotonic();
  std::vector<Record> to_store;
  std::map<std::string, uint64_t> next_hwm;   // identity -> hwm after this batch
  std::set<std::string> resynced, told_hello;  // one control answer per peer per batch

  for (Incoming& in : batch) {
    auto frame = DecodeFrame(in.bytes, options_.max_message_bytes);
    if (!frame.ok()) {
      ++stats_->malformed_frames;
      continue;
    }
    if (frame->has_hello()) {
      HandleHello(in.identity, frame->hello());
      next_hwm.erase(in.identity);
      resynced.erase(in.identity);
      continue;
    }
    auto peer_it = peers_.find(in.identity);
    if (frame->has_heartbeat()) {
      if (peer_it != peers_.end()) peer_it->second.last_seen = now;
      Frame reply;
      reply.mutable_heartbeat()->set_sent_ms(0);
      Send(in.identity, reply);
      continue;
    }
    if (!frame->has_record()) {
      ++stats_->malformed_frames;  // a collector never sends Welcome/Ack/... to us
      continue;
    }
    if (peer_it == peers_.end()) {
      if (told_hello.insert(in.identity).second) {
        ++stats_->hello_required;
        Frame reply;
        reply.mutable_hello_required()->set_reason("unknown peer: send Hello first");
        Send(in.identity, reply);
      }
      continue;
    }
    Peer& peer = peer_it->second;
    peer.last_seen = now;
    if (resynced.count(in.identity)) continue;  // waiting for the resend in order
    const auto& rf = frame->record();
    const Record& record = rf.record();
    Status valid = ValidateRecord(record);
    if (valid.ok() && (record.id().seq() != rf.seq() || record.id().boot_id() != peer.boot_id)) {
      valid = InvalidArgumentError("record id does not match the frame or the peer's Hello");
    }
    if (!valid.ok()) {
      ++stats_->invalid_records;
      Frame reply;
      reply.mutable_reject()->set_seq(rf.seq());
      reply.mutable_reject()->set_boot_id(record.id().boot_id());
      reply.mutable_reject()->set_reason(valid.message());
      Send(in.identity, reply);
      continue;
    }
    uint64_t& hwm = next_hwm.try_emplace(in.identity, peer.hwm).first->second;
    if (rf.seq() <= hwm) {
      ++stats_->duplicates;
      continue;  // acknowledged below with the high-water mark
    }
    if (rf.seq() != hwm + 1) {
      ++stats_->out_of_order;
      resynced.insert(in.identity);
      Frame reply;
      reply.mutable_welcome()->set_protocol_version(kIpcProtocolVersion);
      reply.mutable_welcome()->set_high_water_mark(hwm);
      reply.mutable_welcome()->set_nonce(peer.hello_nonce);
      Send(in.identity, reply);
      continue;
    }
    hwm = rf.seq();
    to_store.push_back(std::move(*frame->mutable_record()->mutable_record()));
  }

  if (!to_store.empty()) {
    auto outcome = buffer_.Append(to_store);
    if (!outcome.ok()) {
      ++stats_->buffer_errors;
      return outcome.status().WithContext("store records");
    }
    stats_->records_stored += outcome->stored_seqs.size();
    stats_->duplicates += outcome->duplicate_seqs.size();
  }
  for (const auto& [identity, hwm] : next_hwm) {
    auto it = peers_.find(identity);
    if (it == peers_.end()) continue;
    it->second.hwm = hwm;
    Frame ack;
    ack.mutable_ack()->set_boot_id(it->second.boot_id);
    ack.mutable_ack()->set_high_water_mark(hwm);
    Send(identity, ack);
    ++stats_->acks_sent;
  }
  return Status::Ok();
}

void IngestServer::HandleHello(const std::string& identity, const pgagent::v1::Hello& hello) {
  ++stats_->hellos;
  if (hello.protocol_version() != kIpcProtocolVersion || hello.boot_id().empty()) {
    ++stats_->bad_protocol_version;
    peers_.erase(identity);
    Frame reply;
    reply.mutable_reject()->set_reason("unsupported protocol version " +
                                       std::to_string(hello.protocol_version()) +
                                       " (this shipperd speaks " +
                                       std::to_string(kIpcProtocolVersion) + ")");
    Send(identity, reply);
    return;
  }
  auto hwm = buffer_.HighWaterMark(hello.boot_id());
  if (!hwm.ok()) {
    ++stats_->buffer_errors;
    return;  // no Welcome: the collector says Hello again after its timeout
  }
  Peer& peer = peers_[identity];
  peer.boot_id = hello.boot_id();
  peer.hwm = *hwm;
  peer.hello_nonce = hello.nonce();
  peer.last_seen = clock_.Monotonic();
  stats_->peers = peers_.size();
  Frame reply;
  reply.mutable_welcome()->set_protocol_version(kIpcProtocolVersion);
  reply.mutable_welcome()->set_high_water_mark(*hwm);
  reply.mutable_welcome()->set_nonce(hello.nonce());
  Send(identity, reply);
}

void IngestServer::Send(const std::string& identity, const Frame& frame) {
  const std::string bytes = EncodeFrame(frame);
  try {
    if (!socket_.send(zmq::buffer(identity), zmq::send_flags::sndmore | zmq::send_flags::dontwait)) {
      return;
    }
    socket_.send(zmq::buffer(bytes), zmq::send_flags::dontwait);
  } catch (const zmq::error_t&) {
    // The peer is gone or its queue is full: it resynchronises after its ack timeout.
  }
}

void IngestServer::DrainMonitor() {
  try {
    for (int i = 0; i < 100; ++i) {
      zmq::message_t event;
      if (!monitor_.recv(event, zmq::recv_flags::dontwait)) return;
      if (event.more()) {
        zmq::message_t address;
        (void)monitor_.recv(address, zmq::recv_flags::dontwait);
      }
      ++stats_->disconnects;
    }
  } catch (const zmq::error_t&) {
  }
}

void IngestServer::ForgetIdlePeers() {
  const auto now = clock_.Monotonic();
  for (auto it = peers_.begin(); it != peers_.end();) {
    if (now - it->second.last_seen > options_.peer_idle_timeout) {
      it = peers_.erase(it);
    } else {
      ++it;
    }
  }
  while (peers_.size() > options_.max_peers) {
    auto oldest = peers_.begin();
    for (auto it = peers_.begin(); it != peers_.end(); ++it) {
      if (it->second.last_seen < oldest->second.last_seen) oldest = it;
    }
    peers_.erase(oldest);
  }
  stats_->peers = peers_.size();
}

IngestStats IngestServer::stats() const {
  IngestStats s;
  s.frames = stats_->frames;
  s.records_stored = stats_->records_stored;
  s.duplicates = stats_->duplicates;
  s.acks_sent = stats_->acks_sent;
  s.hellos = stats_->hellos;
  s.malformed_frames = stats_->malformed_frames;
  s.bad_protocol_version = stats_->bad_protocol_version;
  s.invalid_records = stats_->invalid_records;
  s.out_of_order = stats_->out_of_order;
  s.hello_required = stats_->hello_required;
  s.buffer_errors = stats_->buffer_errors;
  s.disconnects = stats_->disconnects;
  s.peers = stats_->peers;
  return s;
}

}  // namespace pgagent
