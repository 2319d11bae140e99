// ProcFs: the one door through which the daemons read the kernel's text files (/proc/stat,
// /proc/<pid>/io, /proc/self/statm, ...), list directories and ask statvfs. Parsers never
// open files themselves, so tests feed them captured text through FakeProcFs
// (tests/fakes/fake_proc_fs.h). In common/ because both daemons read their own usage
// through it (common/daemon.h); collectord/system/proc_fs.h names it for that folder.
// Thread-safety: RealProcFs keeps no mutable state and may be used from any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace pgagent {

// The fields of statvfs(3) that disk usage needs.
struct FsStats {
  uint64_t fragment_size = 0;  // f_frsize: unit of the block counts below
  uint64_t blocks = 0;         // f_blocks
  uint64_t blocks_free = 0;    // f_bfree (includes blocks reserved for root)
  uint64_t blocks_avail = 0;   // f_bavail (available to unprivileged users)
};

class ProcFs {
 public:
  virtual ~ProcFs() = default;

  // Whole content of the file at `path` (absolute, e.g. "/proc/stat").
  // Errors: kNotFound (ENOENT, e.g. a vanished pid or a kernel without PSI),
  // kPermissionDenied (EACCES/EPERM, e.g. /proc/<pid>/io of another user), kUnavailable.
  virtual Result<std::string> ReadFile(std::string_view path) const = 0;

  // Names of the entries of directory `path`, without "." and "..", in no particular order.
  // Errors as ReadFile.
  virtual Result<std::vector<std::string>> ListDir(std::string_view path) const = 0;

  // statvfs of `path`. Errors as ReadFile.
  virtual Result<FsStats> StatFs(std::string_view path) const = 0;
};

// Reads the real files. Every path is taken relative to `root` ("/" by default; a directory
// holding a copy of the proc tree works too).
// Cost: one open() + one read() + one close() per file as long as the file fits the
// initial 64 KiB buffer (a short read means end of file for procfs and regular files); no
// iostreams. Each calling thread keeps one reusable read buffer (64 KiB, grown on demand).
class RealProcFs final : public ProcFs {
 public:
  explicit RealProcFs(std::string root = "/");
  RealProcFs(const RealProcFs&) = delete;
  RealProcFs& operator=(const RealProcFs&) = delete;

  Result<std::string> ReadFile(std::string_view path) const override;
  Result<std::vector<std::string>> ListDir(std::string_view path) const override;
  Result<FsStats> StatFs(std::string_view path) const override;

 private:
  std::string Resolve(std::string_view path) const;

  std::string root_;  // without trailing '/'; empty for "/"
};

// The host's /proc, for code that is handed no ProcFs of its own (a process-wide
// RealProcFs("/"); it has no state).
const ProcFs& HostProcFs();

}  // namespace pgagent
