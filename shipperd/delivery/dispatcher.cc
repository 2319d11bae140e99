#include "shipperd/delivery/dispatcher.h"

#include <algorithm>
#include <map>

#include "common/log.h"

namespace pgagent {

using namespace std::chrono_literals;
using pgagent::v1::Record;

namespace {

constexpr auto kIdleWait = 1000ms;
constexpr auto kTransientRetryWait = 1000ms;
constexpr auto kMinute = std::chrono::seconds(60);
// A 413 halves what one aggregate coalesces; this many accepted requests restore it.
constexpr int kSuccessesToRestoreGroupBytes = 50;
constexpr uint64_t kMinGroupBytes = 4096;

bool IsTransientStatus(int status) { return status == 408 || status >= 500; }

int64_t UnixMs(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

std::chrono::system_clock::time_point CollectedAt(const Record& record) {
  return std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(
          std::chrono::seconds(record.collected_at().seconds()) +
          std::chrono::nanoseconds(record.collected_at().nanos())));
}

// JSON is larger than the stored protobuf: a group is cut at a third of the envelope.
uint64_t DefaultGroupBytes(size_t max_envelope_bytes) {
  return std::max<uint64_t>(kMinGroupBytes, max_envelope_bytes / 3);
}

EncoderOptions EncoderOptionsFrom(const DispatcherOptions& o) {
  return EncoderOptions{o.project_id, o.max_envelope_bytes, PGAGENT_VERSION};
}

}  // namespace

Dispatcher::Dispatcher(DispatcherOptions options, RecordBuffer& buffer,
                       CorrelationStore* correlations, Transport& transport, const Clock& clock,
                       std::function<double()> random01, RequestLog* request_log)
    : options_(std::move(options)),
      buffer_(buffer),
      correlations_(correlations),
      transport_(transport),
      clock_(clock),
      request_log_(request_log),
      encoder_(EncoderOptionsFrom(options_)),
      breaker_(options_.breaker, clock, std::move(random01)),
      budget_(options_.budget, clock),
      group_bytes_(DefaultGroupBytes(options_.max_envelope_bytes)) {
  if (request_log_ != nullptr) {
    if (auto sent = request_log_->Load(); sent.ok()) budget_.Restore(*sent);
  }
  next_minute_log_ = clock_.Monotonic() + kMinute;
}

Dispatcher::~Dispatcher() { FlushRemovals(); }

void Dispatcher::Reconfigure(const DispatcherOptions& options) {
  FlushRemovals();
  options_ = options;
  encoder_ = EnvelopeEncoder(EncoderOptionsFrom(options_));
  budget_.set_options(options_.budget);
  group_bytes_ = DefaultGroupBytes(options_.max_envelope_bytes);
  work_.reset();  // planned and encoded again with the new settings on the next Step()
  config_error_logged_ = false;
}

void Dispatcher::UpdateStats(const std::function<void(DispatcherStats&)>& update) {
  std::lock_guard<std::mutex> lock(stats_mu_);
  update(stats_);
  stats_.breaker_state = std::string(BreakerStateName(breaker_.state()));
  stats_.breaker_opens = breaker_.opens();
  stats_.effective_limit = budget_.effective_limit();
}

DispatcherStats Dispatcher::stats() const {
  std::lock_guard<std::mutex> lock(stats_mu_);
  return stats_;
}

std::chrono::milliseconds Dispatcher::Step() {
  if (clock_.Monotonic() >= next_minute_log_) LogMinute();
  if (!work_) {
    Result<std::optional<std::chrono::milliseconds>> planned = Plan();
    if (!planned.ok()) {
      UpdateStats([&](DispatcherStats& s) { s.last_error = planned.status().ToString(); });
      return kTransientRetryWait;
    }
    if (*planned) return IdleWait(**planned);
    if (!work_) return 0ms;  // a record was dead-lettered while planning: plan again
  }
  const auto wait = budget_.WaitTime();  // a 429's pause, or the window is full
  if (wait > std::chrono::steady_clock::duration::zero()) {
    FlushRemovals();  // waiting anyway: the sync costs no delivery time
    return std::max(std::chrono::ceil<std::chrono::milliseconds>(wait), 1ms);
  }
  if (!breaker_.AllowRequest()) {
    FlushRemovals();
    return std::max(std::chrono::ceil<std::chrono::milliseconds>(breaker_.RemainingCooldown()),
                    100ms);
  }
  return Send();
}

// ---------------------------------------------------------------------------------------
// Planning
// ---------------------------------------------------------------------------------------

std::chrono::system_clock::duration Dispatcher::Age(const Record& record) const {
  return clock_.Now() - CollectedAt(record);
}

void Dispatcher::SkipDelivered(std::vector<BufferedItem>& items) const {
  if (delivered_.empty()) return;
  items.erase(std::remove_if(items.begin(), items.end(),
                             [&](const BufferedItem& item) { return delivered_.count(item.key); }),
              items.end());
}

Status Dispatcher::FindCorrelation(Candidates& c) {
  if (correlations_ == nullptr) return Status::Ok();
  PGAGENT_ASSIGN_OR_RETURN(std::vector<CorrelationHeader> headers, correlations_->List());
  const int64_t now_ms = UnixMs(clock_.Now());
  const int64_t settle = options_.correlation_settle.count();
  const int64_t max_wait = options_.correlation_max_wait.count();
  const int64_t live_ms = std::chrono::milliseconds(options_.live_age).count();
  auto rank = [&](const CorrelationHeader& h) {
    const bool live = now_ms - h.last_seen_unix_ms <= live_ms;
    return std::make_tuple(!live, h.follow_up, -h.score, h.created_unix_ms);
  };
  for (CorrelationHeader& h : headers) {
    const int64_t ready_at =
        std::min(h.updated_unix_ms + settle, h.created_unix_ms + max_wait);
    if (now_ms < ready_at) {
      const auto due = std::chrono::system_clock::time_point(std::chrono::milliseconds(ready_at));
      if (!c.next_due || due < *c.next_due) c.next_due = due;
      continue;
    }
    if (!c.correlation || rank(h) < rank(*c.correlation)) c.correlation = std::move(h);
  }
  if (c.correlation) c.correlation_live = now_ms - c.correlation->last_seen_unix_ms <= live_ms;
  return Status::Ok();
}

std::vector<Dispatcher::Group> Dispatcher::GroupBySource(std::vector<BufferedItem>& items) const {
  std::vector<Group> groups;
  std::map<std::string, size_t> index;  // source -> group
  std::set<std::string> closed;         // sources whose group is full
  for (BufferedItem& item : items) {
    const std::string source = EnvelopeEncoder::SourceFor(item.record.kind());
    if (source.empty() || closed.count(source)) continue;
    auto [it, inserted] = index.try_emplace(source, groups.size());
    if (inserted) groups.emplace_back();
    Group& g = groups[it->second];
    if (!g.items.empty() && g.bytes + item.stored_bytes > group_bytes_) {
      closed.insert(source);
      continue;
    }
    g.bytes += item.stored_bytes;
    g.items.push_back(std::move(item));
  }
  return groups;
}

bool Dispatcher::Due(const Group& group, Candidates& c) const {
  if (group.bytes * 2 >= group_bytes_) return true;  // full enough to go now
  auto oldest = CollectedAt(group.items.front().record);
  for (const BufferedItem& item : group.items) oldest = std::min(oldest, CollectedAt(item.record));
  const auto due = oldest + options_.aggregate_interval;
  if (clock_.Now() >= due) return true;
  if (!c.next_due || due < *c.next_due) c.next_due = due;
  return false;
}

Result<std::optional<Dispatcher::Group>> Dispatcher::LiveAheadOfBacklog(uint64_t head_key,
                                                                         Candidates& c) {
  PGAGENT_ASSIGN_OR_RETURN(std::vector<BufferedItem> newest,
                           buffer_.PeekNewest(options_.live_peek + delivered_.size(),
                                              /*include_logs=*/false));
  SkipDelivered(newest);
  std::vector<BufferedItem> live;
  // Newest first; keys are not ordered by collected_at (an outbox may resend old records),
  // so every one of them is looked at rather than stopping at the first stale record.
  for (BufferedItem& item : newest) {
    if (item.key <= head_key) break;
    const auto kind = item.record.kind();
    if (kind == pgagent::v1::RECORD_KIND_LOG || kind == pgagent::v1::RECORD_KIND_UNSPECIFIED) {
      continue;
    }
    if (Age(item.record) > options_.live_age) continue;
    live.push_back(std::move(item));
  }
  std::reverse(live.begin(), live.end());  // oldest first, as a group is
  for (Group& g : GroupBySource(live)) {
    if (Due(g, c)) return std::optional<Group>(std::move(g));
  }
  return std::optional<Group>();
}

Result<std::vector<BufferedItem>> Dispatcher::PeekUndelivered() {
  constexpr int kMaxPeekSeeks = 32;
  std::vector<BufferedItem> items;
  uint64_t limit = options_.peek_records;
  uint64_t bytes_left = 2 * group_bytes_;
  uint64_t after = head_floor_;
  auto next = delivered_.upper_bound(after);
  for (int seeks = 0; limit > 0 && bytes_left > 0; ++seeks) {
    const bool last = next == delivered_.end() || seeks == kMaxPeekSeeks;
    // Only the fallback Peek (delivered keys left past `after`) may meet delivered records:
    // their count and bytes are added so that they cannot fill the bounds and hide the
    // records behind them.
    const bool meets_delivered = next != delivered_.end();
    const uint64_t n = !last             ? std::min(limit, *next - after - 1)
                       : meets_delivered ? limit + delivered_.size()
                                         : limit;
    if (n > 0) {
      PGAGENT_ASSIGN_OR_RETURN(
          std::vector<BufferedItem> part,
          buffer_.Peek(n, after, bytes_left + (meets_delivered ? delivered_bytes_ : 0)));
      for (BufferedItem& item : part) {
        if (!last && item.key >= *next) break;  // past the delivered run: read below
        bytes_left -= std::min(bytes_left, item.stored_bytes);
        if (limit > 0) --limit;
        items.push_back(std::move(item));
      }
    }
    if (last) break;
    after = *next++;  // over the run of consecutive delivered keys
    while (next != delivered_.end() && *next == after + 1) after = *next++;
  }
  SkipDelivered(items);
  // Keys only grow, so nothing below the oldest key met (delivered or not) can appear.
  uint64_t oldest = items.empty() ? UINT64_MAX : items.front().key;
  if (!delivered_.empty()) oldest = std::min(oldest, *delivered_.begin());
  if (oldest != UINT64_MAX) head_floor_ = std::max(head_floor_, oldest - 1);
  return items;
}

Status Dispatcher::FindAggregates(Candidates& c) {
  PGAGENT_ASSIGN_OR_RETURN(std::vector<BufferedItem> items, PeekUndelivered());
  if (items.empty()) return Status::Ok();
  const bool backlogged = Age(items.front().record) > options_.live_age;
  const uint64_t head_key = items.front().key;
  std::vector<Group> groups = GroupBySource(items);
  if (!backlogged) {
    for (Group& g : groups) {
      if (Due(g, c)) {
        c.live = std::move(g);
        break;
      }
    }
    return Status::Ok();
  }
  c.backlog = std::move(groups.front());  // the head's source, oldest first
  if (options_.live_first) {
    PGAGENT_ASSIGN_OR_RETURN(c.live, LiveAheadOfBacklog(head_key, c));
    c.live_ahead_of_backlog = c.live.has_value();
  }
  return Status::Ok();
}

Result<std::optional<std::chrono::milliseconds>> Dispatcher::Plan() {
  Candidates c;
  PGAGENT_RETURN_IF_ERROR(FindCorrelation(c));
  PGAGENT_RETURN_IF_ERROR(FindAggregates(c));
  const std::array<bool, kRequestClasses> waiting = {c.correlation.has_value(),
                                                     c.live.has_value(), c.backlog.has_value()};
  const auto allows = [&](RequestClass k) { return budget_.Allows(k, waiting); };
  if (c.correlation && c.correlation_live && allows(RequestClass::kCorrelation)) {
    PGAGENT_RETURN_IF_ERROR(LoadCorrelation(*c.correlation));
  } else if (c.live && allows(RequestClass::kLive)) {
    PGAGENT_RETURN_IF_ERROR(
        LoadAggregate(std::move(*c.live), RequestClass::kLive, c.live_ahead_of_backlog));
  } else if (c.correlation && allows(RequestClass::kCorrelation)) {
    PGAGENT_RETURN_IF_ERROR(LoadCorrelation(*c.correlation));
  } else if (c.backlog && allows(RequestClass::kBacklog)) {
    PGAGENT_RETURN_IF_ERROR(LoadAggregate(std::move(*c.backlog), RequestClass::kBacklog, false));
  } else if (c.correlation || c.live || c.backlog) {
    // Work is waiting for the budget: look again when a request has left the window.
    const auto wait = std::chrono::ceil<std::chrono::milliseconds>(budget_.WaitTime());
    return std::optional<std::chrono::milliseconds>(std::clamp(wait, 200ms, kIdleWait));
  } else {
    auto wait = kIdleWait;
    if (c.next_due) {
      wait = std::clamp(std::chrono::ceil<std::chrono::milliseconds>(*c.next_due - clock_.Now()),
                        1ms, kIdleWait);
    }
    return std::optional<std::chrono::milliseconds>(wait);
  }
  return std::optional<std::chrono::milliseconds>();
}

Status Dispatcher::LoadCorrelation(const CorrelationHeader& header) {
  PGAGENT_ASSIGN_OR_RETURN(std::optional<pgagent::v1::CorrelationRow> row,
                           correlations_->Get(header.id));
  if (!row) return Status::Ok();  // linked or evicted meanwhile
  Result<Envelope> envelope = encoder_.EncodeCorrelation(*row);
  if (!envelope.ok()) {
    UpdateStats([](DispatcherStats& s) { ++s.encode_errors; });
    log::Warn("delivery.correlation_not_encodable",
              {{"correlation_id", header.id}, {"error", envelope.status().message()}});
    return correlations_->Drop(header.id);
  }
  Work work;
  work.kind = RequestClass::kCorrelation;
  work.correlation_id = header.id;
  work.merges = row->merges();
  work.envelopes.push_back(std::move(*envelope));
  work_ = std::move(work);
  return Status::Ok();
}

Status Dispatcher::LoadAggregate(Group group, RequestClass kind, bool live_first) {
  Work work;
  work.kind = kind;
  work.live_first = live_first;
  std::vector<const Record*> records;
  for (BufferedItem& item : group.items) {
    work.keys.push_back(item.key);
    work.stored_bytes += item.stored_bytes;
    work.records.push_back(std::move(item.record));
  }
  for (const Record& r : work.records) records.push_back(&r);
  Result<std::vector<Envelope>> encoded = encoder_.EncodeAggregate(records);
  if (!encoded.ok()) {
    // A record that cannot be encoded never will be: dead-letter it so the queue moves on.
    DeadLetter letter;
    letter.http_status = 0;
    letter.response_body = "not encodable: " + encoded.status().message();
    letter.records = work.records;
    PGAGENT_RETURN_IF_ERROR(buffer_.AddDeadLetter(letter));
    if (delivered_.empty()) delivered_since_ = clock_.Monotonic();
    delivered_.insert(work.keys.begin(), work.keys.end());
    delivered_bytes_ += work.stored_bytes;
    UpdateStats([](DispatcherStats& s) {
      ++s.encode_errors;
      ++s.dead_lettered;
    });
    log::Warn("delivery.record_not_encodable",
              {{"record_key", work.keys.front()}, {"error", encoded.status().message()}});
    return Status::Ok();
  }
  UpdateStats([&](DispatcherStats& s) {
    if (records.size() > 1) s.coalesced_records += records.size();
    if (live_first) s.live_first_records += records.size();
  });
  work.envelopes = std::move(*encoded);
  work_ = std::move(work);
  return Status::Ok();
}

// ---------------------------------------------------------------------------------------
// Sending
// ---------------------------------------------------------------------------------------

std::chrono::milliseconds Dispatcher::Send() {
  const Envelope& envelope = work_->envelopes[work_->next];
  const HttpRequest request = ListenerPost(options_.url, options_.api_key, envelope.body);
  budget_.Record(work_->kind);
  SaveRequestLog();
  UpdateStats([&](DispatcherStats& s) {
    ++s.requests_sent;
    ++s.requests_by_class[static_cast<size_t>(work_->kind)];
  });
  const BreakerState before = breaker_.state();
  Result<HttpResponse> response = transport_.Post(request);
  if (!response.ok()) {
    const StatusCode code = response.status().code();
    if (code == StatusCode::kCancelled) return 0ms;  // shutting down; the record stays
    std::chrono::milliseconds wait;
    if (code == StatusCode::kPermissionDenied || code == StatusCode::kInvalidArgument) {
      wait = OnConfigurationError(response.status().ToString(),
                                  "check [listener] url and ca_file; records stay buffered");
    } else {
      wait = OnTransient(response.status().ToString());
    }
    NoteBreakerTransition(before);
    return wait;
  }
  UpdateStats([&](DispatcherStats& s) { s.last_status = response->status; });
  const int status = response->status;
  std::chrono::milliseconds wait = 0ms;
  if (status >= 200 && status < 300) {
    OnAccepted();
  } else if (status == 429) {
    OnRefused(*response);
    wait = std::chrono::ceil<std::chrono::milliseconds>(budget_.WaitTime());
  } else if (status == 401 || status == 403) {
    wait = OnAuthFailure(status);
  } else if (status == 404 || status == 405) {
    wait = OnConfigurationError(
        "HTTP " + std::to_string(status),
        "the listener has no ingest endpoint at this URL: check the path of [listener] url "
        "(it ends in /ingest/postgres); records stay buffered");
  } else if (status == 413) {
    OnTooLarge(*response);
  } else if (IsTransientStatus(status) || (status >= 300 && status < 400)) {
    wait = OnTransient("HTTP " + std::to_string(status));
  } else {
    OnPermanentRejection(*response);  // 400 and every other 4xx
  }
  NoteBreakerTransition(before);
  return wait;
}

void Dispatcher::SaveRequestLog() {
  if (request_log_ == nullptr) return;
  Status saved = request_log_->Save(budget_.SentUnixMs());
  if (!saved.ok()) UpdateStats([&](DispatcherStats& s) { s.last_error = saved.ToString(); });
}

void Dispatcher::NoteBreakerTransition(BreakerState before) {
  const BreakerState after = breaker_.state();
  if (before == BreakerState::kClosed && after == BreakerState::kOpen) {
    breaker_opened_at_ = clock_.Monotonic();  // the outage began (failed probes keep it)
  }
  if (before != BreakerState::kClosed && after == BreakerState::kClosed) {
    const double open_s =
        std::chrono::duration<double>(clock_.Monotonic() - breaker_opened_at_).count();
    log::Info("delivery.breaker_closed",
              {{"open_s", open_s}, {"effect", "delivery resumed; live data goes first"}});
  }
}

void Dispatcher::OnAccepted() {
  breaker_.OnSuccess();
  config_error_logged_ = false;
  if (++successes_since_413_ >= kSuccessesToRestoreGroupBytes) {
    group_bytes_ = DefaultGroupBytes(options_.max_envelope_bytes);
  }
  UpdateStats([&](DispatcherStats& s) {
    ++s.requests_ok;
    s.last_success_unix_s = UnixNow(clock_);
  });
  ++work_->next;
  FinishIfDone();
}

void Dispatcher::OnRefused(const HttpResponse& response) {
  double delay_s = response.retry_after_s.value_or(60.0);
  const double max_s = std::chrono::duration<double>(options_.breaker.max_cooldown).count();
  if (delay_s > max_s) {
    log::Warn("delivery.retry_after_clamped",
              {{"retry_after_s", delay_s},
               {"used_s", max_s},
               {"bound", "[listener] breaker_max_cooldown_s"}});
    UpdateStats([](DispatcherStats& s) { ++s.retry_after_clamped; });
    delay_s = max_s;
  }
  delay_s = std::max(delay_s, 1.0);
  const int limit_before = budget_.effective_limit();
  budget_.OnRefused(std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      std::chrono::duration<double>(delay_s)));
  breaker_.OnSuccess();  // the listener is up; 429 is backpressure, not an outage
  UpdateStats([](DispatcherStats& s) { ++s.requests_429; });
  log::Warn("delivery.rate_limited",
            {{"retry_after_s", delay_s},
             {"limit_before", limit_before},
             {"limit_now", budget_.effective_limit()},
             {"hint", "the listener counts more requests from this IP than this shipperd "
                      "sends (another agent on the host?); the budget adapts"}});
}

