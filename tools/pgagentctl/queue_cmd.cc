// pgagentctl queue stats|peek|purge and deadletter list|requeue|purge.
// Reads go to shipperd, or to the buffer directly (read-only) when shipperd is down.
// Changes (purge, requeue) go only through shipperd: with shipperd down they are refused
// (exit 69), so that pgagentctl never creates or writes buffer files itself (as root it
// would leave files shipperd cannot open).
#include <cstdio>
#include <functional>

#include "common/exit_codes.h"
#include "tools/pgagentctl/ctl.h"
#include "tools/pgagentctl/daemon_access.h"

namespace pgagent::ctl {
namespace {

using pgagent::v1::ControlRequest;
using pgagent::v1::ControlResponse;
using HumanPrinter = std::function<void(const ControlResponse&)>;

int RunShipperRequest(const GlobalOptions& options, const ControlRequest& request, bool writes,
                      const HumanPrinter& print_human) {
  auto loaded = LoadCtlConfig(options);
  if (!loaded.ok()) return Fail(options, loaded.status().message(), kExitConfig);
  const Config& config = loaded->config;
  DaemonAnswer answer = AskDaemon(config, "shipperd", request);
  ControlResponse response;
  std::string note;
  if (answer.reach == Reach::kUnreachable) {
    return Fail(options, "cannot reach shipperd: " + answer.error, kExitUnavailable);
  } else if (answer.reach == Reach::kDown && writes) {
    return Fail(options,
                "shipperd is down (" + answer.error +
                    "); pgagentctl changes the buffer only through shipperd: start it "
                    "(systemctl start pgagent-shipperd) and retry",
                kExitUnavailable);
  } else if (answer.reach == Reach::kDown) {
    auto direct = AskBufferDirectly(config, request);
    if (!direct.ok()) {
      return Fail(options,
                  "shipperd is down (" + answer.error + ") and " + direct.status().message(),
                  kExitUnavailable);
    }
    response = std::move(*direct);
    note = "shipperd is down (" + answer.error + "); read the buffer at " + config.buffer.path +
           " directly, read-only";
  } else {
    response = std::move(answer.response);
  }
  if (options.json) {
    PrintJson(response);
  } else if (!response.ok()) {
    std::fprintf(stderr, "pgagentctl: %s: %s\n", response.source().c_str(),
                 response.error().c_str());
  } else {
    if (!note.empty()) std::printf("note: %s\n", note.c_str());
    print_human(response);
  }
  return response.ok() ? kExitOk : kExitCheckFailed;
}

std::string KindCounts(const google::protobuf::Map<std::string, uint64_t>& counts) {
  std::map<std::string, uint64_t> sorted(counts.begin(), counts.end());
  std::string out;
  for (const auto& [kind, n] : sorted) {
    if (!out.empty()) out += ", ";
    out += kind + " " + std::to_string(n);
  }
  return out.empty() ? "none" : out;
}

void PrintStats(const pgagent::v1::QueueStats& stats) {
  std::string capacity;
  if (stats.max_bytes() > 0) {
    const double percent =
        100.0 * static_cast<double>(stats.bytes()) / static_cast<double>(stats.max_bytes());
    char buf[32];
    std::snprintf(buf, sizeof(buf), " (%.0f%%)", percent);
    capacity = " of " + HumanBytes(stats.max_bytes()) + buf;
  }
  std::printf("buffer: %llu records, %s%s", static_cast<unsigned long long>(stats.records()),
              HumanBytes(stats.bytes()).c_str(), capacity.c_str());
  if (stats.records() > 0) std::printf(", oldest %s", HumanDuration(stats.oldest_age_s()).c_str());
  std::printf("\n  by kind: %s\n", KindCounts(stats.records_by_kind()).c_str());
  std::printf("  evicted (over the size cap): %s\n",
              KindCounts(stats.evicted_records_by_kind()).c_str());
  std::printf("  dead letters: %llu; corrupt records skipped: %llu\n",
              static_cast<unsigned long long>(stats.dead_letters()),
              static_cast<unsigned long long>(stats.corrupt_skipped()));
}

void PrintPeek(const pgagent::v1::QueuePeekResponse& peek, const std::string& kind) {
  if (peek.records_size() == 0) {
    std::printf("%s\n", kind.empty() ? "the buffer is empty"
                                     : ("no buffered records of kind " + kind).c_str());
    return;
  }
  for (const auto& item : peek.records()) {
    const auto& record = item.record();
    std::printf("--- record %llu: %s from %s (collector boot %s, seq %llu)\n",
                static_cast<unsigned long long>(item.id()), RecordKindName(record.kind()).c_str(),
                record.host().c_str(), record.id().boot_id().c_str(),
                static_cast<unsigned long long>(record.id().seq()));
    std::fputs(ToJson(record).c_str(), stdout);
  }
  if (peek.truncated()) std::printf("(more records match; ask for more with queue peek N)\n");
}

std::string Shorten(const std::string& text, size_t max) {
  std::string one_line;
  for (char c : text) one_line += (c == '\n' || c == '\r') ? ' ' : c;
  return one_line.size() <= max ? one_line : one_line.substr(0, max) + "...";
}

void PrintDeadLetters(const pgagent::v1::DeadLetterList& list) {
  std::printf("dead letters: %llu kept\n", static_cast<unsigned long long>(list.total()));
  for (const auto& letter : list.entries()) {
    std::printf("  #%llu  %s  HTTP %d  envelope %s\n    listener said: %s\n",
                static_cast<unsigned long long>(letter.id()),
                HumanTimeAgo(letter.dead_lettered_unix_s()).c_str(), letter.http_status(),
                HumanBytes(letter.envelope_json().size()).c_str(),
                Shorten(letter.response(), 200).c_str());
  }
  if (list.truncated()) std::printf("(more dead letters; --json or a larger limit shows them)\n");
}

}  // namespace

int RunQueueStats(const GlobalOptions& options) {
  ControlRequest request;
  request.mutable_queue_stats();
  return RunShipperRequest(options, request, false,
                           [](const ControlResponse& r) { PrintStats(r.queue_stats()); });
}

int RunQueuePeek(const GlobalOptions& options, uint32_t limit, const std::string& kind) {
  ControlRequest request;
  request.mutable_queue_peek()->set_limit(limit);
  if (!kind.empty()) {
    auto parsed = ParseRecordKind(kind);
    if (!parsed.ok()) return Fail(options, parsed.status().message(), kExitUsage);
    request.mutable_queue_peek()->set_kind(*parsed);
  }
  return RunShipperRequest(options, request, false,
                           [&](const ControlResponse& r) { PrintPeek(r.queue_peek(), kind); });
}

int RunQueuePurge(const GlobalOptions& options, bool yes) {
  if (!yes) {
    return Fail(options, "queue purge deletes every buffered record; add --yes to confirm",
                kExitUsage);
  }
  ControlRequest request;
  request.mutable_queue_purge()->set_confirm(true);
  return RunShipperRequest(options, request, true, [](const ControlResponse& r) {
    std::printf("purged %llu buffered records\n",
                static_cast<unsigned long long>(r.affected().count()));
  });
}

int RunDeadLetterList(const GlobalOptions& options, uint32_t limit) {
  ControlRequest request;
  request.mutable_deadletter_list()->set_limit(limit);
  return RunShipperRequest(options, request, false,
                           [](const ControlResponse& r) { PrintDeadLetters(r.deadletter_list()); });
}

int RunDeadLetterRequeue(const GlobalOptions& options, const std::vector<uint64_t>& ids) {
  ControlRequest request;
  for (uint64_t id : ids) request.mutable_deadletter_requeue()->add_ids(id);
  request.mutable_deadletter_requeue();
  return RunShipperRequest(options, request, true, [](const ControlResponse& r) {
    std::printf("requeued %llu dead letters (they will be delivered again)\n",
                static_cast<unsigned long long>(r.affected().count()));
  });
}

int RunDeadLetterPurge(const GlobalOptions& options, bool yes) {
  if (!yes) {
    return Fail(options, "deadletter purge deletes every dead letter; add --yes to confirm",
                kExitUsage);
  }
  ControlRequest request;
  request.mutable_deadletter_purge()->set_confirm(true);
  return RunShipperRequest(options, request, true, [](const ControlResponse& r) {
    std::printf("deleted %llu dead letters\n",
                static_cast<unsigned long long>(r.affected().count()));
  });
}

}  // namespace pgagent::ctl
