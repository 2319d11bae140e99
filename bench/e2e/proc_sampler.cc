#include "bench/e2e/proc_sampler.h"

#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>

namespace pgagent::e2e {

namespace {

// "VmRSS:     1234 kB" -> 1234, or -1 when the key is absent.
double StatusKb(const std::string& status, const std::string& key) {
  const size_t pos = status.find("\n" + key + ":");
  if (pos == std::string::npos) return -1;
  std::istringstream in(status.substr(pos + key.size() + 2, 64));
  double kb = -1;
  in >> kb;
  return kb;
}

}  // namespace

Result<ProcSample> ReadProcSample(pid_t pid, const std::string& proc_root) {
  const std::string base = proc_root + "/" + std::to_string(pid);
  std::ifstream status_file(base + "/status");
  std::ifstream stat_file(base + "/stat");
  if (!status_file || !stat_file)
    return NotFoundError("process " + std::to_string(pid) + " is gone");
  std::stringstream status;
  status << "\n" << status_file.rdbuf();
  std::string stat((std::istreambuf_iterator<char>(stat_file)), std::istreambuf_iterator<char>());
  ProcSample s;
  s.rss_kb = StatusKb(status.str(), "VmRSS");
  s.rss_anon_kb = StatusKb(status.str(), "RssAnon");
  // Fields after the command name (which may hold spaces) start after the last ')'.
  const size_t close = stat.rfind(')');
  if (s.rss_kb < 0 || close == std::string::npos) {
    return InvalidArgumentError("cannot parse " + base + "/status or /stat (zombie?)");
  }
  std::istringstream fields(stat.substr(close + 2));
  std::string field;
  double utime = -1, stime = -1, cutime = 0, cstime = 0;
  for (int i = 3; i <= 17 && fields >> field; ++i) {  // field 3 is the state
    if (i == 14) utime = std::stod(field);
    if (i == 15) stime = std::stod(field);
    if (i == 16) cutime = std::stod(field);
    if (i == 17) cstime = std::stod(field);
  }
  if (utime < 0 || stime < 0) return InvalidArgumentError("cannot parse " + base + "/stat");
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  s.cpu_s = (utime + stime) / ticks;
  s.reaped_children_cpu_s = (cutime + cstime) / ticks;
  return s;
}

Result<MachineCpu> ReadMachineCpu(const std::string& proc_root) {
  std::ifstream stat_file(proc_root + "/stat");
  if (!stat_file) return NotFoundError("cannot open " + proc_root + "/stat");
  std::string label;
  // user nice system idle iowait irq softirq steal (guest time is included in user).
  double v[8] = {-1, -1, -1, -1, -1, -1, -1, -1};
  stat_file >> label;
  for (double& x : v) stat_file >> x;
  if (label != "cpu" || v[7] < 0) {
    return InvalidArgumentError("cannot parse the cpu line of " + proc_root + "/stat");
  }
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  MachineCpu m;
  m.busy_s = (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / ticks;
  m.total_s = m.busy_s + (v[3] + v[4]) / ticks;
  return m;
}

double Slope(const std::vector<double>& x, const std::vector<double>& y) {
  const size_t n = std::min(x.size(), y.size());
  if (n < 2) return 0;
  double mx = 0, my = 0;
  for (size_t i = 0; i < n; ++i) {
    mx += x[i];
    my += y[i];
  }
  mx /= static_cast<double>(n);
  my /= static_cast<double>(n);
  double sxy = 0, sxx = 0;
  for (size_t i = 0; i < n; ++i) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) * (x[i] - mx);
  }
  return sxx > 0 ? sxy / sxx : 0;
}

SeriesStats SampleSeries::Stats(double from_s) const {
  std::vector<const ProcSample*> used;
  for (const auto& s : samples_) {
    if (s.t_s >= from_s) used.push_back(&s);
  }
  SeriesStats st;
  st.samples = used.size();
  if (used.size() < 2) return st;
  std::vector<double> t, rss, anon;
  for (const ProcSample* s : used) {
    t.push_back(s->t_s / 3600.0);
    rss.push_back(s->rss_kb / 1024.0);
    anon.push_back(s->rss_anon_kb / 1024.0);
    st.rss_mean_mb += s->rss_kb / 1024.0;
    st.rss_anon_mean_mb += s->rss_anon_kb / 1024.0;
    st.rss_max_mb = std::max(st.rss_max_mb, s->rss_kb / 1024.0);
    st.rss_anon_max_mb = std::max(st.rss_anon_max_mb, s->rss_anon_kb / 1024.0);
  }
  st.rss_mean_mb /= static_cast<double>(used.size());
  st.rss_anon_mean_mb /= static_cast<double>(used.size());
  st.seconds = used.back()->t_s - used.front()->t_s;
  if (st.seconds > 0)
    st.cpu_percent = (used.back()->cpu_s - used.front()->cpu_s) / st.seconds * 100.0;
  st.rss_slope_mb_per_h = Slope(t, rss);
  st.rss_anon_slope_mb_per_h = Slope(t, anon);
  return st;
}

}  // namespace pgagent::e2e
