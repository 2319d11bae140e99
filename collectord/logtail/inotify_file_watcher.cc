#include <sys/inotify.h>
#include <unistd.h>

#include <cerrno>

#include "collectord/logtail/file_watcher.h"

namespace pgagent::logtail {
namespace {

constexpr uint32_t kFileMask = IN_MODIFY | IN_ATTRIB | IN_MOVE_SELF | IN_DELETE_SELF;
constexpr uint32_t kDirectoryMask = IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE |
                                    IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR;

Status WatchError(const std::string& path, int err) {
  if (err == ENOSPC) {
    return ResourceExhaustedError("inotify watch of " + path +
                                  ": the watch limit is reached (fs.inotify.max_user_watches)");
  }
  if (err == ENOENT || err == ENOTDIR) return NotFoundError("inotify watch of " + path + ": gone");
  if (err == EACCES) return PermissionDeniedError("inotify watch of " + path + ": not readable");
  return ErrnoStatus("inotify watch of " + path, err);
}

}  // namespace

Result<std::unique_ptr<InotifyFileWatcher>> InotifyFileWatcher::Create() {
  const int fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd < 0) {
    if (errno == EMFILE) {
      return ResourceExhaustedError(
          "inotify: the instance limit is reached (fs.inotify.max_user_instances)");
    }
    return ErrnoStatus("inotify_init1", errno);
  }
  return std::unique_ptr<InotifyFileWatcher>(new InotifyFileWatcher(fd));
}

InotifyFileWatcher::~InotifyFileWatcher() { ::close(fd_); }

Status InotifyFileWatcher::WatchOnly(const std::string& file, const std::string& directory) {
  RemoveAll();
  Status s = file.empty() ? Status::Ok() : Add(file, kFileMask, &file_wd_);
  if (s.ok() && !directory.empty()) s = Add(directory, kDirectoryMask, &directory_wd_);
  if (!s.ok()) RemoveAll();
  return s;
}

Status InotifyFileWatcher::Add(const std::string& path, uint32_t mask, int* wd) {
  *wd = ::inotify_add_watch(fd_, path.c_str(), mask);
  if (*wd < 0) return WatchError(path, errno);
  return Status::Ok();
}

void InotifyFileWatcher::RemoveAll() {
  for (int* wd : {&file_wd_, &directory_wd_}) {
    if (*wd >= 0) ::inotify_rm_watch(fd_, *wd);
    *wd = -1;
  }
}

Result<WatchChanges> InotifyFileWatcher::TakeChanges() {
  alignas(struct inotify_event) char buf[4096];
  WatchChanges changes;
  while (true) {
    const ssize_t n = ::read(fd_, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return changes;
    if (n <= 0) return ErrnoStatus("inotify read", n == 0 ? EIO : errno);
    for (ssize_t p = 0; p + static_cast<ssize_t>(sizeof(inotify_event)) <= n;) {
      const auto* ev = reinterpret_cast<const inotify_event*>(buf + p);
      if (ev->wd == directory_wd_ || (ev->mask & IN_Q_OVERFLOW) != 0) changes.directory = true;
      // The file's, an overflow, or one of a watch just removed (IN_IGNORED): look again.
      if (ev->wd != directory_wd_) changes.file = true;
      p += static_cast<ssize_t>(sizeof(inotify_event) + ev->len);
    }
  }
}

}  // namespace pgagent::logtail
