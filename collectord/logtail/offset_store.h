// Persists the committed position of one tailed log in collectord's state directory, so that
// a restart resumes exactly where the last acknowledged line ended. The file
// <state_dir>/<name>.offset (mode 0600) is replaced atomically: written to a temporary file,
// fsync'ed, renamed over the old one, and the directory fsync'ed. A crash at any point leaves
// either the old or the new state, never a torn one.
// Thread-safety: not thread-safe; owned by the thread that drives the FileTailer.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "collectord/logtail/tail_cursor.h"
#include "common/status.h"

namespace pgagent::logtail {

class OffsetStore {
 public:
  // Creates state_dir (mode 0700) when missing. `name` identifies the tailed log, e.g.
  // "postgresql-stderr"; it must be a plain file name.
  // kInvalidArgument for a bad name, kPermissionDenied / kUnavailable when the directory
  // cannot be created.
  static Result<std::unique_ptr<OffsetStore>> Open(const std::string& state_dir,
                                                   const std::string& name);

  // The saved cursor, or nullopt when nothing was saved yet. kDataLoss when the file is
  // corrupt (the caller decides where to start), kUnavailable on read errors.
  Result<std::optional<TailCursor>> Load() const;
  // Replaces the saved cursor. kInvalidArgument for a path holding '\n'; kUnavailable /
  // kResourceExhausted (disk full) on write errors, in which case the old state is kept.
  Status Save(const TailCursor& cursor);

  const std::string& file_path() const { return file_path_; }

 private:
  OffsetStore(std::string dir, std::string file_path);

  std::string dir_;
  std::string file_path_;
};

// Text form of the state file (exposed for tests).
std::string EncodeCursorState(const TailCursor& cursor);
// kDataLoss when the text is not a complete, valid state.
Result<TailCursor> DecodeCursorState(const std::string& text);

}  // namespace pgagent::logtail
