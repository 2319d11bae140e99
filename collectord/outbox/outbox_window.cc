#include "collectord/outbox/outbox_window.h"

#include <utility>

#include "common/log.h"

namespace pgagent {

using pgagent::v1::Frame;
using pgagent::v1::Record;

namespace {

bool IsLog(const Record& r) { return r.kind() == pgagent::v1::RECORD_KIND_LOG; }

}  // namespace

OutboxWindow::OutboxWindow(OutboxOptions options, const Clock& clock,
                           std::function<std::string()> new_boot_id)
    : options_(options), clock_(clock), new_boot_id_(std::move(new_boot_id)) {
  boot_id_ = new_boot_id_();
  last_progress_ = clock_.Monotonic();
  last_sent_ = last_progress_;
  last_heard_ = last_progress_;
}

bool OutboxWindow::PeerAlive() const {
  return clock_.Monotonic() - last_heard_ < options_.peer_timeout;
}

Status OutboxWindow::Offer(Record record) {
  const auto bytes = static_cast<int64_t>(record.ByteSizeLong());
  if (bytes > options_.max_record_bytes) {
    ++stats_.dropped_oversize;
    return InvalidArgumentError("record of " + std::to_string(bytes) +
                                " bytes exceeds the IPC limit of " +
                                std::to_string(options_.max_record_bytes));
  }
  if (IsLog(record)) {
    if (!CanAcceptLog()) return ResourceExhaustedError("IPC window full; log reading pauses");
    ++pending_logs_;
  } else {
    pending_snapshot_bytes_ += static_cast<size_t>(bytes);
  }
  ++stats_.offered;
  pending_.push_back(std::move(record));
  while (pending_snapshot_bytes_ > options_.max_pending_snapshot_bytes) {
    DropOldestPendingSnapshot();
  }
  return Status::Ok();
}

void OutboxWindow::DropOldestPendingSnapshot() {
  for (auto it = pending_.begin(); it != pending_.end(); ++it) {
    if (IsLog(*it)) continue;
    pending_snapshot_bytes_ -= it->ByteSizeLong();
    pending_.erase(it);
    ++stats_.dropped_snapshots;
    return;
  }
  pending_snapshot_bytes_ = 0;  // only logs left: nothing to drop
}

bool OutboxWindow::CanAcceptLog() const { return pending_logs_ < options_.max_pending_log_records; }

void OutboxWindow::Pump(const std::function<bool(const std::string&)>& send) {
  CheckAckTimeout();
  if (state_ != State::kReady) {
    PumpHello(send);
    return;
  }
  FillWindow();
  if (!PumpRecords(send)) return;
  PumpHeartbeat(send);
}

bool OutboxWindow::PumpHello(const std::function<bool(const std::string&)>& send) {
  const auto now = clock_.Monotonic();
  if (state_ == State::kAwaitWelcome && now - hello_sent_at_ < options_.ack_timeout) return true;
  Frame frame;
  auto* hello = frame.mutable_hello();
  hello->set_boot_id(boot_id_);
  hello->set_protocol_version(kIpcProtocolVersion);
  hello->set_agent_version(PGAGENT_VERSION);
  hello->set_nonce(++hello_nonce_);
  if (!send(EncodeFrame(frame))) return false;
  ++stats_.hellos;
  state_ = State::kAwaitWelcome;
  hello_sent_at_ = now;
  last_sent_ = now;
  return true;
}

void OutboxWindow::FillWindow() {
  while (!pending_.empty() && inflight_.size() < options_.max_inflight_records &&
         (inflight_.empty() || inflight_bytes_ < options_.max_inflight_bytes)) {
    InFlight entry;
    entry.record = std::move(pending_.front());
    pending_.pop_front();
    if (IsLog(entry.record)) {
      --pending_logs_;
    } else {
      pending_snapshot_bytes_ -= entry.record.ByteSizeLong();
    }
    entry.seq = next_seq_++;
    entry.record.mutable_id()->set_boot_id(boot_id_);
    entry.record.mutable_id()->set_seq(entry.seq);
    entry.bytes = entry.record.ByteSizeLong();
    inflight_bytes_ += entry.bytes;
    if (inflight_.empty()) last_progress_ = clock_.Monotonic();
    inflight_.push_back(std::move(entry));
  }
}

bool OutboxWindow::PumpRecords(const std::function<bool(const std::string&)>& send) {
  for (InFlight& entry : inflight_) {
    if (entry.sent) continue;
    Frame frame;
    frame.mutable_record()->set_seq(entry.seq);
    // Lent to the frame for its encoding (Swap is O(1)), not copied: a log record holds
    // hundreds of entries.
    frame.mutable_record()->mutable_record()->Swap(&entry.record);
    const bool sent = send(EncodeFrame(frame));
    frame.mutable_record()->mutable_record()->Swap(&entry.record);
    if (!sent) return false;
    entry.sent = true;
    if (++entry.sends > 1) ++stats_.resent;
    ++stats_.sent;
    last_sent_ = clock_.Monotonic();
  }
  return true;
}

void OutboxWindow::PumpHeartbeat(const std::function<bool(const std::string&)>& send) {
  const auto now = clock_.Monotonic();
  if (now - last_sent_ < options_.heartbeat_interval) return;
  Frame frame;
  frame.mutable_heartbeat()->set_sent_ms(static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count()));
  if (send(EncodeFrame(frame))) last_sent_ = now;
}

