// Resident memory and CPU time of a running process, read from /proc/<pid>/status and
// /proc/<pid>/stat, and a series of such samples with the statistics the end-to-end report
// needs (mean/max, CPU percent between samples, least-squares RSS slope).
// Thread-safety: ReadProcSample is reentrant; SampleSeries is a value type (not
// thread-safe; one owner).
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "common/status.h"

namespace pgagent::e2e {

struct ProcSample {
  double t_s = 0;                    // seconds since the series' origin (set by the caller)
  double rss_kb = 0;                 // VmRSS
  double rss_anon_kb = 0;            // RssAnon (heap; excludes mapped files such as the LMDB map)
  double cpu_s = 0;                  // utime + stime, seconds
  double reaped_children_cpu_s = 0;  // cutime + cstime: children that exited and were waited for
};

// Reads one sample of `pid` from `proc_root` (normally "/proc"); t_s is left 0.
// Errors: kNotFound when the process is gone, kInvalidArgument when a file does not parse.
Result<ProcSample> ReadProcSample(pid_t pid, const std::string& proc_root = "/proc");

// CPU time of the whole machine (all CPUs), from the first ("cpu") line of /proc/stat.
struct MachineCpu {
  double busy_s = 0;   // user + nice + system + irq + softirq + steal
  double total_s = 0;  // busy + idle + iowait
};

// Errors: kNotFound when the file is missing, kInvalidArgument when it does not parse.
Result<MachineCpu> ReadMachineCpu(const std::string& proc_root = "/proc");

struct SeriesStats {
  size_t samples = 0;
  double seconds = 0;  // last t_s - first t_s
  double rss_mean_mb = 0;
  double rss_max_mb = 0;
  double rss_anon_mean_mb = 0;
  double rss_anon_max_mb = 0;
  double cpu_percent = 0;              // CPU seconds used / wall seconds * 100, over the series
  double rss_anon_slope_mb_per_h = 0;  // least-squares slope of RssAnon over t_s
  double rss_slope_mb_per_h = 0;       // same for VmRSS
};

// Samples of ONE process instance (one pid); a restarted daemon starts a new series.
class SampleSeries {
 public:
  void Add(const ProcSample& s) { samples_.push_back(s); }
  const std::vector<ProcSample>& samples() const { return samples_; }
  // Statistics over samples whose t_s >= from_s (all by default). Zeros when < 2 samples.
  SeriesStats Stats(double from_s = -1) const;

 private:
  std::vector<ProcSample> samples_;
};

// Least-squares slope dy/dx; 0 when fewer than 2 points or no spread in x.
double Slope(const std::vector<double>& x, const std::vector<double>& y);

}  // namespace pgagent::e2e
