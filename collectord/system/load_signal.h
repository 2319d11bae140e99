// LoadSignalSource: the cheap reading that decides burst sampling (BurstController): load
// average per core and PSI cpu "some" avg10. ProcLoadSignalSource reads two small files
// (/proc/loadavg, /proc/pressure/cpu) through ProcFs, a few microseconds per reading.
// Thread-safety: ProcLoadSignalSource keeps no mutable state; safe from any thread as long
// as its ProcFs is. The ProcFs must outlive it.
#pragma once

#include <cstdint>
#include <optional>

#include "collectord/system/proc_fs.h"
#include "common/status.h"

namespace pgagent::system {

struct LoadSignal {
  // 1-minute load average / online cores; absent when /proc/loadavg is unreadable.
  std::optional<double> load_per_core;
  // /proc/pressure/cpu "some avg10", percent of the last 10 s in which at least one task
  // waited for a CPU; absent on kernels without PSI.
  std::optional<double> psi_cpu_some_avg10;
};

class LoadSignalSource {
 public:
  virtual ~LoadSignalSource() = default;
  // The current reading. An error only when neither value could be read (the error of
  // /proc/loadavg); a missing PSI file alone leaves psi_cpu_some_avg10 absent.
  virtual Result<LoadSignal> Read() = 0;
};

class ProcLoadSignalSource final : public LoadSignalSource {
 public:
  // REQUIRES: core_count > 0 (see OnlineCores()).
  ProcLoadSignalSource(const ProcFs& fs, uint32_t core_count);
  ProcLoadSignalSource(const ProcLoadSignalSource&) = delete;
  ProcLoadSignalSource& operator=(const ProcLoadSignalSource&) = delete;

  Result<LoadSignal> Read() override;

  // sysconf(_SC_NPROCESSORS_ONLN), at least 1.
  static uint32_t OnlineCores();

 private:
  const ProcFs& fs_;
  const uint32_t core_count_;
};

}  // namespace pgagent::system
