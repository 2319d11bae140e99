// Moving query results into protobuf messages by name: a column named like a field fills
// that field. Used by the cluster collectors, whose SQL aliases every column after the
// field it feeds, so that a version lacking a column simply leaves the field absent
// (proto3 `optional`) instead of zero.
//
// CounterDeltas keeps the previous value of every counter per key and turns cumulative
// server counters into per-interval deltas (same rules as statement_delta.h: never
// negative; a counter that went down was reset, so its delta is its current value).
// Thread-safety: the functions are thread-safe; CounterDeltas is not (one owner).
#pragma once

#include <google/protobuf/message.h>

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "collectord/pg/pg_session.h"

namespace pgagent {

// Sets every scalar field of `msg` (int32/int64/uint32/uint64/double/bool/string) whose
// name is a column of `res` and whose value in `row` is not NULL and parses. Other fields
// are left alone. REQUIRES: row < res.rows.size().
void FillFromRow(const PgResult& res, size_t row, google::protobuf::Message& msg);

class CounterDeltas {
 public:
  // Reads the counters of `msg`'s type from `row` (columns named like its numeric fields)
  // and stores them for `key`. When a previous sample of `key` exists, fills `delta` with
  // current - previous for every counter present now and returns true; otherwise returns
  // false and leaves `delta` untouched. String and bool fields are copied as they are.
  bool Update(const std::string& key, const PgResult& res, size_t row,
              google::protobuf::Message& delta);
  // Forgets keys not updated since the previous Sweep() (dropped objects, gone standbys).
  void Sweep();
  void Clear() { entries_.clear(); }
  size_t size() const { return entries_.size(); }

 private:
  struct Value {
    bool present = false;
    uint64_t u = 0;
    double d = 0;
  };
  struct Entry {
    std::vector<Value> values;  // by field index of the message type
    bool seen = false;
  };
  std::unordered_map<std::string, Entry> entries_;
};

}  // namespace pgagent
