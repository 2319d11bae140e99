// Fingerprints of file bytes, used to recognise a file across restarts when its inode number
// may have been reused (the bytes just before a persisted offset must still be the same).
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string_view>

namespace pgagent::logtail {

// Bytes just before an offset that a fingerprint covers (fewer near the start of a file).
inline constexpr uint32_t kFingerprintBytes = 256;

// 64-bit FNV-1a of data. Stable across versions: it is persisted in the offset state file.
uint64_t Fingerprint(std::string_view data);

}  // namespace pgagent::logtail
