#include "collectord/system/load_signal.h"

#include <unistd.h>

#include "collectord/system/proc_parsers.h"

namespace pgagent::system {

ProcLoadSignalSource::ProcLoadSignalSource(const ProcFs& fs, uint32_t core_count)
    : fs_(fs), core_count_(core_count > 0 ? core_count : 1) {}

Result<LoadSignal> ProcLoadSignalSource::Read() {
  LoadSignal signal;
  Status load_error;
  Result<std::string> load_text = fs_.ReadFile("/proc/loadavg");
  if (load_text.ok()) {
    Result<LoadAvg> load = ParseLoadAvg(*load_text);
    if (load.ok()) {
      signal.load_per_core = load->load1 / core_count_;
    } else {
      load_error = load.status();
    }
  } else {
    load_error = load_text.status();
  }
  Result<std::string> psi_text = fs_.ReadFile("/proc/pressure/cpu");
  if (psi_text.ok()) {
    Result<PressureStat> psi = ParsePressure(*psi_text);
    if (psi.ok()) signal.psi_cpu_some_avg10 = psi->some.avg10;
  }
  if (!signal.load_per_core.has_value() && !signal.psi_cpu_some_avg10.has_value()) {
    return load_error;
  }
  return signal;
}

uint32_t ProcLoadSignalSource::OnlineCores() {
  const long n = ::sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? static_cast<uint32_t>(n) : 1;
}

}  // namespace pgagent::system
