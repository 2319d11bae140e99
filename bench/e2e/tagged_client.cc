#include "bench/e2e/tagged_client.h"

#include <libpq-fe.h>

#include <chrono>
#include <random>

#include "common/ids.h"

namespace pgagent::e2e {
namespace {

using namespace std::chrono_literals;

double UnixNow() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

bool Exec(PGconn* conn, const std::string& sql, bool expect_error) {
  PGresult* r = PQexec(conn, sql.c_str());
  const ExecStatusType status = PQresultStatus(r);
  PQclear(r);
  if (expect_error) return status == PGRES_FATAL_ERROR;
  return status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK;
}

std::string Statement(const TaggedRequest& r, double slow_seconds) {
  std::string sql;
  if (r.kind == "slow") {
    sql = "SELECT pg_sleep(" + std::to_string(slow_seconds) + ")";
  } else if (r.kind == "failing") {
    sql = "SELECT 1 / (random() * 0)::int";  // division by zero at run time
  } else {
    sql = "SELECT 1";
  }
  if (r.comment) sql = "/* correlation:" + r.correlation_id + " */ " + sql;
  return sql;
}

}  // namespace

void TaggedClient::Start() {
  stop_ = false;
  thread_ = std::thread([this] { Run(); });
}

void TaggedClient::Stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

std::vector<TaggedRequest> TaggedClient::requests() const {
  std::lock_guard<std::mutex> lock(mu_);
  return requests_;
}

void TaggedClient::Run() {
  std::mt19937 rng(options_.seed);
  std::uniform_real_distribution<double> u(0, 1);
  const auto gap = std::chrono::duration<double>(60.0 / options_.per_minute);
  auto next = std::chrono::steady_clock::now();
  PGconn* conn = nullptr;
  uint64_t n = 0;
  while (!stop_) {
    if (std::chrono::steady_clock::now() < next) {
      std::this_thread::sleep_for(50ms);
      continue;
    }
    next += std::chrono::duration_cast<std::chrono::steady_clock::duration>(gap);
    if (conn == nullptr || PQstatus(conn) != CONNECTION_OK) {
      if (conn != nullptr) PQfinish(conn);
      conn = PQconnectdb(options_.conninfo.c_str());
      if (PQstatus(conn) != CONNECTION_OK) continue;  // PostgreSQL down: skipped, not recorded
    }
    TaggedRequest r;
    r.correlation_id = NewUuid();
    const double pick = u(rng);
    r.kind = pick < options_.slow_share                             ? "slow"
             : pick < options_.slow_share + options_.failing_share ? "failing"
                                                                   : "fast";
    r.comment = (n++ % 2) == 1;
    r.issued_unix_s = UnixNow();
    bool ok = true;
    if (!r.comment) ok = Exec(conn, "SET application_name = 'bitville-" + r.correlation_id + "'", false);
    if (ok) ok = Exec(conn, Statement(r, options_.slow_seconds), r.kind == "failing");
    if (!r.comment) Exec(conn, "SET application_name = 'pgagent-e2e-php'", false);
    r.completed = ok;
    std::lock_guard<std::mutex> lock(mu_);
    requests_.push_back(std::move(r));
  }
  if (conn != nullptr) PQfinish(conn);
}

}  // namespace pgagent::e2e
