#include "shipperd/ingest/ingest_server.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <set>

#include "common/ipc_frame.h"
#include "common/log.h"

namespace pgagent {

using pgagent::v1::Frame;
using pgagent::v1::Record;

struct IngestServer::AtomicStats {
  std::atomic<uint64_t> frames{0}, records_stored{0}, duplicates{0}, acks_sent{0}, hellos{0},
      malformed_frames{0}, bad_protocol_version{0}, invalid_records{0}, out_of_order{0},
      hello_required{0}, buffer_errors{0}, disconnects{0}, peers{0}, refused_frames{0},
      unstorable_records{0}, unstorable_dropped{0};
};

namespace {

constexpr size_t kMaxRefusedPidsLogged = 256;

bool ParseNumber(std::string_view text, uint64_t* out) {
  if (text.empty()) return false;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return ec == std::errc() && end == text.data() + text.size();
}

}  // namespace

std::optional<IpcPeerCredentials> ParseIpcPeerAddress(std::string_view property) {
  uint64_t numbers[3];
  for (int i = 2; i >= 0; --i) {
    const size_t colon = property.rfind(':');
    if (colon == std::string_view::npos || !ParseNumber(property.substr(colon + 1), &numbers[i])) {
      return std::nullopt;
    }
    property = property.substr(0, colon);
  }
  IpcPeerCredentials c;
  c.uid = static_cast<uid_t>(numbers[0]);
  c.gid = static_cast<gid_t>(numbers[1]);
  c.pid = static_cast<pid_t>(numbers[2]);
  return c;
}

bool IngestPeerAllowed(uid_t peer_uid, uid_t self_uid, std::optional<uid_t> collector_uid) {
  return peer_uid == 0 || peer_uid == self_uid || (collector_uid && peer_uid == *collector_uid);
}

IngestServer::IngestServer(const IngestOptions& options, RecordBuffer& buffer, const Clock& clock)
    : options_(options),
      buffer_(buffer),
      clock_(clock),
      endpoint_(IngestEndpoint(options.runtime_dir)),
      socket_path_(IngestSocketPath(options.runtime_dir)),
      context_(1),
      socket_(context_, zmq::socket_type::router),
      monitor_(context_, zmq::socket_type::pair),
      self_uid_(::geteuid()),
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
        // The connection's credentials ride on the messages it sent (not always on the
        // routing id part, which the ROUTER makes up).
        try {
          in.peer = ParseIpcPeerAddress(payload.gets("Peer-Address"));
        } catch (const zmq::error_t&) {
          // No credentials for this connection: refused in HandleBatch.
        }
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
  std::set<std::string> resynced, told_hello, refused;  // one answer per peer per batch

  for (Incoming& in : batch) {
    if (!Authorized(in, refused)) continue;
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

  if (!to_store.empty()) PGAGENT_RETURN_IF_ERROR(Store(to_store));
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

bool IngestServer::Authorized(const Incoming& in, std::set<std::string>& refused_in_batch) {
  if (in.peer && IngestPeerAllowed(in.peer->uid, self_uid_, CollectorUid())) return true;
  ++stats_->refused_frames;
  const pid_t pid = in.peer ? in.peer->pid : 0;
  if (refused_pids_logged_.size() >= kMaxRefusedPidsLogged) refused_pids_logged_.clear();
  if (refused_pids_logged_.insert(pid).second) {
    const std::optional<uid_t> collector = CollectorUid();
    log::Warn("ingest.peer_refused",
              {{"uid", in.peer ? std::to_string(in.peer->uid) : "unknown"},
               {"pid", static_cast<int64_t>(pid)},
               {"collector_uid", collector ? std::to_string(*collector) : "unknown"},
               {"collector_state_dir", options_.collector_state_dir},
               {"effect",
                "its frames are ignored: only root, shipperd's user and the owner of "
                "collectord's state directory may send records"}});
  }
  if (refused_in_batch.insert(in.identity).second) {
    Frame reply;
    reply.mutable_reject()->set_reason(
        "permission denied: this process is not the collector (SO_PEERCRED uid " +
        (in.peer ? std::to_string(in.peer->uid) : std::string("unknown")) + ")");
    Send(in.identity, reply);
  }
  return false;
}

// The owner of collectord's state directory, looked up again at most once a second while a
// sender is refused (the directory may be created after shipperd started).
std::optional<uid_t> IngestServer::CollectorUid() {
  if (options_.collector_state_dir.empty()) return std::nullopt;
  const auto now = clock_.Monotonic();
  if (collector_uid_checked_ && now - *collector_uid_checked_ < std::chrono::seconds(1)) {
    return collector_uid_;
  }
  collector_uid_checked_ = now;
  struct stat st {};
  if (::stat(options_.collector_state_dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
    collector_uid_ = st.st_uid;
  }
  return collector_uid_;
}

Status IngestServer::Store(const std::vector<Record>& records) {
  auto outcome = buffer_.Append(records);
  if (!outcome.ok() && outcome.status().code() == StatusCode::kResourceExhausted) {
    return StoreOneByOne(records);
  }
  if (!outcome.ok()) {
    ++stats_->buffer_errors;
    return outcome.status().WithContext("store records");
  }
  stats_->records_stored += outcome->stored_seqs.size();
  stats_->duplicates += outcome->duplicate_seqs.size();
  return Status::Ok();
}

// One transaction per record, so that the one the buffer cannot hold is found and set aside
// while every other record is stored in order.
Status IngestServer::StoreOneByOne(const std::vector<Record>& records) {
  for (const Record& record : records) {
    auto outcome = buffer_.Append({record});
    if (!outcome.ok() && outcome.status().code() == StatusCode::kResourceExhausted) {
      PGAGENT_RETURN_IF_ERROR(DeadLetterUnstorable(record, outcome.status()));
      continue;
    }
    if (!outcome.ok()) {
      ++stats_->buffer_errors;
      return outcome.status().WithContext("store records");
    }
    stats_->records_stored += outcome->stored_seqs.size();
    stats_->duplicates += outcome->duplicate_seqs.size();
  }
  return Status::Ok();
}

Status IngestServer::DeadLetterUnstorable(const Record& record, const Status& why) {
  DeadLetter letter;
  letter.http_status = 0;  // never sent: refused by the buffer
  letter.response_body = "not buffered: " + why.message() +
                         " ([buffer] max_size_mb); requeue it after raising the cap";
  letter.records = {record};
  Status stored = buffer_.AddDeadLetter(letter);
  if (!stored.ok() && stored.code() != StatusCode::kResourceExhausted) {
    ++stats_->buffer_errors;
    return stored.WithContext("dead-letter an unstorable record");
  }
  const bool kept = stored.ok();
  ++(kept ? stats_->unstorable_records : stats_->unstorable_dropped);
  log::Warn(kept ? "ingest.record_dead_lettered" : "ingest.record_dropped",
            {{"boot_id", record.id().boot_id()},
             {"seq", record.id().seq()},
             {"kind", std::string(RecordKindName(record.kind()))},
             {"bytes", static_cast<uint64_t>(record.ByteSizeLong())},
             {"error", kept ? why.message() : why.message() + "; " + stored.message()},
             {"effect", kept ? "kept as a dead letter (pgagentctl deadletter list); the records "
                               "behind it are stored"
                             : "LOST: too large for the dead-letter store too; the records "
                               "behind it are stored"}});
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
  s.refused_frames = stats_->refused_frames;
  s.unstorable_records = stats_->unstorable_records;
  s.unstorable_dropped = stats_->unstorable_dropped;
  return s;
}

}  // namespace pgagent
