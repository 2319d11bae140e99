// Helpers for the log tailing tests: a temporary directory removed at destruction, file
// writes by path, a LogFileSystem wrapper that injects errors (root cannot provoke EACCES
// with chmod), and a log sink that counts warnings.
// Thread-safety: TempDir and the free functions may be used from any one thread at a time;
// FaultyFileSystem's fault may be set while another thread uses it (guarded by a mutex).
#pragma once

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "collectord/logtail/log_file_system.h"
#include "common/log.h"

namespace pgagent::logtail::testing {

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "pgagent-logtail-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) std::abort();
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

inline void AppendFile(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::app);
  out << data;
}

inline void WriteFile(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << data;
}

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline uint64_t InodeOf(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return 0;
  return static_cast<uint64_t>(st.st_ino);
}

// Delegates to PosixLogFileSystem, except that Open() and Stat() of `fault_path` fail with
// `fault` while one is set.
class FaultyFileSystem final : public LogFileSystem {
 public:
  void SetFault(const std::string& path, std::optional<Status> fault) {
    std::lock_guard<std::mutex> lock(mu_);
    fault_path_ = path;
    fault_ = std::move(fault);
  }
  Result<FileStat> Stat(const std::string& path) override {
    if (auto f = FaultFor(path)) return *f;
    return PosixLogFileSystem::Instance().Stat(path);
  }
  Result<std::unique_ptr<LogFile>> Open(const std::string& path) override {
    if (auto f = FaultFor(path)) return *f;
    return PosixLogFileSystem::Instance().Open(path);
  }
  Result<std::vector<std::string>> ListDirectory(const std::string& dir) override {
    return PosixLogFileSystem::Instance().ListDirectory(dir);
  }

 private:
  std::optional<Status> FaultFor(const std::string& path) {
    std::lock_guard<std::mutex> lock(mu_);
    if (fault_ && path == fault_path_) return fault_;
    return std::nullopt;
  }
  std::mutex mu_;
  std::string fault_path_;
  std::optional<Status> fault_;
};

// Captures log lines for the lifetime of the object.
class LogCapture {
 public:
  LogCapture() {
    log::SetSinkForTest([this](const std::string& line) {
      std::lock_guard<std::mutex> lock(mu_);
      lines_.push_back(line);
    });
  }
  ~LogCapture() { log::SetSinkForTest(nullptr); }
  LogCapture(const LogCapture&) = delete;
  LogCapture& operator=(const LogCapture&) = delete;

  // Lines whose text contains `needle`.
  int Count(const std::string& needle) {
    std::lock_guard<std::mutex> lock(mu_);
    int n = 0;
    for (const auto& l : lines_) n += l.find(needle) != std::string::npos ? 1 : 0;
    return n;
  }

 private:
  std::mutex mu_;
  std::vector<std::string> lines_;
};

}  // namespace pgagent::logtail::testing
