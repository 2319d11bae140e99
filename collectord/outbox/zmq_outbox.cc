#include "collectord/outbox/zmq_outbox.h"

#include "common/ids.h"
#include "common/ipc_frame.h"

namespace pgagent {

ZmqOutbox::ZmqOutbox(const ZmqOutboxOptions& options, const Clock& clock)
    : options_(options),
      context_(1),
      socket_(context_, zmq::socket_type::dealer),
      window_(options.window, clock, [] { return NewUuid(); }) {}

ZmqOutbox::~ZmqOutbox() = default;

Result<std::unique_ptr<ZmqOutbox>> ZmqOutbox::Connect(const ZmqOutboxOptions& options,
                                                      const Clock& clock) {
  if (options.endpoint.rfind("ipc://", 0) != 0) {
    return InvalidArgumentError("IPC endpoint must be ipc://..., got " + options.endpoint);
  }
  std::unique_ptr<ZmqOutbox> outbox(new ZmqOutbox(options, clock));
  try {
    auto& s = outbox->socket_;
    s.set(zmq::sockopt::linger, 0);
    // Queue only to a live connection: a frame handed to a dead peer would be lost silently,
    // and the window must know what was really sent.
    s.set(zmq::sockopt::immediate, 1);
    s.set(zmq::sockopt::reconnect_ivl, 100);
    s.set(zmq::sockopt::reconnect_ivl_max, 2000);
    s.set(zmq::sockopt::maxmsgsize, options.max_message_bytes);
    s.set(zmq::sockopt::sndhwm, 1000);
    s.connect(options.endpoint);
  } catch (const zmq::error_t& e) {
    return UnavailableError(std::string("connect ") + options.endpoint + ": " + e.what());
  }
  return outbox;
}

bool ZmqOutbox::SendFrame(const std::string& bytes) {
  try {
    auto sent = socket_.send(zmq::buffer(bytes), zmq::send_flags::dontwait);
    return sent.has_value();
  } catch (const zmq::error_t&) {
    return false;  // no connection or queue full: the window retries later
  }
}

void ZmqOutbox::Poll(std::chrono::milliseconds timeout, std::vector<pgagent::v1::Record>* acked) {
  window_.Pump([this](const std::string& bytes) { return SendFrame(bytes); });
  Receive(timeout, acked);
  window_.Pump([this](const std::string& bytes) { return SendFrame(bytes); });
}

void ZmqOutbox::Receive(std::chrono::milliseconds timeout,
                        std::vector<pgagent::v1::Record>* acked) {
  zmq::pollitem_t item{static_cast<void*>(socket_), 0, ZMQ_POLLIN, 0};
  try {
    if (zmq::poll(&item, 1, timeout) <= 0) return;
    for (int i = 0; i < 1000; ++i) {  // drain what is there, bounded
      zmq::message_t msg;
      if (!socket_.recv(msg, zmq::recv_flags::dontwait)) return;
      auto frame = DecodeFrame(msg.to_string_view(), options_.max_message_bytes);
      if (!frame.ok()) {
        ++malformed_frames_;
        continue;
      }
      for (auto& r : window_.OnFrame(*frame)) acked->push_back(std::move(r));
    }
  } catch (const zmq::error_t&) {
    // EINTR (a signal) or a closing context: the caller's loop decides what happens next.
  }
}

ZmqOutboxStats ZmqOutbox::stats() const {
  ZmqOutboxStats s;
  s.window = window_.stats();
  s.malformed_frames = malformed_frames_;
  return s;
}

}  // namespace pgagent
