#include "collectord/pg/pg_connection.h"

#include <charconv>

namespace pgagent {
namespace {

constexpr std::string_view kAfterConnectSql =
    "SELECT current_setting('server_version_num')::int AS server_version_num,"
    " pg_backend_pid() AS pid,"
    " (SELECT count(*) FROM pg_stat_activity"
    "   WHERE application_name = $1 AND pid <> pg_backend_pid()) AS other_agents";

int64_t ToInt(const PgValue& v) {
  if (!v) return 0;
  int64_t out = 0;
  std::from_chars(v->data(), v->data() + v->size(), out);
  return out;
}

}  // namespace

PgConnection::PgConnection(PgSession& session, const Clock& clock, PgConnectionOptions options,
                           uint64_t jitter_seed)
    : session_(session),
      clock_(clock),
      options_(std::move(options)),
      backoff_(options_.backoff, SeededRandom01(jitter_seed)) {}

std::string_view PgConnection::StateName() const {
  switch (state_) {
    case State::kConnected:
      return "connected";
    case State::kBackoff:
      return "backoff";
    case State::kDisconnected:
      break;
  }
  return "disconnected";
}

Status PgConnection::EnsureConnected() {
  if (state_ == State::kConnected && session_.IsConnected()) return Status::Ok();
  if (state_ == State::kConnected) {  // the session noticed a loss on its own
    ++connections_lost_;
    state_ = State::kDisconnected;
  }
  if (state_ == State::kBackoff && clock_.Monotonic() < retry_at_) {
    auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(retry_at_ - clock_.Monotonic());
    return UnavailableError("PostgreSQL unavailable, next connection attempt in " +
                            std::to_string(left.count()) + " ms; last error: " + last_error_);
  }
  Status st = Attempt();
  if (!st.ok()) ScheduleRetry(st);
  return st;
}

Status PgConnection::Attempt() {
  PGAGENT_RETURN_IF_ERROR(session_.Connect());
  Status st = AfterConnect();
  if (!st.ok()) {
    session_.Close();
    return st;
  }
  state_ = State::kConnected;
  backoff_.Reset();
  ++generation_;
  last_error_.clear();
  return Status::Ok();
}

Status PgConnection::AfterConnect() {
  auto res = session_.Query(kAfterConnectSql, {options_.application_name});
  if (!res.ok()) return res.status().WithContext("after connect");
  if (res->rows.empty()) return InternalError("after connect: no row");
  server_version_num_ = static_cast<int>(ToInt(res->Get(0, "server_version_num")));
  backend_pid_ = static_cast<int32_t>(ToInt(res->Get(0, "pid")));
  int64_t others = ToInt(res->Get(0, "other_agents"));
  if (options_.max_agent_sessions > 0 && others >= options_.max_agent_sessions) {
    return ResourceExhaustedError("refusing to connect: " + std::to_string(others) +
                                  " sessions with application_name '" + options_.application_name +
                                  "' already connected (max_agent_sessions = " +
                                  std::to_string(options_.max_agent_sessions) + ")");
  }
  return Status::Ok();
}

void PgConnection::ScheduleRetry(const Status& why) {
  ++failed_attempts_;
  last_error_ = why.ToString();
  state_ = State::kBackoff;
  retry_at_ = clock_.Monotonic() + backoff_.NextDelay();
}

Result<PgResult> PgConnection::Query(std::string_view sql, const std::vector<PgValue>& params) {
  PGAGENT_RETURN_IF_ERROR(EnsureConnected());
  auto res = session_.Query(sql, params);
  if (!res.ok() && res.status().code() == StatusCode::kUnavailable) {
    ++connections_lost_;
    last_error_ = res.status().ToString();
    session_.Close();
    state_ = State::kDisconnected;  // reconnect at once on the next call
  }
  return res;
}

void PgConnection::Disconnect() {
  session_.Close();
  state_ = State::kDisconnected;
}

}  // namespace pgagent
