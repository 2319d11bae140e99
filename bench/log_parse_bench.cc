// Parse throughput of the PostgreSQL log parsers, per core, on a generated realistic log
// (mixed statements, 150-300 byte lines): stderr with the harness prefix, csvlog, jsonlog,
// each with redaction on (the default) and off, plus the bare stderr prefix matcher.
// Reports items/s = physical lines per second.
#include <benchmark/benchmark.h>

#include <random>
#include <string>
#include <vector>

#include "collectord/logs/log_entry_assembler.h"
#include "collectord/logs/stderr_prefix.h"

namespace pgagent {
namespace {

constexpr char kPrefix[] = "%m [%p] %q%u@%d %a ";

struct Event {
  std::string level, message, statement, detail, app;
  bool session = true;
};

// A deterministic mix resembling a busy OLTP server with log_min_duration_statement = 0.
std::vector<Event> MakeEvents(size_t n) {
  std::mt19937 rng(42);
  std::vector<Event> out;
  out.reserve(n);
  const char* tables[] = {"orders", "customers", "order_items", "invoices", "sessions"};
  for (size_t i = 0; i < n; ++i) {
    Event e;
    e.app = (rng() % 4 == 0) ? "bitville-3f2b8c1e-4a5d-4e6f-8a9b-0c1d2e3f4a5b" : "php-fpm";
    int kind = static_cast<int>(rng() % 100);
    std::string t = tables[rng() % 5];
    std::string id = std::to_string(rng() % 1000000);
    if (kind < 70) {
      e.level = "LOG";
      e.message =
          "duration: " + std::to_string(rng() % 900) + "." + std::to_string(rng() % 1000) +
          " ms  statement: SELECT o.id, o.status, o.total FROM " + t +
          " o WHERE o.customer_id = " + id + " AND o.status = 'open' ORDER BY o.id" +
          (rng() % 2 ? " LIMIT 20" : " /* correlation:3f2b8c1e-4a5d-4e6f-8a9b-0c1d2e3f4a5b */");
    } else if (kind < 80) {
      e.level = "LOG";
      e.message =
          "connection authorized: user=app database=shop application_name=php-fpm "
          "SSL enabled (protocol=TLSv1.3, cipher=TLS_AES_256_GCM_SHA384, bits=256)";
    } else if (kind < 88) {
      e.level = "LOG";
      e.session = false;
      e.message = "automatic vacuum of table \"shop.public." + t +
                  "\": index scans: 1, pages: 0 removed, 4211 remain, 12 scanned (0.28% of "
                  "total), tuples: 95 removed";
    } else if (kind < 95) {
      e.level = "ERROR";
      e.message = "duplicate key value violates unique constraint \"" + t + "_pkey\"";
      e.detail = "Key (id)=(" + id + ") already exists.";
      e.statement =
          "INSERT INTO " + t + " (id, customer_id, status) VALUES (" + id + ", 17, 'open')";
    } else {
      e.level = "LOG";
      e.message = "process " + id +
                  " still waiting for ShareLock on transaction 74411 after "
                  "1000.052 ms";
      e.detail = "Process holding the lock: 4411. Wait queue: " + id + ".";
    }
    out.push_back(std::move(e));
  }
  return out;
}

std::string StderrLines(const Event& e, int pid) {
  std::string head = "2026-11-27 10:26:01.123 UTC [" + std::to_string(pid) + "] ";
  std::string session = e.session ? "app@shop " + e.app + " " : "";
  std::string out = head + session + e.level + ":  " + e.message + "\n";
  if (!e.detail.empty()) out += head + session + "DETAIL:  " + e.detail + "\n";
  if (!e.statement.empty()) out += head + session + "STATEMENT:  " + e.statement + "\n";
  return out;
}

std::string Csv(const std::string& v) {
  std::string out = "\"";
  for (char c : v) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string CsvLine(const Event& e, int pid) {
  return "2026-11-27 10:26:01.123 UTC," + std::string(e.session ? "\"app\",\"shop\"," : ",,") +
         std::to_string(pid) +
         ",\"127.0.0.1:5555\",6746f0a1.1092,3,\"SELECT\",2026-11-27 "
         "10:25:00 UTC,3/12,0," +
         e.level + ",00000," + Csv(e.message) + "," + (e.detail.empty() ? "" : Csv(e.detail)) +
         ",,,,," + (e.statement.empty() ? "" : Csv(e.statement)) + ",,," + Csv(e.app) +
         ",\"client backend\",,0\n";
}

std::string Json(const std::string& v) {
  std::string out = "\"";
  for (char c : v) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

std::string JsonLine(const Event& e, int pid) {
  std::string out = "{\"timestamp\":\"2026-11-27 10:26:01.123 UTC\",";
  if (e.session) out += "\"user\":\"app\",\"dbname\":\"shop\",";
  out += "\"pid\":" + std::to_string(pid) +
         ",\"session_id\":\"6746f0a1.1092\",\"line_num\":3,"
         "\"error_severity\":\"" +
         e.level + "\",\"message\":" + Json(e.message);
  if (!e.detail.empty()) out += ",\"detail\":" + Json(e.detail);
  if (!e.statement.empty()) out += ",\"statement\":" + Json(e.statement);
  out += ",\"application_name\":" + Json(e.app) +
         ",\"backend_type\":\"client backend\","
         "\"query_id\":0}\n";
  return out;
}

// The log text of one format, split into lines (views into *storage).
std::vector<std::string_view> Lines(LogFormat format, std::string* storage) {
  std::vector<Event> events = MakeEvents(20000);
  storage->clear();
  int pid = 1000;
  for (const Event& e : events) {
    ++pid;
    if (format == LogFormat::kStderr) *storage += StderrLines(e, pid);
    if (format == LogFormat::kCsvlog) *storage += CsvLine(e, pid);
    if (format == LogFormat::kJsonlog) *storage += JsonLine(e, pid);
  }
  std::vector<std::string_view> lines;
  std::string_view all(*storage);
  size_t p = 0;
  while (p < all.size()) {
    size_t nl = all.find('\n', p);
    lines.push_back(all.substr(p, nl - p));
    p = nl + 1;
  }
  return lines;
}

void BM_Parse(benchmark::State& state, LogFormat format, bool redact) {
  std::string storage;
  std::vector<std::string_view> lines = Lines(format, &storage);
  LogParserOptions options;
  options.format = format;
  options.log_line_prefix = kPrefix;
  options.redact = redact;
  auto parser = LogParser::Create(options).value();
  LogEntryAssembler assembler(*parser);
  std::vector<AssembledEntry> out;
  out.reserve(512);
  uint64_t offset = 0;
  size_t bytes = 0;
  for (std::string_view l : lines) bytes += l.size() + 1;
  for (auto _ : state) {
    for (std::string_view l : lines) {
      offset += l.size() + 1;
      assembler.Push(LogLine{l, false, offset}, std::chrono::steady_clock::time_point{}, &out);
      // Entries leave in batches of 500 (LogBatcher's default), as in collectord.
      if (out.size() >= 500) {
        benchmark::DoNotOptimize(out.data());
        out.clear();
      }
    }
    assembler.Flush(&out);
    benchmark::DoNotOptimize(out.data());
    out.clear();
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * lines.size()));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes));
  state.counters["avg_line_bytes"] = static_cast<double>(bytes) / static_cast<double>(lines.size());
}

void BM_StderrPrefixMatchOnly(benchmark::State& state) {
  std::string storage;
  std::vector<std::string_view> lines = Lines(LogFormat::kStderr, &storage);
  auto matcher = StderrPrefixMatcher::Compile(kPrefix).value();
  for (auto _ : state) {
    for (std::string_view l : lines) {
      StderrLine out;
      benchmark::DoNotOptimize(matcher->Match(l, &out));
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * lines.size()));
}

BENCHMARK_CAPTURE(BM_Parse, stderr_redacted, LogFormat::kStderr, true)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Parse, stderr_raw, LogFormat::kStderr, false)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Parse, csvlog_redacted, LogFormat::kCsvlog, true)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Parse, csvlog_raw, LogFormat::kCsvlog, false)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Parse, jsonlog_redacted, LogFormat::kJsonlog, true)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Parse, jsonlog_raw, LogFormat::kJsonlog, false)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_StderrPrefixMatchOnly)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace pgagent

BENCHMARK_MAIN();
