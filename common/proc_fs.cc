#include "common/proc_fs.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

namespace pgagent {
namespace {

constexpr size_t kInitialReadSize = 64 * 1024;

// Closes a file descriptor on scope exit.
class FdCloser {
 public:
  explicit FdCloser(int fd) : fd_(fd) {}
  FdCloser(const FdCloser&) = delete;
  FdCloser& operator=(const FdCloser&) = delete;
  ~FdCloser() { ::close(fd_); }

 private:
  int fd_;
};

}  // namespace

RealProcFs::RealProcFs(std::string root) : root_(std::move(root)) {
  while (!root_.empty() && root_.back() == '/') root_.pop_back();
}

std::string RealProcFs::Resolve(std::string_view path) const {
  std::string full = root_;
  if (path.empty() || path.front() != '/') full.push_back('/');
  full.append(path);
  return full;
}

Result<std::string> RealProcFs::ReadFile(std::string_view path) const {
  const std::string full = Resolve(path);
  const int fd = ::open(full.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus("open " + full, errno);
  FdCloser closer(fd);
  // One buffer per thread, reused: reading a file costs no allocation besides the result.
  thread_local std::vector<char> buffer(kInitialReadSize);
  size_t used = 0;
  // Bounded: every pass ends (short read, EOF, error) or doubles the buffer; /proc files
  // are at most a few MiB.
  for (;;) {
    const size_t want = buffer.size() - used;
    const ssize_t n = ::read(fd, buffer.data() + used, want);
    if (n < 0) {
      if (errno == EINTR) continue;
      // A process that exits between open() and read() yields ESRCH: it is gone.
      if (errno == ESRCH) return NotFoundError("read " + full + ": process exited");
      return ErrnoStatus("read " + full, errno);
    }
    used += static_cast<size_t>(n);
    if (static_cast<size_t>(n) < want) break;  // short read: end of file
    buffer.resize(buffer.size() * 2);
  }
  return std::string(buffer.data(), used);
}

Result<std::vector<std::string>> RealProcFs::ListDir(std::string_view path) const {
  const std::string full = Resolve(path);
  DIR* dir = ::opendir(full.c_str());
  if (dir == nullptr) return ErrnoStatus("opendir " + full, errno);
  std::vector<std::string> names;
  errno = 0;
  while (const dirent* entry = ::readdir(dir)) {
    if (std::strcmp(entry->d_name, ".") == 0 || std::strcmp(entry->d_name, "..") == 0) continue;
    names.emplace_back(entry->d_name);
  }
  const int err = errno;
  ::closedir(dir);
  if (err != 0) return ErrnoStatus("readdir " + full, err);
  return names;
}

Result<FsStats> RealProcFs::StatFs(std::string_view path) const {
  const std::string full = Resolve(path);
  struct statvfs st {};
  if (::statvfs(full.c_str(), &st) != 0) return ErrnoStatus("statvfs " + full, errno);
  FsStats out;
  out.fragment_size = st.f_frsize != 0 ? st.f_frsize : st.f_bsize;
  out.blocks = st.f_blocks;
  out.blocks_free = st.f_bfree;
  out.blocks_avail = st.f_bavail;
  return out;
}

const ProcFs& HostProcFs() {
  static const RealProcFs instance;
  return instance;
}

}  // namespace pgagent
