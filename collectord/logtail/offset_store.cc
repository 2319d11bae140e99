#include "collectord/logtail/offset_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cinttypes>
#include <cstdio>
#include <map>
#include <string_view>

#include "collectord/logtail/fingerprint.h"

namespace pgagent::logtail {
namespace {

constexpr std::string_view kHeader = "pgagent-logtail-offset 1\n";

std::string Hex(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016" PRIx64, v);
  return buf;
}

bool ParseUint(std::string_view text, int base, uint64_t* out) {
  if (text.empty()) return false;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), *out, base);
  return ec == std::errc() && ptr == text.data() + text.size();
}

Status WriteAll(int fd, std::string_view data, const std::string& path) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus("write " + path, errno);
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return Status::Ok();
}

Status FsyncPath(const std::string& path, int flags) {
  int fd = ::open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus("open " + path, errno);
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) return ErrnoStatus("fsync " + path, err);
  return Status::Ok();
}

Result<std::string> ReadWholeFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus("open " + path, errno);
  std::string text;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      return ErrnoStatus("read " + path, err);
    }
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
    if (text.size() > 1 << 20) break;  // a state file is a few hundred bytes
  }
  ::close(fd);
  return text;
}

}  // namespace

std::string EncodeCursorState(const TailCursor& cursor) {
  std::string text(kHeader);
  text += "device " + std::to_string(cursor.device) + "\n";
  text += "inode " + std::to_string(cursor.inode) + "\n";
  text += "offset " + std::to_string(cursor.offset) + "\n";
  text += "fingerprint " + Hex(cursor.fingerprint) + "\n";
  text += "fingerprint_len " + std::to_string(cursor.fingerprint_len) + "\n";
  text += "path " + cursor.path + "\n";
  text += "check " + Hex(Fingerprint(text)) + "\n";
  return text;
}

Result<TailCursor> DecodeCursorState(const std::string& text) {
  const size_t check_at = text.rfind("check ");
  if (text.rfind(kHeader, 0) != 0 || check_at == std::string::npos || text.back() != '\n') {
    return DataLossError("offset state: missing header or checksum");
  }
  uint64_t check = 0;
  std::string_view check_hex(text.data() + check_at + 6, text.size() - check_at - 7);
  if (!ParseUint(check_hex, 16, &check) ||
      check != Fingerprint(std::string_view(text.data(), check_at))) {
    return DataLossError("offset state: checksum mismatch");
  }
  std::map<std::string, std::string, std::less<>> fields;
  std::string_view body(text.data() + kHeader.size(), check_at - kHeader.size());
  while (!body.empty()) {
    size_t nl = body.find('\n');
    std::string_view line = body.substr(0, nl);
    size_t sp = line.find(' ');
    if (sp == std::string_view::npos) return DataLossError("offset state: malformed line");
    fields[std::string(line.substr(0, sp))] = std::string(line.substr(sp + 1));
    body.remove_prefix(nl == std::string_view::npos ? body.size() : nl + 1);
  }
  TailCursor cursor;
  uint64_t fp_len = 0;
  bool ok = fields.count("path") && ParseUint(fields["device"], 10, &cursor.device) &&
            ParseUint(fields["inode"], 10, &cursor.inode) &&
            ParseUint(fields["offset"], 10, &cursor.offset) &&
            ParseUint(fields["fingerprint"], 16, &cursor.fingerprint) &&
            ParseUint(fields["fingerprint_len"], 10, &fp_len) && fp_len <= kFingerprintBytes;
  if (!ok) return DataLossError("offset state: missing or malformed field");
  cursor.fingerprint_len = static_cast<uint32_t>(fp_len);
  cursor.path = fields["path"];
  return cursor;
}

OffsetStore::OffsetStore(std::string dir, std::string file_path)
    : dir_(std::move(dir)), file_path_(std::move(file_path)) {}

Result<std::unique_ptr<OffsetStore>> OffsetStore::Open(const std::string& state_dir,
                                                       const std::string& name) {
  if (name.empty() || name.find('/') != std::string::npos || name[0] == '.') {
    return InvalidArgumentError("offset store name must be a plain file name: " + name);
  }
  if (::mkdir(state_dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return ErrnoStatus("create state directory " + state_dir, errno);
  }
  struct stat st;
  if (::stat(state_dir.c_str(), &st) != 0) return ErrnoStatus("stat " + state_dir, errno);
  if (!S_ISDIR(st.st_mode)) return InvalidArgumentError("not a directory: " + state_dir);
  return std::unique_ptr<OffsetStore>(
      new OffsetStore(state_dir, state_dir + "/" + name + ".offset"));
}

Result<std::optional<TailCursor>> OffsetStore::Load() const {
  auto text = ReadWholeFile(file_path_);
  if (!text.ok()) {
    if (text.status().code() == StatusCode::kNotFound) return std::optional<TailCursor>();
    return text.status();
  }
  auto cursor = DecodeCursorState(*text);
  if (!cursor.ok()) return cursor.status().WithContext(file_path_);
  return std::optional<TailCursor>(std::move(cursor).value());
}

Status OffsetStore::Save(const TailCursor& cursor) {
  if (cursor.path.find('\n') != std::string::npos) {
    return InvalidArgumentError("log path holds a newline; offset not saved");
  }
  const std::string tmp = file_path_ + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoStatus("create " + tmp, errno);
  Status status = ::fchmod(fd, 0600) == 0 ? Status::Ok() : ErrnoStatus("chmod " + tmp, errno);
  if (status.ok()) status = WriteAll(fd, EncodeCursorState(cursor), tmp);
  if (status.ok() && ::fsync(fd) != 0) status = ErrnoStatus("fsync " + tmp, errno);
  ::close(fd);
  if (status.ok() && ::rename(tmp.c_str(), file_path_.c_str()) != 0) {
    status = ErrnoStatus("rename " + tmp, errno);
  }
  if (!status.ok()) {
    ::unlink(tmp.c_str());
    return status;
  }
  return FsyncPath(dir_, O_RDONLY | O_DIRECTORY);
}

}  // namespace pgagent::logtail
