# Installation layout and the Debian package: `cpack -G DEB` in the build tree writes
# pgagent_<version>_amd64.deb (binaries in /usr/sbin and /usr/bin, units in
# /lib/systemd/system, /etc/pgagent/pgagent.ini as a conffile, maintainer scripts from
# packaging/). The daemons' and pgagentctl's install() rules live in their own folders.

# `cpack` and `make install` run the target `preinstall`, which by default builds `all` first (the
# tests and benchmarks too). Build what is installed yourself, then pack:
#   cmake --build build --target pgagent-collectord pgagent-shipperd pgagentctl -j2
#   cd build && cpack -G DEB
set(CMAKE_SKIP_INSTALL_ALL_DEPENDENCY TRUE)

set(PGAGENT_SYSTEMD_UNIT_DIR "/lib/systemd/system" CACHE PATH
    "Where the systemd units are installed (Debian 12: /lib/systemd/system)")
set(PGAGENT_SYSCONF_DIR "/etc/pgagent" CACHE PATH "Where pgagent.ini is installed")

install(FILES
          ${PROJECT_SOURCE_DIR}/systemd/pgagent-collectord.service
          ${PROJECT_SOURCE_DIR}/systemd/pgagent-shipperd.service
          ${PROJECT_SOURCE_DIR}/systemd/pgagent.target
        DESTINATION ${PGAGENT_SYSTEMD_UNIT_DIR}
        PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
# Group and mode (root:pgagent 0640) are set by postinst: the group does not exist at build time.
install(FILES ${PROJECT_SOURCE_DIR}/packaging/pgagent.ini
        DESTINATION ${PGAGENT_SYSCONF_DIR}
        PERMISSIONS OWNER_READ OWNER_WRITE)
install(FILES ${PROJECT_SOURCE_DIR}/packaging/pgagent.ini
        DESTINATION share/doc/pgagent/examples
        PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
install(FILES ${PROJECT_SOURCE_DIR}/README.md
        DESTINATION share/doc/pgagent
        PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ
        OPTIONAL)

set(CPACK_GENERATOR "DEB")
set(CPACK_PACKAGE_NAME "pgagent")
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
set(CPACK_PACKAGE_VENDOR "Bitville")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "PostgreSQL monitoring agent for the Bitville listener")
set(CPACK_PACKAGING_INSTALL_PREFIX "/usr")
set(CPACK_STRIP_FILES TRUE)

set(CPACK_DEBIAN_FILE_NAME "DEB-DEFAULT")  # pgagent_<version>_<arch>.deb
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "Bitville pgagent maintainers <pgagent@bitville.invalid>")
set(CPACK_DEBIAN_PACKAGE_SECTION "database")
set(CPACK_DEBIAN_PACKAGE_PRIORITY "optional")
# The synopsis is CPACK_PACKAGE_DESCRIPTION_SUMMARY; this is the extended description.
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
    "pgagent-collectord samples PostgreSQL (pg_stat_activity, pg_stat_statements, ...), /proc and
the PostgreSQL logs; pgagent-shipperd buffers the records on disk and delivers them over HTTPS.
Both run as unprivileged, sandboxed systemd services grouped by pgagent.target; pgagentctl
shows their state and manages the buffer.")
# Runtime libraries of the binaries, as dpkg-shlibdeps computes them on Debian 12 (the
# libspdlog1.10-fmt9 virtual package pins spdlog's fmt ABI); tests/packaging checks that the
# package of every library the installed binaries load is named. Then what the maintainer
# scripts use (adduser, deb-systemd-invoke).
set(CPACK_DEBIAN_PACKAGE_DEPENDS
    "libc6 (>= 2.34), libstdc++6 (>= 11), libgcc-s1 (>= 3.0), libpq5 (>= 9.0~), libzmq5 (>= 4.0.1+dfsg), libprotobuf32 (>= 3.21.12), libcurl4 (>= 7.16.2), liblmdb0 (>= 0.9.7), libspdlog1.10, libspdlog1.10-fmt9, libinih1 (>= 40), libsystemd0, libuuid1 (>= 2.16), adduser, init-system-helpers (>= 1.52)")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "postgresql")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    "${PROJECT_SOURCE_DIR}/packaging/postinst;${PROJECT_SOURCE_DIR}/packaging/prerm;${PROJECT_SOURCE_DIR}/packaging/postrm;${PROJECT_SOURCE_DIR}/packaging/conffiles")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)

include(CPack)