void Dispatcher::OnPermanentRejection(const HttpResponse& response) {
  if (!work_->rejected) {
    DeadLetter letter;
    letter.http_status = response.status;
    letter.envelope_json = work_->envelopes[work_->next].body;
    letter.response_body = response.body.substr(0, 4096);
    letter.records = work_->records;
    work_->rejected = std::move(letter);
  }
  log::Warn("delivery.dead_lettered", {{"http_status", response.status},
                                       {"source", work_->envelopes[work_->next].source},
                                       {"records", work_->records.size()},
                                       {"response", response.body.substr(0, 200)}});
  breaker_.OnSuccess();  // the listener answered: it is up
  ++work_->next;
  FinishIfDone();
}

void Dispatcher::OnTooLarge(const HttpResponse& response) {
  UpdateStats([](DispatcherStats& s) { ++s.split_413; });
  successes_since_413_ = 0;
  if (work_->records.size() > 1 && work_->next == 0) {
    // Coalesce less: the records stay in the buffer and are planned again, in smaller groups.
    group_bytes_ = std::max<uint64_t>(kMinGroupBytes, group_bytes_ / 2);
    work_.reset();
    return;
  }
  if (work_->records.size() == 1 && work_->next == 0 && work_->envelopes.size() == 1) {
    const Envelope& envelope = work_->envelopes[0];
    EnvelopeEncoder smaller(EncoderOptions{options_.project_id, envelope.body.size() / 2,
                                           PGAGENT_VERSION});
    Result<std::vector<Envelope>> parts = smaller.EncodeAggregate({&work_->records[0]});
    if (parts.ok() && parts->size() > 1) {
      work_->envelopes = std::move(*parts);
      return;
    }
  }
  OnPermanentRejection(response);
}

