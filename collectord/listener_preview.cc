#include "collectord/listener_preview.h"

#include <map>

#include "collectord/collector_daemon.h"
#include "common/exit_codes.h"
#include "common/ids.h"

namespace pgagent {

using pgagent::v1::Record;

Result<std::vector<Envelope>> PreviewEnvelopes(std::vector<Record> records,
                                               const ListenerConfig& listener,
                                               const std::string& boot_id) {
  uint64_t seq = 0;
  for (Record& record : records) {
    ++seq;
    if (!record.id().boot_id().empty()) continue;
    record.mutable_id()->set_boot_id(boot_id);
    record.mutable_id()->set_seq(seq);
  }
  std::vector<std::vector<const Record*>> groups;
  std::map<std::string, size_t> group_of;  // listener source -> index in groups
  for (const Record& record : records) {
    const std::string source = EnvelopeEncoder::SourceFor(record.kind());
    if (source.empty()) continue;  // never sent
    auto [it, inserted] = group_of.try_emplace(source, groups.size());
    if (inserted) groups.emplace_back();
    groups[it->second].push_back(&record);
  }
  const EnvelopeEncoder encoder(EncoderOptionsFor(listener));
  std::vector<Envelope> envelopes;
  for (const auto& group : groups) {
    PGAGENT_ASSIGN_OR_RETURN(std::vector<Envelope> encoded, encoder.EncodeAggregate(group));
    for (Envelope& envelope : encoded) envelopes.push_back(std::move(envelope));
  }
  return envelopes;
}

int RunListenerPreview(const Config& config, CollectorEdges edges, std::FILE* out) {
  auto records = CollectorDaemon::RunOnce(config, std::move(edges));
  if (!records.ok()) {
    std::fprintf(stderr, "pgagent-collectord --dry-run: %s\n", records.status().ToString().c_str());
    return records.status().code() == StatusCode::kPermissionDenied ? kExitConfig
                                                                    : kExitUnavailable;
  }
  auto envelopes = PreviewEnvelopes(std::move(*records), config.listener, NewUuid());
  if (!envelopes.ok()) {
    std::fprintf(stderr, "pgagent-collectord --dry-run: %s\n",
                 envelopes.status().ToString().c_str());
    return kExitSoftware;
  }
  for (const Envelope& envelope : *envelopes) std::fprintf(out, "%s\n", envelope.body.c_str());
  return kExitOk;
}

}  // namespace pgagent
