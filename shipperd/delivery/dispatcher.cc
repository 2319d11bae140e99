#include "shipperd/delivery/dispatcher.h"

#include <algorithm>

#include "common/log.h"

namespace pgagent {

using namespace std::chrono_literals;
using pgagent::v1::Record;

namespace {

constexpr auto kIdleWait = 500ms;
constexpr auto kTransientRetryWait = 1000ms;

bool IsTransientStatus(int status) { return status == 408 || status >= 500; }

double UnixNow(const Clock& clock) {
  return std::chrono::duration<double>(clock.Now().time_since_epoch()).count();
}

}  // namespace

Dispatcher::Dispatcher(DispatcherOptions options, RecordBuffer& buffer, Transport& transport,
                       const Clock& clock, std::function<double()> random01)
    : options_(std::move(options)),
      buffer_(buffer),
      transport_(transport),
      clock_(clock),
      encoder_(EncoderOptions{options_.project_id, options_.max_envelope_bytes, PGAGENT_VERSION}),
      breaker_(options_.breaker, clock, std::move(random01)),
      budget_(options_.requests_per_minute, clock) {}

Dispatcher::~Dispatcher() { FlushRemovals(); }

void Dispatcher::Reconfigure(const DispatcherOptions& options) {
  FlushRemovals();
  options_ = options;
  encoder_ = EnvelopeEncoder(
      EncoderOptions{options_.project_id, options_.max_envelope_bytes, PGAGENT_VERSION});
  budget_.set_per_minute(options_.requests_per_minute);
  work_.reset();  // re-encoded with the new project on the next Step()
  auth_error_logged_ = false;
}

void Dispatcher::UpdateStats(const std::function<void(DispatcherStats&)>& update) {
  std::lock_guard<std::mutex> lock(stats_mu_);
  update(stats_);
  stats_.breaker_state = std::string(BreakerStateName(breaker_.state()));
  stats_.breaker_opens = breaker_.opens();
}

DispatcherStats Dispatcher::stats() const {
  std::lock_guard<std::mutex> lock(stats_mu_);
  return stats_;
}

std::chrono::milliseconds Dispatcher::Step() {
  if (!work_) {
    Status loaded = LoadWork();
    if (!loaded.ok()) {
      UpdateStats([&](DispatcherStats& s) { s.last_error = loaded.ToString(); });
      return kTransientRetryWait;
    }
    if (!work_) return IdleWait();
  }
  // The budget first: AllowRequest() may start a half-open probe, which must then be sent.
  const auto wait = budget_.WaitTime();
  if (wait > std::chrono::steady_clock::duration::zero()) {
    FlushRemovals();  // waiting anyway: the sync costs no delivery time
    return std::max(std::chrono::duration_cast<std::chrono::milliseconds>(wait),
                    std::chrono::milliseconds(1));
  }
  if (!breaker_.AllowRequest()) {
    FlushRemovals();
    auto cooldown =
        std::chrono::duration_cast<std::chrono::milliseconds>(breaker_.RemainingCooldown());
    return std::max(cooldown, std::chrono::milliseconds(100));
  }
  return Send();
}

std::vector<BufferedItem> Dispatcher::ChooseRecords(std::vector<BufferedItem>& items) const {
  std::vector<BufferedItem> chosen;
  chosen.push_back(std::move(items.front()));
  if (chosen.front().record.kind() != pgagent::v1::RECORD_KIND_LOG) return chosen;
  // Backlogged logs: coalesce the consecutive pg_log records at the head.
  // Sized by the bytes the buffer accounts for them (the stored record, rounded up to its
  // pages): known already, where ByteSizeLong() would walk every entry again.
  uint64_t bytes = chosen.front().stored_bytes;
  for (size_t i = 1; i < items.size(); ++i) {
    if (items[i].record.kind() != pgagent::v1::RECORD_KIND_LOG) break;
    const uint64_t more = items[i].stored_bytes;
    if (bytes + more > options_.max_envelope_bytes / 2) break;  // JSON is larger than protobuf
    bytes += more;
    chosen.push_back(std::move(items[i]));
  }
  return chosen;
}

size_t Dispatcher::CorrelationBudget() const {
  const int spare = budget_.Available() - 1 - options_.aggregate_reserve_per_minute;
  if (spare <= 0) return 0;
  return std::min(options_.correlation_budget_per_record, static_cast<size_t>(spare));
}

std::chrono::system_clock::duration Dispatcher::Age(const Record& record) const {
  const auto collected = std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(
          std::chrono::seconds(record.collected_at().seconds()) +
          std::chrono::nanoseconds(record.collected_at().nanos())));
  return clock_.Now() - collected;
}