std::chrono::milliseconds Dispatcher::OnAuthFailure(int status) {
  breaker_.OnAuthFailure();
  UpdateStats([&](DispatcherStats& s) {
    ++s.auth_failures;
    s.last_error = "HTTP " + std::to_string(status);
  });
  if (!config_error_logged_) {
    config_error_logged_ = true;
    log::Error("delivery.unauthorized",
               {{"http_status", status},
                {"url", options_.url},
                {"project_id", options_.project_id},
                {"hint",
                 "the listener refused the API key: check [listener] api_key, and that the key "
                 "belongs to this project (the listener derives the project from the key). "
                 "Records stay buffered."}});
  }
  return std::max(std::chrono::ceil<std::chrono::milliseconds>(breaker_.RemainingCooldown()),
                  100ms);
}

std::chrono::milliseconds Dispatcher::OnTransient(const std::string& error) {
  const BreakerState before = breaker_.state();
  breaker_.OnTransientFailure();
  UpdateStats([&](DispatcherStats& s) {
    ++s.requests_failed;
    s.last_error = error;
  });
  if (before != BreakerState::kOpen && breaker_.state() == BreakerState::kOpen) {
    log::Warn("delivery.breaker_open",
              {{"error", error},
               {"cooldown_ms", static_cast<int64_t>(
                                   std::chrono::ceil<std::chrono::milliseconds>(
                                       breaker_.RemainingCooldown())
                                       .count())}});
  }
  return kTransientRetryWait;
}

