// A position in a log file that survives renames and restarts: the file's device and inode,
// the byte offset just after a delivered line, and a fingerprint of the bytes just before
// that offset (so that a reused inode number is not mistaken for the same file).
// Thread-safety: a value type.
#pragma once

#include <cstdint>
#include <string>

#include "pgagent/v1/records.pb.h"

namespace pgagent::logtail {

struct TailCursor {
  std::string path;  // the file's name when it was read (it may have been renamed since)
  uint64_t device = 0;
  uint64_t inode = 0;
  uint64_t offset = 0;
  uint64_t fingerprint = 0;
  uint32_t fingerprint_len = 0;

  bool SameFile(uint64_t dev, uint64_t ino) const { return device == dev && inode == ino; }
  friend bool operator==(const TailCursor&, const TailCursor&) = default;
};

pgagent::v1::LogCursor ToProto(const TailCursor& cursor);
TailCursor FromProto(const pgagent::v1::LogCursor& cursor);

}  // namespace pgagent::logtail
