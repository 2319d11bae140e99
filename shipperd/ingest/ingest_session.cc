#include "shipperd/ingest/ingest_session.h"

#include <atomic>
#include <charconv>

#include "common/ipc_frame.h"
#include "common/log.h"

namespace pgagent {

using pgagent::v1::Frame;
using pgagent::v1::Record;

struct IngestSession::AtomicStats {
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

Frame WelcomeFrame(uint64_t hwm, uint64_t nonce) {
  Frame reply;
  reply.mutable_welcome()->set_protocol_version(kIpcProtocolVersion);
  reply.mutable_welcome()->set_high_water_mark(hwm);
  reply.mutable_welcome()->set_nonce(nonce);
  return reply;
}

Frame RejectFrame(const std::string& reason) {
  Frame reply;
  reply.mutable_reject()->set_reason(reason);
  return reply;
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

IngestSession::IngestSession(const IngestSessionOptions& options, RecordBuffer& buffer,
                             const Clock& clock, CollectorUidLookup collector_uid)
    : options_(options),
      buffer_(buffer),
      clock_(clock),
      collector_uid_lookup_(std::move(collector_uid)),
      stats_(std::make_unique<AtomicStats>()) {}

IngestSession::~IngestSession() = default;

Status IngestSession::HandleBatch(std::vector<IngestFrame>& frames,
                                  std::vector<IngestReply>* replies) {
  BatchState batch;
  batch.replies = replies;
  for (IngestFrame& in : frames) {
    ++stats_->frames;
    HandleFrame(in, batch);
  }
  if (!batch.to_store.empty()) PGAGENT_RETURN_IF_ERROR(Store(batch.to_store));
  AckBatch(batch);
  return Status::Ok();
}

void IngestSession::HandleFrame(IngestFrame& in, BatchState& batch) {
  if (!Authorized(in, batch)) return;
  auto frame = DecodeFrame(in.bytes, options_.max_message_bytes);
  if (!frame.ok()) {
    ++stats_->malformed_frames;
    return;
  }
  if (frame->has_hello()) {
    HandleHello(in.peer_id, frame->hello(), batch);
    batch.next_hwm.erase(in.peer_id);
    batch.resynced.erase(in.peer_id);
    return;
  }
  auto peer_it = peers_.find(in.peer_id);
  if (frame->has_heartbeat()) {
    if (peer_it != peers_.end()) peer_it->second.last_seen = clock_.Monotonic();
    Frame reply;
    reply.mutable_heartbeat()->set_sent_ms(0);
    batch.replies->push_back({in.peer_id, std::move(reply)});
    return;
  }
  if (!frame->has_record()) {
    ++stats_->malformed_frames;  // a collector never sends Welcome/Ack/... to us
    return;
  }
  if (peer_it == peers_.end()) {
    if (batch.told_hello.insert(in.peer_id).second) {
      ++stats_->hello_required;
      Frame reply;
      reply.mutable_hello_required()->set_reason("unknown peer: send Hello first");
      batch.replies->push_back({in.peer_id, std::move(reply)});
    }
    return;
  }
  peer_it->second.last_seen = clock_.Monotonic();
  if (batch.resynced.count(in.peer_id)) return;  // waiting for the resend in order
  HandleRecord(in.peer_id, *frame->mutable_record(), peer_it->second, batch);
}

void IngestSession::HandleRecord(const std::string& peer_id, pgagent::v1::RecordFrame& rf,
                                 Peer& peer, BatchState& batch) {
  const Record& record = rf.record();
  Status valid = ValidateRecord(record);
  if (valid.ok() && (record.id().seq() != rf.seq() || record.id().boot_id() != peer.boot_id)) {
    valid = InvalidArgumentError("record id does not match the frame or the peer's Hello");
  }
  if (!valid.ok()) {
    ++stats_->invalid_records;
    Frame reply = RejectFrame(valid.message());
    reply.mutable_reject()->set_seq(rf.seq());
    reply.mutable_reject()->set_boot_id(record.id().boot_id());
    batch.replies->push_back({peer_id, std::move(reply)});
    return;
  }
  uint64_t& hwm = batch.next_hwm.try_emplace(peer_id, peer.hwm).first->second;
  if (rf.seq() <= hwm) {
    ++stats_->duplicates;
    return;  // acknowledged with the high-water mark
  }
  if (rf.seq() != hwm + 1) {
    ++stats_->out_of_order;
    batch.resynced.insert(peer_id);
    batch.replies->push_back({peer_id, WelcomeFrame(hwm, peer.hello_nonce)});
    return;
  }
  hwm = rf.seq();
  batch.to_store.push_back(std::move(*rf.mutable_record()));
}

void IngestSession::AckBatch(BatchState& batch) {
  for (const auto& [peer_id, hwm] : batch.next_hwm) {
    auto it = peers_.find(peer_id);
    if (it == peers_.end()) continue;
    it->second.hwm = hwm;
    Frame ack;
    ack.mutable_ack()->set_boot_id(it->second.boot_id);
    ack.mutable_ack()->set_high_water_mark(hwm);
    batch.replies->push_back({peer_id, std::move(ack)});
    ++stats_->acks_sent;
  }
}

void IngestSession::HandleHello(const std::string& peer_id, const pgagent::v1::Hello& hello,
                                BatchState& batch) {
  ++stats_->hellos;
  if (hello.protocol_version() != kIpcProtocolVersion || hello.boot_id().empty()) {
    ++stats_->bad_protocol_version;
    peers_.erase(peer_id);
    batch.replies->push_back(
        {peer_id,
         RejectFrame("unsupported protocol version " + std::to_string(hello.protocol_version()) +
                     " (this shipperd speaks " + std::to_string(kIpcProtocolVersion) + ")")});
    return;
  }
  auto hwm = buffer_.HighWaterMark(hello.boot_id());
  if (!hwm.ok()) {
    ++stats_->buffer_errors;
    return;  // no Welcome: the collector says Hello again after its timeout
  }
  Peer& peer = peers_[peer_id];
  peer.boot_id = hello.boot_id();
  peer.hwm = *hwm;
  peer.hello_nonce = hello.nonce();
  peer.last_seen = clock_.Monotonic();
  stats_->peers = peers_.size();
  batch.replies->push_back({peer_id, WelcomeFrame(*hwm, hello.nonce())});
}

bool IngestSession::Authorized(const IngestFrame& in, BatchState& batch) {
  if (in.credentials && IngestPeerAllowed(in.credentials->uid, options_.self_uid, CollectorUid())) {
    return true;
  }
  ++stats_->refused_frames;
  LogRefused(in);
  if (batch.refused.insert(in.peer_id).second) {
    batch.replies->push_back(
        {in.peer_id,
         RejectFrame(
             "permission denied: this process is not the collector (SO_PEERCRED uid " +
             (in.credentials ? std::to_string(in.credentials->uid) : std::string("unknown")) +
             ")")});
  }
  return false;
}

void IngestSession::LogRefused(const IngestFrame& in) {
  const pid_t pid = in.credentials ? in.credentials->pid : 0;
  if (refused_pids_logged_.size() >= kMaxRefusedPidsLogged) refused_pids_logged_.clear();
  if (!refused_pids_logged_.insert(pid).second) return;
  const std::optional<uid_t> collector = CollectorUid();
  log::Warn("ingest.peer_refused",
            {{"uid", in.credentials ? std::to_string(in.credentials->uid) : "unknown"},
             {"pid", static_cast<int64_t>(pid)},
             {"collector_uid", collector ? std::to_string(*collector) : "unknown"},
             {"collector_state_dir", options_.collector_state_dir},
             {"effect",
              "its frames are ignored: only root, shipperd's user and the owner of "
              "collectord's state directory may send records"}});
}

// Looked up again at most once a second while a sender is checked (the collector's state
// directory may be created after shipperd started); a failed lookup keeps the last answer.
std::optional<uid_t> IngestSession::CollectorUid() {
  if (!collector_uid_lookup_) return std::nullopt;
  const auto now = clock_.Monotonic();
  if (collector_uid_checked_ && now - *collector_uid_checked_ < std::chrono::seconds(1)) {
    return collector_uid_;
  }
  collector_uid_checked_ = now;
  if (std::optional<uid_t> uid = collector_uid_lookup_()) collector_uid_ = uid;
  return collector_uid_;
}

Status IngestSession::Store(const std::vector<Record>& records) {
  auto outcome = buffer_.Append(records);
  if (!outcome.ok() && outcome.status().code() == StatusCode::kResourceExhausted) {
    return StoreOneByOne(records);
  }
  return Counted(outcome);
}

Status IngestSession::Counted(const Result<AppendOutcome>& outcome) {
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
Status IngestSession::StoreOneByOne(const std::vector<Record>& records) {
  for (const Record& record : records) {
    auto outcome = buffer_.Append({record});
    if (!outcome.ok() && outcome.status().code() == StatusCode::kResourceExhausted) {
      PGAGENT_RETURN_IF_ERROR(DeadLetterUnstorable(record, outcome.status()));
      continue;
    }
    PGAGENT_RETURN_IF_ERROR(Counted(outcome));
  }
  return Status::Ok();
}

Status IngestSession::DeadLetterUnstorable(const Record& record, const Status& why) {
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

void IngestSession::ForgetIdlePeers() {
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

void IngestSession::NoteDisconnect() { ++stats_->disconnects; }

IngestStats IngestSession::stats() const {
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
