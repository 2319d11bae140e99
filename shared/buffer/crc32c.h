// CRC-32C (Castagnoli), the checksum of every value the LMDB buffer stores. Uses the SSE 4.2
// crc32 instruction when the CPU has it (checked once at run time), a table otherwise; both
// give the same result.
// Thread-safety: pure functions; the table and the CPU check are built once (thread-safe
// static init).
#pragma once

#include <cstdint>
#include <string_view>

namespace pgagent {

// Extends `crc` (0 for a fresh checksum) with `data`. Crc32c(0, "123456789") == 0xE3069283.
uint32_t Crc32c(uint32_t crc, std::string_view data);

namespace internal {
// The table implementation, always; for tests comparing it with Crc32c().
uint32_t Crc32cPortable(uint32_t crc, std::string_view data);
}  // namespace internal

}  // namespace pgagent
