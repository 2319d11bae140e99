// The commented example configuration shipped as /etc/pgagent/pgagent.ini
// (packaging/pgagent.ini), generated from the key table behind AllConfigKeys() so that it
// lists every key with its default, its environment variable and a one-line description.
// Every key is written commented out ("; key = default"): the file loads as the built-in
// defaults, and removing the "; " in front of a key line gives a valid setting.
// Thread-safety: pure functions, reentrant.
#pragma once

#include <string>
#include <vector>

#include "common/config.h"

namespace pgagent {

// The whole example file for `keys` (normally AllConfigKeys()), ending with a newline.
// Never fails: descriptions are wrapped to kExampleConfigWidth columns.
std::string ExampleConfigText(const std::vector<ConfigKeyInfo>& keys);

// Column at which comment text is wrapped (libinih allows lines up to 198 characters).
inline constexpr size_t kExampleConfigWidth = 100;

}  // namespace pgagent
