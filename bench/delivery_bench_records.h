// A realistic stream of collector records for the delivery benchmarks: what collectord
// produces at the default 60 s interval on a busy PHP/PostgreSQL host.
//   - At each minute: one activity snapshot (40 sessions, 3 of them with distinct
//     correlation ids), one statements snapshot (100 statements), one system snapshot and
//     two agent-health records (collectord and shipperd).
//   - Every second: one log batch (log_linger_ms = 1000), 200 lines a minute in all, every
//     20th line a slow-query duration line with a correlation id.
// Deterministic (fixed seed), so runs are comparable.
// Thread-safety: not thread-safe; one benchmark thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "pgagent/v1/records.pb.h"

namespace pgagent::bench {

struct RecordMixOptions {
  int sessions = 40;
  int correlated_sessions = 3;
  int statements = 100;
  int log_lines_per_minute = 200;
  int correlated_line_every = 20;  // every Nth log line carries a correlation id
};

class RecordMix {
 public:
  explicit RecordMix(RecordMixOptions options = {}) : options_(options), rng_(20261127) {}

  // The records collected during second `second_of_minute` (0..59) whose wall time is `at`,
  // in collection order: the snapshots (at second 0 only), then that second's log batch.
  std::vector<pgagent::v1::Record> Second(std::chrono::system_clock::time_point at,
                                          int second_of_minute) {
    std::vector<pgagent::v1::Record> records;
    if (second_of_minute == 0) {
      records.push_back(Activity(at));
      records.push_back(Statements(at));
      records.push_back(System(at));
      records.push_back(Health(at, "collectord"));
      records.push_back(Health(at, "shipperd"));
    }
    const int lines = LinesBefore(second_of_minute + 1) - LinesBefore(second_of_minute);
    if (lines > 0) records.push_back(Logs(at, lines));
    return records;
  }

  // A whole minute starting at `start` (the 60 seconds of Second()).
  std::vector<pgagent::v1::Record> Minute(std::chrono::system_clock::time_point start) {
    std::vector<pgagent::v1::Record> records;
    for (int s = 0; s < 60; ++s) {
      for (auto& r : Second(start + std::chrono::seconds(s), s)) records.push_back(std::move(r));
    }
    return records;
  }

  uint64_t last_seq() const { return seq_; }

 private:
  int LinesBefore(int second) const { return options_.log_lines_per_minute * second / 60; }

  pgagent::v1::Record Base(pgagent::v1::RecordKind kind, std::chrono::system_clock::time_point at) {
    pgagent::v1::Record r;
    r.mutable_id()->set_boot_id("0b6a3d9e-6c1f-4f7e-9a55-1d2f3c4b5a69");
    r.mutable_id()->set_seq(++seq_);
    r.set_kind(kind);
    const auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(at.time_since_epoch()).count();
    r.mutable_collected_at()->set_seconds(ms / 1000);
    r.mutable_collected_at()->set_nanos(static_cast<int32_t>(ms % 1000) * 1000000);
    r.set_project_id("bench");
    r.set_host("db1.example.internal");
    return r;
  }

  std::string Uuid() {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string id = "xxxxxxxx-xxxx-4xxx-8xxx-xxxxxxxxxxxx";
    for (char& c : id) {
      if (c == 'x') c = kHex[rng_() % 16];
    }
    return id;
  }

  std::string Query(size_t target) {
    static const char* kParts[] = {
        "SELECT o.id, o.total, c.email FROM orders o ", "JOIN customers c ON c.id = o.customer_id ",
        "WHERE o.created_at > $1 AND o.status = $2 ", "ORDER BY o.created_at DESC LIMIT 50 ",
        "UPDATE inventory SET reserved = reserved + $1 "};
    std::string q;
    while (q.size() < target) q += kParts[rng_() % 5];
    q.resize(target);
    return q;
  }

