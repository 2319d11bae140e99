// FakeProcFs: an in-memory ProcFs for tests. Each test sets the text of the files it needs
// (often fixtures captured from a real /proc), the entries of directories, statvfs results,
// and errors for chosen paths. Anything not set is kNotFound, like a missing file.
// Thread-safety: all methods lock one mutex, so a test may change files while the unit under
// test reads them from another thread.
#pragma once

#include <map>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "collectord/system/proc_fs.h"

namespace pgagent {

class FakeProcFs final : public system::ProcFs {
 public:
  FakeProcFs() = default;
  FakeProcFs(const FakeProcFs&) = delete;
  FakeProcFs& operator=(const FakeProcFs&) = delete;

  // Sets the content of `path` (and clears an error set for it).
  void SetFile(const std::string& path, std::string text) {
    std::lock_guard<std::mutex> lock(mu_);
    errors_.erase(path);
    files_[path] = std::move(text);
  }
  // Makes `path` missing again (kNotFound).
  void RemoveFile(const std::string& path) {
    std::lock_guard<std::mutex> lock(mu_);
    files_.erase(path);
    errors_.erase(path);
  }
  // ReadFile, ListDir and StatFs of `path` return `status` (e.g. PermissionDeniedError).
  void SetError(const std::string& path, Status status) {
    std::lock_guard<std::mutex> lock(mu_);
    errors_[path] = std::move(status);
  }
  // Sets the entries ListDir(path) returns. Without this, ListDir lists the immediate
  // children of the files set under `path`.
  void SetDir(const std::string& path, std::vector<std::string> names) {
    std::lock_guard<std::mutex> lock(mu_);
    dirs_[path] = std::move(names);
  }
  void SetStatFs(const std::string& path, system::FsStats stats) {
    std::lock_guard<std::mutex> lock(mu_);
    statfs_[path] = stats;
  }
  // Number of ReadFile calls for `path` so far.
  int ReadCount(const std::string& path) const {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = read_counts_.find(path);
    return it == read_counts_.end() ? 0 : it->second;
  }

  Result<std::string> ReadFile(std::string_view path) const override {
    std::lock_guard<std::mutex> lock(mu_);
    const std::string key(path);
    ++read_counts_[key];
    if (auto e = errors_.find(key); e != errors_.end()) return e->second;
    auto it = files_.find(key);
    if (it == files_.end()) return NotFoundError("open " + key + ": No such file or directory");
    return it->second;
  }

  Result<std::vector<std::string>> ListDir(std::string_view path) const override {
    std::lock_guard<std::mutex> lock(mu_);
    const std::string key(path);
    if (auto e = errors_.find(key); e != errors_.end()) return e->second;
    if (auto d = dirs_.find(key); d != dirs_.end()) return d->second;
    const std::string prefix = key + "/";
    std::set<std::string> children;
    for (const auto& [file, text] : files_) {
      if (file.compare(0, prefix.size(), prefix) != 0) continue;
      const std::string rest = file.substr(prefix.size());
      children.insert(rest.substr(0, rest.find('/')));
    }
    if (children.empty()) return NotFoundError("opendir " + key + ": No such file or directory");
    return std::vector<std::string>(children.begin(), children.end());
  }

  Result<system::FsStats> StatFs(std::string_view path) const override {
    std::lock_guard<std::mutex> lock(mu_);
    const std::string key(path);
    if (auto e = errors_.find(key); e != errors_.end()) return e->second;
    auto it = statfs_.find(key);
    if (it == statfs_.end()) return NotFoundError("statvfs " + key + ": No such file or directory");
    return it->second;
  }

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::string> files_;
  std::map<std::string, Status> errors_;
  std::map<std::string, std::vector<std::string>> dirs_;
  std::map<std::string, system::FsStats> statfs_;
  mutable std::map<std::string, int> read_counts_;
};

}  // namespace pgagent