std::chrono::milliseconds Dispatcher::OnConfigurationError(const std::string& error,
                                                           const char* hint) {
  breaker_.OnAuthFailure();  // retrying at full speed cannot help: wait a cooldown
  UpdateStats([&](DispatcherStats& s) {
    ++s.requests_failed;
    ++s.config_errors;
    s.last_error = error;
  });
  if (!config_error_logged_) {
    config_error_logged_ = true;
    log::Error("delivery.listener_refused",
               {{"url", options_.url}, {"error", error}, {"hint", hint}});
  }
  return std::max(std::chrono::ceil<std::chrono::milliseconds>(breaker_.RemainingCooldown()),
                  100ms);
}

void Dispatcher::FinishCorrelation() {
  const std::string& id = *work_->correlation_id;
  Status done = work_->rejected ? correlations_->Drop(id)
                                : correlations_->MarkLinked(id, work_->merges);
  // On failure the row is sent again later: a duplicate row, never a lost link.
  if (!done.ok()) UpdateStats([&](DispatcherStats& s) { s.last_error = done.ToString(); });
  if (work_->rejected) {
    Status stored = buffer_.AddDeadLetter(*work_->rejected);
    if (!stored.ok()) UpdateStats([&](DispatcherStats& s) { s.last_error = stored.ToString(); });
  }
  UpdateStats([&](DispatcherStats& s) {
    if (work_->rejected) {
      ++s.dead_lettered;
    } else {
      ++s.correlation_rows_sent;
    }
  });
}