  pgagent::v1::Record Activity(std::chrono::system_clock::time_point at) {
    pgagent::v1::Record r = Base(pgagent::v1::RECORD_KIND_ACTIVITY, at);
    auto* a = r.mutable_activity();
    for (int i = 0; i < options_.sessions; ++i) {
      auto* s = a->add_sessions();
      s->set_pid(10000 + i);
      s->set_datname("shop");
      s->set_usename("app");
      s->set_client_addr("10.0.3." + std::to_string(i % 250));
      s->set_backend_type("client backend");
      s->set_state(i % 4 == 0 ? "idle in transaction" : "active");
      s->set_query(Query(150 + rng_() % 300));
      s->set_query_duration_ms(static_cast<double>(rng_() % 5000) / 10.0);
      s->set_xact_duration_ms(static_cast<double>(rng_() % 9000) / 10.0);
      if (i < options_.correlated_sessions) {
        const std::string id = Uuid();
        s->set_application_name("bitville-" + id);
        s->set_correlation_id(id);
      } else {
        s->set_application_name("php-fpm");
      }
    }
    a->set_count(static_cast<uint32_t>(options_.sessions));
    a->set_with_correlation(static_cast<uint32_t>(options_.correlated_sessions));
    return r;
  }

  pgagent::v1::Record Statements(std::chrono::system_clock::time_point at) {
    pgagent::v1::Record r = Base(pgagent::v1::RECORD_KIND_STATEMENTS, at);
    auto* st = r.mutable_statements();
    for (int i = 0; i < options_.statements; ++i) {
      auto* d = st->add_statements();
      d->set_userid(16384);
      d->set_dbid(16385);
      d->set_queryid(static_cast<int64_t>(rng_() >> 1));
      d->set_toplevel(true);
      d->set_query(Query(100 + rng_() % 300));
      d->set_username("app");
      d->set_datname("shop");
      d->set_calls(rng_() % 10000);
      d->set_total_exec_time_ms(static_cast<double>(rng_() % 100000) / 10.0);
      d->set_mean_exec_time_ms(static_cast<double>(rng_() % 1000) / 10.0);
      d->set_rows(rng_() % 100000);
      d->set_shared_blks_hit(rng_() % 1000000);
      d->set_shared_blks_read(rng_() % 10000);
    }
    st->set_count(static_cast<uint32_t>(options_.statements));
    st->set_interval_s(60);
    return r;
  }

  pgagent::v1::Record System(std::chrono::system_clock::time_point at) {
    pgagent::v1::Record r = Base(pgagent::v1::RECORD_KIND_SYSTEM, at);
    auto* m = r.mutable_system();
    m->mutable_cpu()->set_percent(static_cast<double>(rng_() % 1000) / 10.0);
    m->set_interval_s(60);
    for (const char* mount : {"/", "/var/lib/postgresql", "/var/log"}) {
      auto* d = m->add_disk_usage();
      d->set_label(mount);
      d->set_path(mount);
      d->set_total(500ull << 30);
      d->set_used(rng_() % (400ull << 30));
      d->set_free((500ull << 30) - d->used());
      d->set_percent(100.0 * static_cast<double>(d->used()) / static_cast<double>(d->total()));
    }
    return r;
  }

  pgagent::v1::Record Health(std::chrono::system_clock::time_point at, const char* component) {
    pgagent::v1::Record r = Base(pgagent::v1::RECORD_KIND_HEALTH, at);
    auto* h = r.mutable_health();
    h->set_component(component);
    h->set_version("1.0.0");
    h->set_uptime_s(86400);
    h->set_rss_bytes(24u << 20);
    h->set_cpu_percent(0.4);
    return r;
  }

  pgagent::v1::Record Logs(std::chrono::system_clock::time_point at, int lines) {
    pgagent::v1::Record r = Base(pgagent::v1::RECORD_KIND_LOG, at);
    auto* batch = r.mutable_log();
    for (int i = 0; i < lines; ++i) {
      auto* e = batch->add_entries();
      *e->mutable_timestamp() = r.collected_at();
      e->set_pid(10000 + static_cast<int32_t>(rng_() % 40));
      e->set_user("app");
      e->set_database("shop");
      e->set_parsed(true);
      if (++log_lines_ % options_.correlated_line_every == 0) {
        e->set_level("LOG");
        e->set_duration_ms(static_cast<double>(1000 + rng_() % 9000) / 10.0);
        e->set_message("duration: " + std::to_string(e->duration_ms()) + " ms");
        e->set_statement(Query(120 + rng_() % 200));
        e->set_correlation_id(Uuid());
      } else {
        e->set_level(rng_() % 10 == 0 ? "ERROR" : "LOG");
        e->set_message("connection authorized: user=app database=shop application_name=php-fpm");
      }
    }
    batch->set_count(static_cast<uint32_t>(lines));
    return r;
  }

  RecordMixOptions options_;
  std::mt19937_64 rng_;
  uint64_t seq_ = 0;
  uint64_t log_lines_ = 0;
};

}  // namespace pgagent::bench
