// A FileWatcher (collectord/logtail/file_watcher.h) whose reports the test makes: Report()
// queues what the next TakeChanges() returns; watches and reads can be made to fail.
// Thread-safety: none; the test thread drives it (through the FileTailer that owns it).
#pragma once

#include <optional>
#include <string>

#include "collectord/logtail/file_watcher.h"

namespace pgagent {

class FakeFileWatcher final : public logtail::FileWatcher {
 public:
  Status WatchOnly(const std::string& file, const std::string& directory) override {
    ++watch_calls_;
    if (watch_error_) return *watch_error_;
    file_ = file;
    directory_ = directory;
    return Status::Ok();
  }
  Result<logtail::WatchChanges> TakeChanges() override {
    ++take_calls_;
    if (take_error_) return *take_error_;
    logtail::WatchChanges c = pending_;
    pending_ = {};
    return c;
  }
  int fd() const override { return kFd; }

  void Report(bool file, bool directory) {
    pending_.file = pending_.file || file;
    pending_.directory = pending_.directory || directory;
  }
  void FailWatches(std::optional<Status> error) { watch_error_ = std::move(error); }
  void FailReads(std::optional<Status> error) { take_error_ = std::move(error); }

  const std::string& file() const { return file_; }
  const std::string& directory() const { return directory_; }
  int watch_calls() const { return watch_calls_; }
  int take_calls() const { return take_calls_; }

  static constexpr int kFd = 1000;  // never polled: tests call Poll() themselves

 private:
  logtail::WatchChanges pending_;
  std::optional<Status> watch_error_;
  std::optional<Status> take_error_;
  std::string file_;
  std::string directory_;
  int watch_calls_ = 0;
  int take_calls_ = 0;
};

}  // namespace pgagent
