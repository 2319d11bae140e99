#include "collectord/logs/statement_summarizer.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "collectord/sql/redact.h"

namespace pgagent {
namespace {

using pgagent::v1::LogEntry;

// Log-scale buckets of 2% from 1 microsecond: a value is reported as its bucket's geometric
// middle, within 1% of it.
constexpr double kBucketBaseMs = 0.001;
constexpr double kBucketRatio = 1.02;

int BucketOf(double ms) {
  if (ms <= kBucketBaseMs) return 0;
  return 1 + static_cast<int>(std::floor(std::log(ms / kBucketBaseMs) / std::log(kBucketRatio)));
}

double BucketValue(int bucket) {
  if (bucket == 0) return kBucketBaseMs;
  return kBucketBaseMs * std::pow(kBucketRatio, bucket - 0.5);
}

// Nearest-rank percentile p (0..100) of the histogram, clamped to [min_ms, max_ms].
double Percentile(const std::map<int, uint32_t>& histogram, uint32_t count, double p, double min_ms,
                  double max_ms) {
  const uint64_t rank = std::max<uint64_t>(1, static_cast<uint64_t>(std::ceil(p / 100 * count)));
  uint64_t seen = 0;
  for (const auto& [bucket, n] : histogram) {
    seen += n;
    if (seen >= rank) return std::clamp(BucketValue(bucket), min_ms, max_ms);
  }
  return max_ms;
}

std::string Hex16(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

}  // namespace

StatementSummarizer::StatementSummarizer(const Clock& clock, StatementSummarizerOptions options)
    : clock_(clock), options_(options) {}

bool StatementSummarizer::Folds(const LogEntry& e, double slow_ms) {
  return e.parsed() && !e.truncated() && !e.has_correlation_id() && e.level() == "LOG" &&
         e.event_class() == pgagent::v1::LOG_EVENT_CLASS_SLOW_STATEMENT && e.has_duration_ms() &&
         e.duration_ms() < slow_ms && !e.statement().empty();
}

void StatementSummarizer::Process(std::vector<AssembledEntry>* entries, bool flush) {
  std::vector<AssembledEntry> out;
  out.reserve(entries->size());
  if (Elapsed()) Close(&out);
  for (AssembledEntry& a : *entries) {
    if (!opened_at_) opened_at_ = clock_.Monotonic();
    ++read_;
    last_offset_ = a.end_offset;  // non-decreasing within a file; a flush ends each file
    if (Folds(a.entry, options_.slow_ms) && Fold(a.entry)) {
      ++summarized_;
      continue;
    }
    ++shipped_;
    out.push_back(std::move(a));
  }
  if (flush || Elapsed()) Close(&out);
  entries->swap(out);
}

bool StatementSummarizer::Elapsed() const {
  return opened_at_ && clock_.Monotonic() - *opened_at_ >= options_.interval;
}

std::string StatementSummarizer::FingerprintOf(const LogEntry& e, std::string* redacted) const {
  if (e.query_id() != 0) return "query_id:" + std::to_string(e.query_id());
  std::string_view text = e.statement();
  if (!options_.statements_redacted) {
    *redacted = RedactSql(text);
    text = *redacted;
  }
  return "text:" + Hex16(options_.text_hash(text));
}

bool StatementSummarizer::Fold(const LogEntry& e) {
  std::string redacted;
  Key key{e.database(), e.user(), FingerprintOf(e, &redacted)};
  auto it = groups_.find(key);
  if (it == groups_.end()) {
    if (groups_.size() >= options_.max_groups) {
      ++stats_.group_overflows;
      return false;
    }
    it = groups_.emplace(std::move(key), Group{}).first;
    Group& g = it->second;
    g.fingerprint = std::get<2>(it->first);
    g.example.set_database(e.database());
    g.example.set_user(e.user());
    g.example.set_query_id(e.query_id());
    g.example.set_statement(options_.statements_redacted ? e.statement()
                            : redacted.empty()           ? RedactSql(e.statement())
                                                         : redacted);
    g.min_ms = g.max_ms = e.duration_ms();
  }
  Group& g = it->second;
  const double ms = e.duration_ms();
  ++g.count;
  g.total_ms += ms;
  g.min_ms = std::min(g.min_ms, ms);
  g.max_ms = std::max(g.max_ms, ms);
  ++g.histogram[BucketOf(ms)];
  return true;
}

void StatementSummarizer::Close(std::vector<AssembledEntry>* out) {
  if (!opened_at_) return;
  const double interval_s = std::chrono::duration<double>(clock_.Monotonic() - *opened_at_).count();
  const auto now = clock_.Now().time_since_epoch();
  auto stamp = [&](LogEntry* e) {
    e->set_level("LOG");
    e->set_parsed(true);
    e->set_event_class(pgagent::v1::LOG_EVENT_CLASS_STATEMENT_SUMMARY);
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(now).count();
    e->mutable_timestamp()->set_seconds(ns / 1000000000);
    e->mutable_timestamp()->set_nanos(static_cast<int32_t>(ns % 1000000000));
  };
  for (auto& [key, g] : groups_) {
    AssembledEntry a{std::move(g.example), last_offset_};
    stamp(&a.entry);
    a.entry.set_message("statement summary: " + std::to_string(g.count) + " statements");
    auto* s = a.entry.mutable_statement_summary();
    s->set_fingerprint(g.fingerprint);
    s->set_count(g.count);
    s->set_total_ms(g.total_ms);
    s->set_min_ms(g.min_ms);
    s->set_max_ms(g.max_ms);
    s->set_p50_ms(Percentile(g.histogram, g.count, 50, g.min_ms, g.max_ms));
    s->set_p95_ms(Percentile(g.histogram, g.count, 95, g.min_ms, g.max_ms));
    s->set_p99_ms(Percentile(g.histogram, g.count, 99, g.min_ms, g.max_ms));
    out->push_back(std::move(a));
  }
  AssembledEntry accounting{LogEntry{}, last_offset_};
  stamp(&accounting.entry);
  accounting.entry.set_message("log accounting: " + std::to_string(read_) + " lines read, " +
                               std::to_string(shipped_) + " shipped, " +
                               std::to_string(summarized_) + " summarized");
  auto* acc = accounting.entry.mutable_log_accounting();
  acc->set_lines_read(read_);
  acc->set_lines_shipped(shipped_);
  acc->set_lines_summarized(summarized_);
  acc->set_interval_s(interval_s);
  acc->set_summaries(static_cast<uint32_t>(groups_.size()));
  out->push_back(std::move(accounting));
  stats_.lines_read += read_;
  stats_.lines_shipped += shipped_;
  stats_.lines_summarized += summarized_;
  stats_.summaries += groups_.size();
  ++stats_.intervals;
  groups_.clear();
  opened_at_.reset();
  read_ = shipped_ = summarized_ = 0;
}

}  // namespace pgagent