void Dispatcher::FinishIfDone() {
  if (work_->next < work_->envelopes.size()) return;
  if (work_->correlation_id) {
    FinishCorrelation();
    work_.reset();
    return;
  }
  if (work_->rejected) {
    Status stored = buffer_.AddDeadLetter(*work_->rejected);
    if (!stored.ok()) {
      // Keep the records: retrying later beats losing them.
      UpdateStats([&](DispatcherStats& s) { s.last_error = stored.ToString(); });
      work_.reset();
      return;
    }
    UpdateStats([](DispatcherStats& s) { ++s.dead_lettered; });
  }
  if (delivered_.empty()) delivered_since_ = clock_.Monotonic();
  delivered_.insert(work_->keys.begin(), work_->keys.end());
  delivered_bytes_ += work_->stored_bytes;
  UpdateStats([&](DispatcherStats& s) { s.records_delivered += work_->keys.size(); });
  work_.reset();
  if (delivered_.size() >= options_.remove_batch ||
      clock_.Monotonic() - delivered_since_ >= options_.remove_delay) {
    FlushRemovals();
  }
}

std::chrono::milliseconds Dispatcher::IdleWait(std::chrono::milliseconds most) {
  if (delivered_.empty()) return most;
  const auto pending_for = clock_.Monotonic() - delivered_since_;
  if (pending_for >= options_.remove_delay) {
    FlushRemovals();
    return most;
  }
  const auto left =
      std::chrono::ceil<std::chrono::milliseconds>(options_.remove_delay - pending_for);
  return std::clamp(left, 1ms, most);
}

