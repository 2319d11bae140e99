// CRC-32C (Castagnoli), the checksum of every value the LMDB buffer stores. Portable table
// implementation: a few hundred MB/s, far more than the buffer's write rate needs.
// Thread-safety: pure functions; the table is built once (thread-safe static init).
#pragma once

#include <cstdint>
#include <string_view>

namespace pgagent {

// Extends `crc` (0 for a fresh checksum) with `data`. Crc32c(0, "123456789") == 0xE3069283.
uint32_t Crc32c(uint32_t crc, std::string_view data);

}  // namespace pgagent
