// The file-system edge of log tailing: stat a path, open a file for positional reads, list a
// directory, watch for changes (file_watcher.h). PosixLogFileSystem is the real one; tests
// may wrap it to inject errors (for example permission denied, which root cannot provoke
// with chmod).
// Thread-safety: PosixLogFileSystem is stateless and safe from any thread. A LogFile is used
// by one thread at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "collectord/logtail/file_watcher.h"
#include "common/status.h"

namespace pgagent::logtail {

struct FileStat {
  uint64_t device = 0;
  uint64_t inode = 0;
  uint64_t size = 0;
  int64_t mtime_ns = 0;
  bool regular = false;  // false for directories, fifos, devices
};

// An open file. Keeps the file readable after it was renamed or unlinked.
class LogFile {
 public:
  virtual ~LogFile() = default;
  // Reads up to n bytes at offset into buf. Returns the number read (0 at end of file), or
  // kUnavailable / kPermissionDenied on a read error.
  virtual Result<size_t> ReadAt(uint64_t offset, char* buf, size_t n) = 0;
  // Stat of the open file itself (fstat), not of its path.
  virtual Result<FileStat> Stat() = 0;
};

class LogFileSystem {
 public:
  virtual ~LogFileSystem() = default;
  // Follows symlinks. kNotFound when the path (or its symlink target) does not exist,
  // kPermissionDenied when a directory on the way is not searchable.
  virtual Result<FileStat> Stat(const std::string& path) = 0;
  // Opens for reading (follows symlinks). kNotFound, kPermissionDenied, kUnavailable.
  virtual Result<std::unique_ptr<LogFile>> Open(const std::string& path) = 0;
  // Names (not paths) of the entries of dir, without "." and "..". kNotFound /
  // kPermissionDenied when dir cannot be listed.
  virtual Result<std::vector<std::string>> ListDirectory(const std::string& dir) = 0;
  // A new change watcher for files of this file system, or null when it has none (the tailer
  // then polls). Errors: those of the watcher's creation (the tailer polls too).
  virtual Result<std::unique_ptr<FileWatcher>> NewWatcher() {
    return std::unique_ptr<FileWatcher>();
  }
};

class PosixLogFileSystem final : public LogFileSystem {
 public:
  Result<FileStat> Stat(const std::string& path) override;
  Result<std::unique_ptr<LogFile>> Open(const std::string& path) override;
  Result<std::vector<std::string>> ListDirectory(const std::string& dir) override;
  // An InotifyFileWatcher.
  Result<std::unique_ptr<FileWatcher>> NewWatcher() override;
  // A process-wide instance; it has no state.
  static PosixLogFileSystem& Instance();
};

}  // namespace pgagent::logtail