Result<std::optional<BufferedItem>> Dispatcher::OldestLiveSnapshot(uint64_t head_key) {
  PGAGENT_ASSIGN_OR_RETURN(std::vector<BufferedItem> newest,
                           buffer_.PeekNewest(options_.live_peek + live_pending_,
                                              /*include_logs=*/false));
  SkipDelivered(newest);
  std::optional<BufferedItem> oldest_live;
  // Newest first; keys are not ordered by collected_at (an outbox may resend old records),
  // so every one of them is looked at rather than stopping at the first stale record.
  for (BufferedItem& item : newest) {
    if (item.key <= head_key) break;
    const auto kind = item.record.kind();
    if (kind == pgagent::v1::RECORD_KIND_LOG || kind == pgagent::v1::RECORD_KIND_UNSPECIFIED) {
      continue;
    }
    if (Age(item.record) > options_.live_age) continue;
    oldest_live = std::move(item);
  }
  return oldest_live;
}

void Dispatcher::SkipDelivered(std::vector<BufferedItem>& items) const {
  if (delivered_.empty()) return;
  items.erase(std::remove_if(items.begin(), items.end(),
                             [&](const BufferedItem& item) { return delivered_.count(item.key); }),
              items.end());
}

Result<std::vector<BufferedItem>> Dispatcher::NextRecords(bool& live) {
  live = false;
  // Bounded by what one envelope takes (ChooseRecords), so a log backlog is decoded once
  // per request, not peek_batch records at a time.
  const uint64_t peek_bytes = options_.max_envelope_bytes / 2;
  PGAGENT_ASSIGN_OR_RETURN(std::vector<BufferedItem> items,
                           buffer_.Peek(options_.peek_batch + live_pending_,
                                        head_delivered_through_, peek_bytes));
  SkipDelivered(items);
  if (items.empty()) return items;
  if (options_.live_first && Age(items.front().record) > options_.backlog_age) {
    PGAGENT_ASSIGN_OR_RETURN(std::optional<BufferedItem> snapshot,
                             OldestLiveSnapshot(items.front().key));
    if (snapshot) {
      live = true;
      std::vector<BufferedItem> chosen;
      chosen.push_back(std::move(*snapshot));
      return chosen;
    }
  }
  return ChooseRecords(items);
}

Status Dispatcher::LoadWork() {
  bool live = false;
  PGAGENT_ASSIGN_OR_RETURN(std::vector<BufferedItem> chosen, NextRecords(live));
  if (chosen.empty()) return Status::Ok();
  Work work;
  work.first = chosen.front().record;
  std::vector<const Record*> records;
  for (const auto& item : chosen) {
    work.keys.push_back(item.key);
    records.push_back(&item.record);
  }
  const size_t budget = CorrelationBudget();
  Result<EncodeResult> encoded =
      records.size() > 1 || work.first.kind() == pgagent::v1::RECORD_KIND_LOG
          ? encoder_.EncodeLogs(records, budget)
          : encoder_.Encode(work.first, budget);
  if (!encoded.ok()) {
    // A record that cannot be encoded never will be: dead-letter it so the queue moves on.
    DeadLetter letter;
    letter.http_status = 0;
    letter.response_body = "not encodable: " + encoded.status().message();
    letter.record = work.first;
    PGAGENT_RETURN_IF_ERROR(buffer_.AddDeadLetter(letter, work.keys.front()));
    UpdateStats([](DispatcherStats& s) {
      ++s.encode_errors;
      ++s.dead_lettered;
    });
    log::Warn("delivery.record_not_encodable",
              {{"record_key", work.keys.front()}, {"error", encoded.status().message()}});
    return Status::Ok();
  }
  UpdateStats([&](DispatcherStats& s) {
    s.correlation_envelopes += encoded->correlation_envelopes;
    s.unlinked_correlation_ids += encoded->unlinked_correlation_ids;
    if (records.size() > 1) s.coalesced_log_records += records.size();
    if (live) ++s.live_first_records;
  });
  work.envelopes = std::move(encoded->envelopes);
  work.live = live;
  work_ = std::move(work);
  return Status::Ok();
}

