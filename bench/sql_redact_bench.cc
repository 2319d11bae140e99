// Throughput of RedactSql and CorrelationExtractor::Extract on realistic statements
// (150-300 bytes: ORM-style selects, updates with string literals, IN lists, dollar quotes,
// pg_stat_statements texts with $n, correlation comments). Not a test.
//   sql_redact_bench --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
// Read the *_median rows: bytes_per_second (MB/s) and items_per_second (statements/s).
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <regex>
#include <string>
#include <vector>

#include "collectord/sql/correlation.h"
#include "collectord/sql/redact.h"

namespace {

const std::vector<std::string>& ActivityStatements() {
  static const std::vector<std::string> statements = {
      "/* correlation:3f2b8c1e-4a5d-4e6f-8a9b-0c1d2e3f4a5b */ SELECT u.id, u.email, u.created_at "
      "FROM users u WHERE u.email = 'alice.smith@example.com' AND u.deleted_at IS NULL "
      "ORDER BY u.created_at DESC LIMIT 20",
      "UPDATE orders SET status = 'shipped', shipped_at = '2026-11-27 10:00:00+00', "
      "tracking_no = E'1Z\\'999AA10123456784' WHERE id = 918273 AND customer_id = 5521 "
      "AND status = 'paid'",
      "SELECT p.id, p.title, p.price FROM products p JOIN categories c ON c.id = p.category_id "
      "WHERE c.slug = 'garden-tools' AND p.id IN (101, 102, 103, 104, 105, 106, 107, 108) "
      "AND p.price BETWEEN 9.99 AND 149.50",
      "INSERT INTO audit_log (actor_id, action, payload, created_at) VALUES (42, 'login', "
      "$json${\"ip\": \"203.0.113.7\", \"ua\": \"Mozilla/5.0\"}$json$, now()) "
      "/* correlation:aa2b8c1e-4a5d-4e6f-8a9b-0c1d2e3f4a5b */",
      "SELECT o.id, sum(li.quantity * li.unit_price) AS total FROM orders o JOIN line_items li "
      "ON li.order_id = o.id WHERE o.customer_id = $1 AND o.created_at > $2 GROUP BY o.id "
      "HAVING sum(li.quantity * li.unit_price) > $3 ORDER BY total DESC LIMIT $4",
      "DELETE FROM sessions WHERE expires_at < '2026-11-27T09:00:00Z'::timestamptz "
      "AND user_id NOT IN (SELECT id FROM users WHERE role = 'admin') -- cleanup job 7",
  };
  return statements;
}

size_t TotalBytes(const std::vector<std::string>& statements) {
  size_t total = 0;
  for (const std::string& s : statements) total += s.size();
  return total;
}

void BM_RedactSql(benchmark::State& state) {
  const std::vector<std::string>& statements = ActivityStatements();
  for (auto _ : state) {
    for (const std::string& s : statements) benchmark::DoNotOptimize(pgagent::RedactSql(s));
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * statements.size()));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * TotalBytes(statements)));
}
BENCHMARK(BM_RedactSql);

void BM_RedactSecrets(benchmark::State& state) {
  const std::vector<std::string>& statements = ActivityStatements();
  for (auto _ : state) {
    for (const std::string& s : statements) benchmark::DoNotOptimize(pgagent::RedactSecrets(s));
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * statements.size()));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * TotalBytes(statements)));
}
BENCHMARK(BM_RedactSecrets);

pgagent::CorrelationExtractor MakeExtractor() {
  auto created = pgagent::CorrelationExtractor::Create(pgagent::CorrelationOptions{});
  if (!created.ok()) std::abort();
  return std::move(created).value();
}

// Mixed session rows: two statements carry a comment id, the rest have none; the
// application_name is "php-fpm" (no id), so every row also tries the query.
void BM_CorrelationExtract(benchmark::State& state) {
  const pgagent::CorrelationExtractor x = MakeExtractor();
  const std::vector<std::string>& statements = ActivityStatements();
  for (auto _ : state) {
    for (const std::string& s : statements) benchmark::DoNotOptimize(x.Extract("php-fpm", s));
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * statements.size()));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * TotalBytes(statements)));
}
BENCHMARK(BM_CorrelationExtract);

// Worst common case: every row has an id in the query comment (regex runs every time).
void BM_CorrelationExtractTaggedComment(benchmark::State& state) {
  const pgagent::CorrelationExtractor x = MakeExtractor();
  const std::string& s = ActivityStatements()[0];
  for (auto _ : state) benchmark::DoNotOptimize(x.Extract("php-fpm", s));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * s.size()));
}
BENCHMARK(BM_CorrelationExtractTaggedComment);

void BM_CorrelationExtractApplicationName(benchmark::State& state) {
  const pgagent::CorrelationExtractor x = MakeExtractor();
  const std::string app = "bitville-3f2b8c1e-4a5d-4e6f-8a9b-0c1d2e3f4a5b";
  const std::string& s = ActivityStatements()[4];
  for (auto _ : state) benchmark::DoNotOptimize(x.Extract(app, s));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_CorrelationExtractApplicationName);

// No id anywhere: the substring pre-check alone decides, no regex runs.
void BM_CorrelationExtractUntagged(benchmark::State& state) {
  const pgagent::CorrelationExtractor x = MakeExtractor();
  const std::string& s = ActivityStatements()[1];
  for (auto _ : state) benchmark::DoNotOptimize(x.Extract("php-fpm", s));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * s.size()));
}
BENCHMARK(BM_CorrelationExtractUntagged);

// Baseline for the two above: the default comment regex run over the whole statement, as a
// plain std::regex_search would (no pre-check, no window).
void BM_NaiveRegexSearchUntagged(benchmark::State& state) {
  const std::regex re(pgagent::CorrelationOptions{}.comment_pattern);
  const std::string& s = ActivityStatements()[1];
  for (auto _ : state) {
    std::smatch m;
    benchmark::DoNotOptimize(std::regex_search(s, m, re));
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * s.size()));
}
BENCHMARK(BM_NaiveRegexSearchUntagged);

void BM_NaiveRegexSearchTagged(benchmark::State& state) {
  const std::regex re(pgagent::CorrelationOptions{}.comment_pattern);
  const std::string& s = ActivityStatements()[3];  // comment at the end of the statement
  for (auto _ : state) {
    std::smatch m;
    benchmark::DoNotOptimize(std::regex_search(s, m, re));
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * s.size()));
}
BENCHMARK(BM_NaiveRegexSearchTagged);

}  // namespace

BENCHMARK_MAIN();
