// ProcFs, the edge through which collectord/system reads /proc, lives in common/proc_fs.h
// (shipperd reads its own usage through it too); this header names it for this folder.
#pragma once

#include "common/proc_fs.h"

namespace pgagent::system {

using ::pgagent::FsStats;
using ::pgagent::ProcFs;
using ::pgagent::RealProcFs;

}  // namespace pgagent::system