std::chrono::milliseconds Dispatcher::Send() {
  const Envelope& envelope = work_->envelopes[work_->next];
  HttpRequest request;
  request.url = options_.url;
  request.headers = {{"Authorization", "Bearer " + options_.api_key},
                     {"Content-Type", "application/json"}};
  request.body = envelope.body;
  budget_.TryAcquire();
  UpdateStats([](DispatcherStats& s) { ++s.requests_sent; });
  Result<HttpResponse> response = transport_.Post(request);
  if (!response.ok()) {
    const StatusCode code = response.status().code();
    if (code == StatusCode::kCancelled) return 0ms;  // shutting down; the record stays
    if (code == StatusCode::kPermissionDenied || code == StatusCode::kInvalidArgument) {
      return OnConfigurationError(response.status());  // TLS refused, bad URL
    }
    return OnTransient(response.status().ToString());
  }
  UpdateStats([&](DispatcherStats& s) { s.last_status = response->status; });
  const int status = response->status;
  if (status >= 200 && status < 300) {
    OnAccepted();
    return 0ms;
  }
  if (status == 429) {
    const double delay_s = response->retry_after_s.value_or(60.0);
    budget_.PauseFor(std::chrono::duration_cast<std::chrono::steady_clock::duration>(
        std::chrono::duration<double>(delay_s)));
    breaker_.OnSuccess();  // the listener is up; 429 is backpressure, not an outage
    UpdateStats([](DispatcherStats& s) { ++s.requests_429; });
    return std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::duration<double>(delay_s));
  }
  if (status == 401 || status == 403) {
    OnAuthFailure(status);
    return std::max(
        std::chrono::duration_cast<std::chrono::milliseconds>(breaker_.RemainingCooldown()),
        std::chrono::milliseconds(100));
  }
  if (status == 413) {
    OnTooLarge(*response);
    return 0ms;
  }
  if (IsTransientStatus(status) || (status >= 300 && status < 400)) {
    return OnTransient("HTTP " + std::to_string(status));
  }
  OnPermanentRejection(*response);  // 400 and every other 4xx
  return 0ms;
}

void Dispatcher::OnAccepted() {
  breaker_.OnSuccess();
  auth_error_logged_ = false;
  UpdateStats([&](DispatcherStats& s) {
    ++s.requests_ok;
    s.last_success_unix_s = UnixNow(clock_);
  });
  ++work_->next;
  FinishIfDone();
}

void Dispatcher::OnPermanentRejection(const HttpResponse& response) {
  DeadLetter letter;
  letter.http_status = response.status;
  letter.envelope_json = work_->envelopes[work_->next].body;
  letter.response_body = response.body.substr(0, 4096);
  letter.record = work_->first;
  Status stored = buffer_.AddDeadLetter(letter);
  if (!stored.ok()) {
    // Keep the envelope: retrying later beats losing it.
    UpdateStats([&](DispatcherStats& s) { s.last_error = stored.ToString(); });
    return;
  }
  log::Warn("delivery.dead_lettered", {{"http_status", response.status},
                                       {"source", work_->envelopes[work_->next].source},
                                       {"record_key", work_->keys.front()},
                                       {"response", response.body.substr(0, 200)}});
  UpdateStats([](DispatcherStats& s) { ++s.dead_lettered; });
  breaker_.OnSuccess();  // the listener answered: it is up
  ++work_->next;
  FinishIfDone();
}

void Dispatcher::OnTooLarge(const HttpResponse& response) {
  const Envelope& envelope = work_->envelopes[work_->next];
  EnvelopeEncoder smaller(
      EncoderOptions{options_.project_id, envelope.body.size() / 2, PGAGENT_VERSION});
  Result<EncodeResult> parts = work_->first.kind() == pgagent::v1::RECORD_KIND_LOG
                                   ? smaller.EncodeLogs({&work_->first}, 0)
                                   : smaller.Encode(work_->first, 0);
  // Only an aggregate of one record can be re-split; anything else is dead-lettered.
  const bool splittable = !envelope.correlation_id && work_->keys.size() == 1 && parts.ok() &&
                          parts->envelopes.size() > 1 && work_->next == 0;
  if (!splittable) {
    OnPermanentRejection(response);
    return;
  }
  UpdateStats([](DispatcherStats& s) { ++s.split_413; });
  std::vector<Envelope> replaced = std::move(parts->envelopes);
  for (size_t i = 1; i < work_->envelopes.size(); ++i) {
    if (work_->envelopes[i].correlation_id) replaced.push_back(std::move(work_->envelopes[i]));
  }
  work_->envelopes = std::move(replaced);
  work_->next = 0;
}

