#include "shared/buffer/crc32c.h"

#include <array>
#include <cstring>

namespace pgagent {
namespace {

constexpr uint32_t kCastagnoliReversed = 0x82F63B78u;

std::array<uint32_t, 256> BuildTable() {
  std::array<uint32_t, 256> table{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int bit = 0; bit < 8; ++bit) c = (c & 1u) ? (c >> 1) ^ kCastagnoliReversed : c >> 1;
    table[i] = c;
  }
  return table;
}

// Works on the inverted register (the caller inverts before and after).
uint32_t TableUpdate(uint32_t c, std::string_view data) {
  static const std::array<uint32_t, 256> kTable = BuildTable();
  for (unsigned char byte : data) c = kTable[(c ^ byte) & 0xFFu] ^ (c >> 8);
  return c;
}

#if defined(__x86_64__)
// SSE 4.2's crc32 instruction computes exactly CRC-32C, 8 bytes per instruction.
__attribute__((target("sse4.2"))) uint32_t HardwareUpdate(uint32_t c, std::string_view data) {
  const char* p = data.data();
  size_t n = data.size();
  uint64_t c64 = c;
  for (; n >= 8; n -= 8, p += 8) {
    uint64_t word;
    std::memcpy(&word, p, sizeof(word));
    c64 = __builtin_ia32_crc32di(c64, word);
  }
  c = static_cast<uint32_t>(c64);
  for (; n > 0; --n, ++p) c = __builtin_ia32_crc32qi(c, static_cast<unsigned char>(*p));
  return c;
}

bool HasHardwareCrc() {
  static const bool kHas = __builtin_cpu_supports("sse4.2");
  return kHas;
}
#endif

}  // namespace

uint32_t Crc32c(uint32_t crc, std::string_view data) {
#if defined(__x86_64__)
  if (HasHardwareCrc()) return ~HardwareUpdate(~crc, data);
#endif
  return ~TableUpdate(~crc, data);
}

namespace internal {
uint32_t Crc32cPortable(uint32_t crc, std::string_view data) { return ~TableUpdate(~crc, data); }
}  // namespace internal

}  // namespace pgagent