void OutboxWindow::CheckAckTimeout() {
  if (state_ != State::kReady || inflight_.empty() || !inflight_.front().sent) return;
  if (clock_.Monotonic() - last_progress_ >= options_.ack_timeout) Resync();
}

void OutboxWindow::Resync() {
  ++stats_.resyncs;
  state_ = State::kNeedHello;
  last_progress_ = clock_.Monotonic();
}

std::vector<Record> OutboxWindow::OnFrame(const Frame& frame) {
  last_heard_ = clock_.Monotonic();
  std::vector<Record> acked;
  switch (frame.body_case()) {
    case Frame::kWelcome:
      OnWelcome(frame.welcome(), &acked);
      break;
    case Frame::kAck:
      if (frame.ack().boot_id() == boot_id_) acked = AckUpTo(frame.ack().high_water_mark());
      break;
    case Frame::kHelloRequired:
      Resync();
      break;
    case Frame::kReject:
      OnReject(frame.reject());
      break;
    default:
      break;  // heartbeats and unexpected frames carry nothing to do
  }
  return acked;
}

std::vector<Record> OutboxWindow::AckUpTo(uint64_t hwm) {
  std::vector<Record> acked;
  while (!inflight_.empty() && inflight_.front().seq <= hwm) {
    inflight_bytes_ -= inflight_.front().bytes;
    acked.push_back(std::move(inflight_.front().record));
    inflight_.pop_front();
  }
  if (!acked.empty()) {
    stats_.acked += acked.size();
    last_progress_ = clock_.Monotonic();
  }
  return acked;
}

void OutboxWindow::OnWelcome(const pgagent::v1::Welcome& welcome, std::vector<Record>* acked) {
  if (welcome.protocol_version() != kIpcProtocolVersion) {
    Resync();  // a peer of another version: keep everything, say Hello again later
    return;
  }
  if (welcome.nonce() != hello_nonce_) {
    ++stats_.stale_welcomes;  // answers an earlier Hello: its high-water mark is stale
    return;
  }
  const uint64_t hwm = welcome.high_water_mark();
  if (hwm >= next_seq_) {  // shipperd knows more of this boot than we sent: ids collide
    StartNewBoot("high-water mark past the last seq sent", hwm);
    return;
  }
  *acked = AckUpTo(hwm);
  if (!inflight_.empty() && inflight_.front().seq > hwm + 1) {  // a gap we cannot fill
    StartNewBoot("high-water mark below the window's first seq", hwm);
    return;
  }
  for (InFlight& entry : inflight_) entry.sent = false;  // resend the rest, in order
  if (state_ == State::kReady) ++stats_.resyncs;
  state_ = State::kReady;
  last_progress_ = clock_.Monotonic();
}

void OutboxWindow::OnReject(const pgagent::v1::Reject& reject) {
  if (reject.boot_id() != boot_id_) return;  // about a record of an earlier boot
  for (auto it = inflight_.begin(); it != inflight_.end(); ++it) {
    if (it->seq != reject.seq()) continue;
    inflight_bytes_ -= it->bytes;
    inflight_.erase(it);
    ++stats_.rejected;
    StartNewBoot("record rejected", reject.seq());  // the gap: renumber what remains
    return;
  }
}

void OutboxWindow::StartNewBoot(const char* why, uint64_t seq) {
  ++stats_.new_boots;
  log::Info("ipc.new_boot_id", {{"reason", why},
                                {"old_boot_id", boot_id_},
                                {"seq", seq},
                                {"next_seq", next_seq_},
                                {"first_in_window", inflight_.empty() ? 0 : inflight_.front().seq},
                                {"in_window", inflight_.size()}});
  boot_id_ = new_boot_id_();
  next_seq_ = 1;
  for (InFlight& entry : inflight_) {
    entry.seq = next_seq_++;
    entry.record.mutable_id()->set_boot_id(boot_id_);
    entry.record.mutable_id()->set_seq(entry.seq);
    entry.sent = false;
  }
  state_ = State::kNeedHello;
}

OutboxStats OutboxWindow::stats() const {
  OutboxStats s = stats_;
  s.inflight_records = inflight_.size();
  s.inflight_bytes = inflight_bytes_;
  s.pending_records = pending_.size();
  s.pending_log_records = pending_logs_;
  return s;
}

}  // namespace pgagent
