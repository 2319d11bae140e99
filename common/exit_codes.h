// Process exit codes shared by pgagent-collectord, pgagent-shipperd and pgagentctl, from
// sysexits.h so that systemd units and scripts can tell the causes apart.
// Thread-safety: constants only.
#pragma once

namespace pgagent {

inline constexpr int kExitOk = 0;
// EX_USAGE: the command line is wrong (unknown option, missing argument).
inline constexpr int kExitUsage = 64;
// EX_UNAVAILABLE: a dependency is unavailable at start and that cannot be recovered from.
inline constexpr int kExitUnavailable = 69;
// EX_SOFTWARE: an internal error ("cannot happen").
inline constexpr int kExitSoftware = 70;
// EX_CONFIG: the configuration is missing or invalid. systemd must not restart-loop on it
// (units list it in RestartPreventExitStatus=).
inline constexpr int kExitConfig = 78;

}  // namespace pgagent
