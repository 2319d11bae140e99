#include "shared/control/shipper_control.h"

#include <unistd.h>

#include <utility>
#include <vector>

#ifndef PGAGENT_VERSION
#define PGAGENT_VERSION "unknown"
#endif

namespace pgagent {
namespace {

using pgagent::v1::ControlRequest;
using pgagent::v1::ControlResponse;

constexpr size_t kScanPage = 256;

ControlResponse Failure(const Status& status) {
  ControlResponse response;
  response.set_ok(false);
  response.set_error(status.message().empty() ? status.ToString() : status.message());
  return response;
}

ControlResponse Affected(const Result<uint64_t>& count) {
  if (!count.ok()) return Failure(count.status());
  ControlResponse response;
  response.set_ok(true);
  response.mutable_affected()->set_count(*count);
  return response;
}

}  // namespace

pgagent::v1::QueueStats ToQueueStats(const BufferStats& stats) {
  pgagent::v1::QueueStats out;
  out.set_records(stats.records);
  out.set_bytes(stats.bytes);
  out.set_oldest_age_s(stats.oldest_age_s);
  for (const auto& [kind, n] : stats.records_by_kind) (*out.mutable_records_by_kind())[kind] = n;
  for (const auto& [kind, n] : stats.evicted_records_by_kind) {
    (*out.mutable_evicted_records_by_kind())[kind] = n;
  }
  for (const auto& [kind, n] : stats.evicted_bytes_by_kind) {
    (*out.mutable_evicted_bytes_by_kind())[kind] = n;
  }
  out.set_dead_letters(stats.dead_letters);
  out.set_corrupt_skipped(stats.corrupt_skipped);
  out.set_max_bytes(stats.max_bytes);
  return out;
}

pgagent::v1::DeadLetter ToDeadLetterMessage(const DeadLetter& letter) {
  pgagent::v1::DeadLetter out;
  out.set_id(letter.id);
  out.set_http_status(letter.http_status);
  out.set_response(letter.response_body);
  out.set_envelope_json(letter.envelope_json);
  out.set_dead_lettered_unix_s(static_cast<double>(letter.dead_lettered_at_unix_ms) / 1000.0);
  return out;
}

ShipperControlHandler::ShipperControlHandler(RecordBuffer& buffer, const Clock& clock,
                                             ShipperStatusSources sources,
                                             ShipperControlOptions options)
    : buffer_(buffer),
      clock_(clock),
      sources_(std::move(sources)),
      options_(std::move(options)),
      started_(clock.Monotonic()) {}

ControlResponse ShipperControlHandler::Handle(const ControlRequest& request) {
  ControlResponse response;
  Status status;
  switch (request.request_case()) {
    case ControlRequest::kStatus:
      status = FillStatus(response.mutable_status());
      break;
    case ControlRequest::kQueueStats: {
      auto stats = buffer_.Stats();
      if (stats.ok()) *response.mutable_queue_stats() = ToQueueStats(*stats);
      status = stats.status();
      break;
    }
    case ControlRequest::kQueuePeek:
      status = Peek(request.queue_peek(), response.mutable_queue_peek());
      break;
    case ControlRequest::kQueuePurge:
      if (!request.queue_purge().confirm()) {
        status = FailedPreconditionError("refusing to purge the queue without confirm");
        break;
      }
      response = Affected(buffer_.Purge());
      break;
    case ControlRequest::kDeadletterList:
      status = ListDeadLetters(request.deadletter_list(), response.mutable_deadletter_list());
      break;
    case ControlRequest::kDeadletterRequeue:
      response = Affected(Requeue(request.deadletter_requeue()));
      break;
    case ControlRequest::kDeadletterPurge:
      if (!request.deadletter_purge().confirm()) {
        status = FailedPreconditionError("refusing to purge the dead letters without confirm");
        break;
      }
      response = Affected(buffer_.PurgeDeadLetters());
      break;
    case ControlRequest::REQUEST_NOT_SET:
      status = InvalidArgumentError("empty control request (no request set)");
      break;
  }
  if (!status.ok()) response = Failure(status);
  if (status.ok() && response.error().empty()) response.set_ok(true);
  response.set_source(options_.source);
  return response;
}

Status ShipperControlHandler::FillStatus(pgagent::v1::StatusResponse* out) {
  out->set_component("shipperd");
  out->set_version(PGAGENT_VERSION);
  out->set_pid(static_cast<int32_t>(getpid()));
  out->set_uptime_s(std::chrono::duration<double>(clock_.Monotonic() - started_).count());
  if (sources_.last_delivery_unix_s) out->set_last_cycle_unix_s(sources_.last_delivery_unix_s());
  if (sources_.health) *out->mutable_health() = sources_.health();
  PGAGENT_ASSIGN_OR_RETURN(BufferStats stats, buffer_.Stats());
  *out->mutable_queue() = ToQueueStats(stats);
  return Status::Ok();
}

Status ShipperControlHandler::Peek(const pgagent::v1::QueuePeekRequest& request,
                                   pgagent::v1::QueuePeekResponse* out) {
  uint32_t limit = request.limit() == 0 ? kDefaultPeekRecords : request.limit();
  if (limit > kMaxPeekRecords) limit = kMaxPeekRecords;
  const auto kind = request.kind();
  size_t answer_bytes = 0;
  uint64_t after = 0;
  uint64_t scanned = 0;
  while (scanned < kMaxPeekScan) {
    PGAGENT_ASSIGN_OR_RETURN(std::vector<BufferedItem> page, buffer_.Peek(kScanPage, after));
    if (page.empty()) return Status::Ok();
    for (BufferedItem& item : page) {
      ++scanned;
      after = item.key;
      if (kind != pgagent::v1::RECORD_KIND_UNSPECIFIED && item.record.kind() != kind) continue;
      const size_t size = item.record.ByteSizeLong();
      if (static_cast<uint32_t>(out->records_size()) >= limit ||
          answer_bytes + size > options_.max_answer_bytes) {
        out->set_truncated(true);
        return Status::Ok();
      }
      answer_bytes += size;
      auto* record = out->add_records();
      record->set_id(item.key);
      *record->mutable_record() = std::move(item.record);
    }
  }
  out->set_truncated(true);  // scan bound reached: more may match
  return Status::Ok();
}

Status ShipperControlHandler::ListDeadLetters(const pgagent::v1::DeadLetterListRequest& request,
                                              pgagent::v1::DeadLetterList* out) {
  uint32_t limit = request.limit() == 0 ? kDefaultListedDeadLetters : request.limit();
  if (limit > kMaxListedDeadLetters) limit = kMaxListedDeadLetters;
  PGAGENT_ASSIGN_OR_RETURN(BufferStats stats, buffer_.Stats());
  out->set_total(stats.dead_letters);
  PGAGENT_ASSIGN_OR_RETURN(std::vector<DeadLetter> letters, buffer_.ListDeadLetters(limit + 1));
  size_t answer_bytes = 0;
  for (const DeadLetter& letter : letters) {
    pgagent::v1::DeadLetter message = ToDeadLetterMessage(letter);
    const size_t size = message.ByteSizeLong();
    if (static_cast<uint32_t>(out->entries_size()) >= limit ||
        answer_bytes + size > options_.max_answer_bytes) {
      out->set_truncated(true);
      break;
    }
    answer_bytes += size;
    *out->add_entries() = std::move(message);
  }
  return Status::Ok();
}

Result<uint64_t> ShipperControlHandler::Requeue(
    const pgagent::v1::DeadLetterRequeueRequest& request) {
  std::vector<uint64_t> ids(request.ids().begin(), request.ids().end());
  if (ids.empty()) {
    // Every dead letter: the store is capped, and the loop ends at the first empty page.
    uint64_t after = 0;
    for (;;) {
      PGAGENT_ASSIGN_OR_RETURN(std::vector<DeadLetter> page,
                               buffer_.ListDeadLetters(kScanPage, after));
      if (page.empty()) break;
      for (const DeadLetter& letter : page) ids.push_back(letter.id);
      after = page.back().id;
    }
    if (ids.empty()) return uint64_t{0};
  }
  return buffer_.RequeueDeadLetters(ids);
}

}  // namespace pgagent
