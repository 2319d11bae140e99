// FakePgSession: a scripted PgSession for unit tests. Queries are answered by the first
// rule whose `contains` substring occurs in the SQL (rules added later are checked first,
// so a test can override a default). Connect() results can be queued. Every query (with
// its parameters) is recorded.
// Thread-safety: not thread-safe; use from the test thread.
#pragma once

#include <deque>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "collectord/pg/pg_session.h"

namespace pgagent {

class FakePgSession final : public PgSession {
 public:
  using Handler =
      std::function<Result<PgResult>(const std::string& sql, const std::vector<PgValue>& params)>;

  // Answers queries containing `contains` with `handler`.
  void On(std::string contains, Handler handler) {
    rules_.insert(rules_.begin(), {std::move(contains), std::move(handler)});
  }
  // Answers queries containing `contains` with a fixed result.
  void OnResult(std::string contains, PgResult result) {
    On(std::move(contains), [result](const std::string&, const std::vector<PgValue>&) {
      return Result<PgResult>(result);
    });
  }
  // The next Connect() calls return these, in order; then OK.
  void QueueConnectResult(Status status) { connect_results_.push_back(std::move(status)); }
  // Simulates the server going away: the next query fails with kUnavailable and the
  // session is closed (as LibpqSession does when the socket breaks mid-query).
  void DropConnection() { drop_next_query_ = true; }

  Status Connect() override {
    ++connect_calls_;
    Status st;
    if (!connect_results_.empty()) {
      st = connect_results_.front();
      connect_results_.pop_front();
    }
    connected_ = st.ok();
    return st;
  }
  void Close() override { connected_ = false; }
  bool IsConnected() const override { return connected_; }
  Result<PgResult> Query(std::string_view sql, const std::vector<PgValue>& params = {}) override {
    std::string text = TagQuery(sql);
    queries_.push_back({text, params});
    if (!connected_) return UnavailableError("fake: not connected");
    if (drop_next_query_) {
      drop_next_query_ = false;
      connected_ = false;
      return UnavailableError("fake: server closed the connection unexpectedly");
    }
    for (const auto& [contains, handler] : rules_) {
      if (text.find(contains) != std::string::npos) return handler(text, params);
    }
    return InternalError("fake: no rule for query: " + text);
  }
  uint64_t BytesReceived() const override { return 0; }

  int connect_calls() const { return connect_calls_; }
  const std::vector<std::pair<std::string, std::vector<PgValue>>>& queries() const {
    return queries_;
  }
  // Number of recorded queries containing `contains`.
  int CountQueries(const std::string& contains) const {
    int n = 0;
    for (const auto& q : queries_) n += q.first.find(contains) != std::string::npos;
    return n;
  }

 private:
  std::vector<std::pair<std::string, Handler>> rules_;
  std::deque<Status> connect_results_;
  std::vector<std::pair<std::string, std::vector<PgValue>>> queries_;
  bool connected_ = false;
  bool drop_next_query_ = false;
  int connect_calls_ = 0;
};

// Builds a PgResult from column names and rows of optional strings.
inline PgResult MakePgResult(std::vector<std::string> columns, std::vector<PgRow> rows) {
  PgResult r;
  r.columns = std::move(columns);
  r.rows = std::move(rows);
  return r;
}

}  // namespace pgagent
