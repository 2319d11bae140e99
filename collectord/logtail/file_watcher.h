// Change notification for the log tailer, so that following a quiet log costs no system
// calls and (through fd()) lets collectord's loop sleep until the log changes. A hint, not a
// log of changes: a report may concern a change that does not matter, and a lost or
// overflowed report counts as "changed". InotifyFileWatcher is the real one (Linux inotify);
// tests use a fake (tests/fakes/fake_file_watcher.h). Without a watcher (a LogFileSystem that
// has none, inotify unavailable, the watch limit reached) the tailer polls as before.
// Thread-safety: one thread (the tailer's) uses an instance; fd() may be polled by another.
#pragma once

#include <memory>
#include <string>

#include "common/status.h"

namespace pgagent::logtail {

// What was reported since the last TakeChanges().
struct WatchChanges {
  bool file = false;       // the watched file changed (or was renamed, deleted)
  bool directory = false;  // an entry of the watched directory appeared, moved or went

  bool any() const { return file || directory; }
};

class FileWatcher {
 public:
  virtual ~FileWatcher() = default;
  // Replaces what is watched by `file` (writes, truncation, attribute changes, its rename or
  // deletion; symlinks followed) and `directory` (entries created, renamed in or out, or
  // deleted; not writes to them). Either may be empty. Errors: kResourceExhausted at the watch
  // limit (fs.inotify.max_user_watches), kNotFound / kPermissionDenied for the path, else
  // kUnavailable. After an error nothing is watched.
  virtual Status WatchOnly(const std::string& file, const std::string& directory) = 0;
  // What was reported since the last call (reports are drained; an overflow reports both).
  // Never blocks. Errors: kUnavailable when the reports cannot be read.
  virtual Result<WatchChanges> TakeChanges() = 0;
  // A descriptor that is readable while TakeChanges() has something to report; -1 if none.
  virtual int fd() const = 0;
};

// inotify: one instance per watcher (IN_NONBLOCK, IN_CLOEXEC), two watches at most.
class InotifyFileWatcher final : public FileWatcher {
 public:
  // Errors: kResourceExhausted at fs.inotify.max_user_instances, kUnavailable otherwise.
  static Result<std::unique_ptr<InotifyFileWatcher>> Create();
  ~InotifyFileWatcher() override;
  InotifyFileWatcher(const InotifyFileWatcher&) = delete;
  InotifyFileWatcher& operator=(const InotifyFileWatcher&) = delete;

  Status WatchOnly(const std::string& file, const std::string& directory) override;
  Result<WatchChanges> TakeChanges() override;
  int fd() const override { return fd_; }

 private:
  explicit InotifyFileWatcher(int fd) : fd_(fd) {}
  Status Add(const std::string& path, uint32_t mask, int* wd);
  void RemoveAll();
  int fd_;
  int file_wd_ = -1;
  int directory_wd_ = -1;
};

}  // namespace pgagent::logtail
