// pgagent-collectord --dry-run: one cycle of every collector, printed as the request bodies
// shipperd would POST to the listener for exactly these records, from the one envelope
// encoder (shared/listener/envelope_encoder.h). Nothing leaves the host and nothing is handed
// to shipperd: no IPC, no network.
//
// What "as shipperd would send them" means here: the records are numbered the way the outbox
// numbers them (one fresh boot id, seq from 1), grouped by listener source in the order the
// sources first appear (as shipperd's Dispatcher groups a buffer that holds just these
// records), and each group is encoded with the [listener] section's project_id and
// max_envelope_bytes (the encoder splits what is larger). Not shown: the correlation-row
// requests, which shipperd assembles from the records of many cycles and sends as the request
// budget allows.
// Thread-safety: plain functions.
#pragma once

#include <cstdio>
#include <string>
#include <vector>

#include "collectord/collector_daemon.h"
#include "common/clock.h"
#include "common/config.h"
#include "common/status.h"
#include "pgagent/v1/records.pb.h"
#include "shared/listener/envelope_encoder.h"

namespace pgagent {

// The envelopes, in sending order, for `records` (numbered under `boot_id` when they have no
// id yet). Errors: kInvalidArgument for a record the encoder refuses (shipperd would
// dead-letter it).
Result<std::vector<Envelope>> PreviewEnvelopes(std::vector<pgagent::v1::Record> records,
                                               const ListenerConfig& listener,
                                               const std::string& boot_id);

// --dry-run: runs one cycle (CollectorDaemon::RunOnce) and writes one envelope body per line
// to `out`. Returns the process exit code (kExitConfig for missing privileges, kExitUnavailable
// when the database cannot be reached), with the reason on stderr.
int RunListenerPreview(const Config& config, CollectorEdges edges, std::FILE* out);

}  // namespace pgagent
