// BackendResourceSampler: CPU time, storage I/O bytes and RSS of PostgreSQL backend
// processes between two samples, from /proc/<pid>/stat and /proc/<pid>/io, attached to the
// session rows of an ActivitySnapshot (pgagent.v1.Session.resources).
//
// For each pid it keeps the previous reading (with the process start time, so that a reused
// pid starts afresh). The first reading of a pid is a baseline: resources are present with
// interval_ms 0 and zero deltas, rss_bytes set. A pid whose /proc/<pid>/stat is unreadable
// (EACCES, hidepid) gets no resources; one whose /proc/<pid>/io is unreadable (io needs
// ptrace access: same user or CAP_SYS_PTRACE) gets CPU and RSS but no read_bytes /
// write_bytes. Each such pid is counted once in stats(), not once per sample, and nothing is
// logged. A pid that vanished (ENOENT/ESRCH) is forgotten; a pid not asked for during
// `forget_after` is forgotten too, so memory stays bounded by the live backends.
//
// Thread-safety: not thread-safe; call from the thread that samples activity. The ProcFs and
// Clock must outlive the sampler.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "collectord/system/proc_fs.h"
#include "collectord/system/proc_parsers.h"
#include "common/clock.h"
#include "common/status.h"
#include "pgagent/v1/records.pb.h"

namespace pgagent::system {

struct BackendSamplerOptions {
  // sysconf(_SC_CLK_TCK) and sysconf(_SC_PAGESIZE) of this host; tests pass fixed values.
  long clock_ticks_per_s = 100;
  long page_size = 4096;
  // A pid not asked for during this long is forgotten (its next reading is a baseline).
  std::chrono::seconds forget_after{300};
};

// BackendSamplerOptions with this host's clock tick rate and page size.
BackendSamplerOptions HostBackendSamplerOptions();

class BackendResourceSampler {
 public:
  struct Stats {
    uint64_t stat_permission_denied_pids = 0;  // pids whose /proc/<pid>/stat was unreadable
    uint64_t io_permission_denied_pids = 0;    // pids whose /proc/<pid>/io was unreadable
    uint64_t vanished_pids = 0;                // pids that exited between list and read
    uint64_t malformed = 0;                    // unparsable stat/io text
    uint64_t tracked_pids = 0;                 // pids remembered now
  };

  BackendResourceSampler(const ProcFs& fs, const Clock& clock, BackendSamplerOptions options);
  BackendResourceSampler(const BackendResourceSampler&) = delete;
  BackendResourceSampler& operator=(const BackendResourceSampler&) = delete;

  // Resources of each readable pid of `pids` since its previous sample; unreadable or
  // vanished pids are absent from the result.
  std::unordered_map<int32_t, pgagent::v1::BackendResources> Sample(
      const std::vector<int32_t>& pids);

  // Samples the pids of snapshot.sessions and sets each session's resources where readable
  // (clears it elsewhere).
  void Attach(pgagent::v1::ActivitySnapshot& snapshot);

  Stats stats() const;

 private:
  struct Entry {
    bool have_reading = false;
    uint64_t start_time_ticks = 0;
    uint64_t utime_ticks = 0;
    uint64_t stime_ticks = 0;
    bool have_io = false;
    uint64_t read_bytes = 0;
    uint64_t write_bytes = 0;
    std::chrono::steady_clock::time_point read_at;
    std::chrono::steady_clock::time_point last_asked;
    bool stat_denied_counted = false;
    bool io_denied_counted = false;
  };

  // Reads one pid; std::nullopt when it has no resources this time.
  std::optional<pgagent::v1::BackendResources> SampleOne(int32_t pid, Entry& entry,
                                                         std::chrono::steady_clock::time_point now,
                                                         bool& forget);
  // /proc/<pid>/io, or std::nullopt when unreadable (permission denials counted once per pid).
  std::optional<PidIo> ReadIo(const std::string& dir, Entry& entry);
  void ForgetStale(std::chrono::steady_clock::time_point now);

  const ProcFs& fs_;
  const Clock& clock_;
  BackendSamplerOptions options_;
  std::unordered_map<int32_t, Entry> entries_;
  Stats stats_;
};

}  // namespace pgagent::system