void Dispatcher::OnAuthFailure(int status) {
  breaker_.OnAuthFailure();
  UpdateStats([&](DispatcherStats& s) {
    ++s.auth_failures;
    s.last_error = "HTTP " + std::to_string(status);
  });
  if (!auth_error_logged_) {
    auth_error_logged_ = true;
    log::Error("delivery.unauthorized",
               {{"http_status", status},
                {"url", options_.url},
                {"project_id", options_.project_id},
                {"hint",
                 "the listener refused the API key: check [listener] api_key, and that the key "
                 "belongs to this project (the listener derives the project from the key). "
                 "Records stay buffered."}});
  }
}

std::chrono::milliseconds Dispatcher::OnTransient(const std::string& error) {
  const BreakerState before = breaker_.state();
  breaker_.OnTransientFailure();
  UpdateStats([&](DispatcherStats& s) {
    ++s.requests_failed;
    s.last_error = error;
  });
  if (before != BreakerState::kOpen && breaker_.state() == BreakerState::kOpen) {
    log::Warn(
        "delivery.breaker_open",
        {{"error", error},
         {"cooldown_ms", static_cast<int64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                  breaker_.RemainingCooldown())
                                                  .count())}});
  }
  return kTransientRetryWait;
}

std::chrono::milliseconds Dispatcher::OnConfigurationError(const Status& error) {
  breaker_.OnAuthFailure();  // retrying at full speed cannot help: wait a cooldown
  UpdateStats([&](DispatcherStats& s) {
    ++s.requests_failed;
    s.last_error = error.ToString();
  });
  if (!auth_error_logged_) {
    auth_error_logged_ = true;
    log::Error("delivery.listener_refused",
               {{"url", options_.url},
                {"error", error.message()},
                {"hint", "check [listener] url and ca_file; records stay buffered"}});
  }
  return std::max(
      std::chrono::duration_cast<std::chrono::milliseconds>(breaker_.RemainingCooldown()),
      std::chrono::milliseconds(100));
}

void Dispatcher::FinishIfDone() {
  if (work_->next < work_->envelopes.size()) return;
  if (delivered_.empty()) delivered_since_ = clock_.Monotonic();
  delivered_.insert(work_->keys.begin(), work_->keys.end());
  if (work_->live) {
    live_pending_ += work_->keys.size();
  } else {
    head_delivered_through_ = std::max(head_delivered_through_, work_->keys.back());
  }
  UpdateStats([&](DispatcherStats& s) { s.records_delivered += work_->keys.size(); });
  work_.reset();
  if (delivered_.size() >= options_.remove_batch ||
      clock_.Monotonic() - delivered_since_ >= options_.remove_delay) {
    FlushRemovals();
  }
}

std::chrono::milliseconds Dispatcher::IdleWait() {
  if (delivered_.empty()) return kIdleWait;
  const auto pending_for = clock_.Monotonic() - delivered_since_;
  if (pending_for >= options_.remove_delay) {
    FlushRemovals();
    return kIdleWait;
  }
  const auto left =
      std::chrono::ceil<std::chrono::milliseconds>(options_.remove_delay - pending_for);
  return std::clamp(left, std::chrono::milliseconds(1), kIdleWait);
}

void Dispatcher::FlushRemovals() {
  if (delivered_.empty()) return;
  Status removed = buffer_.Remove(std::vector<uint64_t>(delivered_.begin(), delivered_.end()));
  // On failure they are read and sent again: a duplicate, never a loss.
  if (!removed.ok()) UpdateStats([&](DispatcherStats& s) { s.last_error = removed.ToString(); });
  delivered_.clear();
  head_delivered_through_ = 0;
  live_pending_ = 0;
}

}  // namespace pgagent
