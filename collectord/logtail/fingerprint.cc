#include "collectord/logtail/fingerprint.h"

namespace pgagent::logtail {

uint64_t Fingerprint(std::string_view data) {
  uint64_t hash = 0xcbf29ce484222325ULL;
  for (char c : data) {
    hash ^= static_cast<uint8_t>(c);
    hash *= 0x100000001b3ULL;
  }
  return hash;
}

}  // namespace pgagent::logtail
