#include "collectord/logtail/tail_cursor.h"

namespace pgagent::logtail {

pgagent::v1::LogCursor ToProto(const TailCursor& cursor) {
  pgagent::v1::LogCursor out;
  out.set_path(cursor.path);
  out.set_device(cursor.device);
  out.set_inode(cursor.inode);
  out.set_offset(cursor.offset);
  out.set_fingerprint(cursor.fingerprint);
  out.set_fingerprint_len(cursor.fingerprint_len);
  return out;
}

TailCursor FromProto(const pgagent::v1::LogCursor& cursor) {
  TailCursor out;
  out.path = cursor.path();
  out.device = cursor.device();
  out.inode = cursor.inode();
  out.offset = cursor.offset();
  out.fingerprint = cursor.fingerprint();
  out.fingerprint_len = cursor.fingerprint_len();
  return out;
}

}  // namespace pgagent::logtail