void Dispatcher::FlushRemovals() {
  if (delivered_.empty()) return;
  Status removed = buffer_.Remove(std::vector<uint64_t>(delivered_.begin(), delivered_.end()));
  // On failure they are read and sent again: a duplicate, never a loss.
  if (!removed.ok()) UpdateStats([&](DispatcherStats& s) { s.last_error = removed.ToString(); });
  delivered_.clear();
  delivered_bytes_ = 0;
}

void Dispatcher::LogMinute() {
  next_minute_log_ = clock_.Monotonic() + kMinute;
  const DispatcherStats now = stats();
  CorrelationStoreStats corr;
  if (correlations_ != nullptr) {
    if (auto s = correlations_->Stats(); s.ok()) corr = *s;
  }
  const auto delta = [](uint64_t a, uint64_t b) { return a >= b ? a - b : 0; };
  log::Info("delivery.minute",
            {{"requests", delta(now.requests_sent, minute_base_.requests_sent)},
             {"correlation_requests",
              delta(now.requests_by_class[0], minute_base_.requests_by_class[0])},
             {"live_requests", delta(now.requests_by_class[1], minute_base_.requests_by_class[1])},
             {"backlog_requests",
              delta(now.requests_by_class[2], minute_base_.requests_by_class[2])},
             {"responses_429", delta(now.requests_429, minute_base_.requests_429)},
             {"correlation_ids_seen", delta(corr.seen, minute_seen_base_)},
             {"correlation_ids_linked", delta(corr.linked, minute_linked_base_)},
             {"correlation_ids_not_linked", delta(corr.evicted, minute_evicted_base_)},
             {"correlation_rows_pending", corr.pending},
             {"effective_limit", budget_.effective_limit()}});
  minute_base_ = now;
  minute_seen_base_ = corr.seen;
  minute_linked_base_ = corr.linked;
  minute_evicted_base_ = corr.evicted;
}

}  // namespace pgagent
