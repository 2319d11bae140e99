#include "common/ids.h"

#include <uuid/uuid.h>

namespace pgagent {

std::string NewUuid() {
  uuid_t id;
  uuid_generate_random(id);
  char text[37];
  uuid_unparse_lower(id, text);
  return std::string(text);
}

}  // namespace pgagent
