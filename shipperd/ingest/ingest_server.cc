#include "shipperd/ingest/ingest_server.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "common/ipc_frame.h"

namespace pgagent {

namespace {

IngestSessionOptions SessionOptions(const IngestOptions& options) {
  IngestSessionOptions session;
  session.max_message_bytes = options.max_message_bytes;
  session.peer_idle_timeout = options.peer_idle_timeout;
  session.max_peers = options.max_peers;
  session.self_uid = ::geteuid();
  session.collector_state_dir = options.collector_state_dir;
  return session;
}

// The owner of collectord's state directory; nullopt while it does not exist.
IngestSession::CollectorUidLookup StateDirOwner(const std::string& dir) {
  if (dir.empty()) return nullptr;
  return [dir]() -> std::optional<uid_t> {
    struct stat st {};
    if (::stat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return st.st_uid;
    return std::nullopt;
  };
}

}  // namespace

IngestServer::IngestServer(const IngestOptions& options, RecordBuffer& buffer, const Clock& clock)
    : options_(options),
      endpoint_(IngestEndpoint(options.runtime_dir)),
      socket_path_(IngestSocketPath(options.runtime_dir)),
      context_(1),
      socket_(context_, zmq::socket_type::router),
      monitor_(context_, zmq::socket_type::pair),
      session_(SessionOptions(options), buffer, clock, StateDirOwner(options.collector_state_dir)) {
}

IngestServer::~IngestServer() {
  try {
    socket_.close();
    monitor_.close();
  } catch (const zmq::error_t&) {
  }
  ::unlink(socket_path_.c_str());
}

Result<std::unique_ptr<IngestServer>> IngestServer::Bind(const IngestOptions& options,
                                                         RecordBuffer& buffer, const Clock& clock) {
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
  std::vector<IngestFrame> batch = ReceiveBatch(timeout);
  DrainMonitor();
  session_.ForgetIdlePeers();
  if (batch.empty()) return Status::Ok();
  std::vector<IngestReply> replies;
  Status handled = session_.HandleBatch(batch, &replies);
  for (const IngestReply& reply : replies) Send(reply);
  return handled;
}

std::vector<IngestFrame> IngestServer::ReceiveBatch(std::chrono::milliseconds timeout) {
  std::vector<IngestFrame> batch;
  zmq::pollitem_t item{static_cast<void*>(socket_), 0, ZMQ_POLLIN, 0};
  try {
    if (zmq::poll(&item, 1, timeout) <= 0) return batch;
    while (batch.size() < options_.max_batch_records) {
      zmq::message_t identity;
      if (!socket_.recv(identity, zmq::recv_flags::dontwait)) break;
      IngestFrame in;
      in.peer_id = identity.to_string();
      zmq::message_t payload;
      bool more = identity.more();
      if (more && socket_.recv(payload, zmq::recv_flags::dontwait)) {
        in.bytes = payload.to_string();
        more = payload.more();
        // The connection's credentials ride on the messages it sent (not always on the
        // routing id part, which the ROUTER makes up).
        try {
          in.credentials = ParseIpcPeerAddress(payload.gets("Peer-Address"));
        } catch (const zmq::error_t&) {
          // No credentials for this connection: the session refuses it.
        }
      }
      while (more) {  // extra parts are not part of the protocol: drain and count
        zmq::message_t extra;
        if (!socket_.recv(extra, zmq::recv_flags::dontwait)) break;
        more = extra.more();
        in.bytes.clear();
      }
      batch.push_back(std::move(in));
    }
  } catch (const zmq::error_t&) {
    // EINTR from a signal: handle what was read; the caller's loop checks for shutdown.
  }
  return batch;
}

void IngestServer::Send(const IngestReply& reply) {
  const std::string bytes = EncodeFrame(reply.frame);
  try {
    if (!socket_.send(zmq::buffer(reply.peer_id),
                      zmq::send_flags::sndmore | zmq::send_flags::dontwait)) {
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
      session_.NoteDisconnect();
    }
  } catch (const zmq::error_t&) {
  }
}

IngestStats IngestServer::stats() const { return session_.stats(); }

}  // namespace pgagent
