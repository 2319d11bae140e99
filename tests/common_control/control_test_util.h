// Helpers shared by the control-socket tests and the pgagentctl tests: a temp directory
// removed at the end, records of a chosen kind, and running a function as `nobody` in a
// forked child. Thread-safety: test-only helpers, one thread.
#pragma once

#include <grp.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <functional>
#include <string>

#include "pgagent/v1/records.pb.h"

namespace pgagent::testing {

// A fresh directory under /tmp (short paths: UNIX socket names are limited to 107 bytes),
// removed with everything in it on destruction.
class ControlTempDir {
 public:
  ControlTempDir() {
    std::string pattern = "/tmp/pgagent-ctl-XXXXXX";
    char* made = mkdtemp(pattern.data());
    if (made == nullptr) std::abort();
    path_ = made;
  }
  ~ControlTempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  ControlTempDir(const ControlTempDir&) = delete;
  ControlTempDir& operator=(const ControlTempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

inline pgagent::v1::Record ControlTestRecord(uint64_t seq, pgagent::v1::RecordKind kind) {
  pgagent::v1::Record record;
  record.mutable_id()->set_boot_id("boot-a");
  record.mutable_id()->set_seq(seq);
  record.set_kind(kind);
  record.mutable_collected_at()->set_seconds(1767225600);
  record.set_project_id("proj");
  record.set_host("db1");
  if (kind == pgagent::v1::RECORD_KIND_ACTIVITY) {
    record.mutable_activity()->set_count(static_cast<uint32_t>(seq));
  } else if (kind == pgagent::v1::RECORD_KIND_SYSTEM) {
    record.mutable_system()->set_interval_s(static_cast<double>(seq));
  } else {
    auto* entry = record.mutable_log()->add_entries();
    entry->set_message("entry " + std::to_string(seq));
    record.mutable_log()->set_count(1);
  }
  return record;
}

inline constexpr uid_t kNobodyUid = 65534;
inline constexpr gid_t kNogroupGid = 65534;

// Runs `body` in a forked child that dropped to nobody:nogroup (no supplementary groups)
// and returns the child's exit code (body's return value), or -1 when it did not exit
// normally. REQUIRES: the test runs as root.
inline int RunAsNobody(const std::function<int()>& body) {
  const pid_t pid = fork();
  if (pid == 0) {
    if (setgroups(0, nullptr) != 0 || setgid(kNogroupGid) != 0 || setuid(kNobodyUid) != 0) {
      _exit(100);
    }
    _exit(body());
  }
  int status = 0;
  if (pid < 0 || waitpid(pid, &status, 0) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace pgagent::testing
