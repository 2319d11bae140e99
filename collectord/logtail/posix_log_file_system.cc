#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "collectord/logtail/log_file_system.h"

namespace pgagent::logtail {
namespace {

FileStat FromStat(const struct stat& st) {
  FileStat out;
  out.device = static_cast<uint64_t>(st.st_dev);
  out.inode = static_cast<uint64_t>(st.st_ino);
  out.size = static_cast<uint64_t>(st.st_size);
  out.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000LL + st.st_mtim.tv_nsec;
  out.regular = S_ISREG(st.st_mode);
  return out;
}

class PosixLogFile final : public LogFile {
 public:
  PosixLogFile(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  ~PosixLogFile() override { ::close(fd_); }
  PosixLogFile(const PosixLogFile&) = delete;
  PosixLogFile& operator=(const PosixLogFile&) = delete;

  Result<size_t> ReadAt(uint64_t offset, char* buf, size_t n) override {
    for (int attempt = 0; attempt < 100; ++attempt) {
      ssize_t got = ::pread(fd_, buf, n, static_cast<off_t>(offset));
      if (got >= 0) return static_cast<size_t>(got);
      if (errno != EINTR) return ErrnoStatus("read " + path_, errno);
    }
    return UnavailableError("read " + path_ + ": interrupted too often");
  }

  Result<FileStat> Stat() override {
    struct stat st;
    if (::fstat(fd_, &st) != 0) return ErrnoStatus("fstat " + path_, errno);
    return FromStat(st);
  }

 private:
  int fd_;
  std::string path_;
};

}  // namespace

Result<FileStat> PosixLogFileSystem::Stat(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return ErrnoStatus("stat " + path, errno);
  return FromStat(st);
}

Result<std::unique_ptr<LogFile>> PosixLogFileSystem::Open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) return ErrnoStatus("open " + path, errno);
  return std::unique_ptr<LogFile>(std::make_unique<PosixLogFile>(fd, path));
}

Result<std::vector<std::string>> PosixLogFileSystem::ListDirectory(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return ErrnoStatus("opendir " + dir, errno);
  std::vector<std::string> names;
  while (struct dirent* entry = ::readdir(d)) {
    std::string_view name(entry->d_name);
    if (name == "." || name == "..") continue;
    names.emplace_back(name);
  }
  ::closedir(d);
  return names;
}

Result<std::unique_ptr<FileWatcher>> PosixLogFileSystem::NewWatcher() {
  PGAGENT_ASSIGN_OR_RETURN(auto watcher, InotifyFileWatcher::Create());
  return std::unique_ptr<FileWatcher>(std::move(watcher));
}

PosixLogFileSystem& PosixLogFileSystem::Instance() {
  static PosixLogFileSystem instance;
  return instance;
}

}  // namespace pgagent::logtail
