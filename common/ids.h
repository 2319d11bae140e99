// Random identifiers (libuuid). Thread-safe.
#pragma once

#include <string>

namespace pgagent {

// A random (version 4) UUID in lower-case text form, e.g. "1b4e28ba-2fa1-11d2-883f-0016d3cca427".
std::string NewUuid();

}  // namespace pgagent
