# Installation layout and the Debian package: `cpack -G DEB` in the build tree writes
# bitville-pgagent_<version>_amd64.deb (binaries in /usr/sbin and /usr/bin, units in
# /lib/systemd/system, /etc/pgagent/pgagent.ini as a conffile, maintainer scripts from
# packaging/, manual pages made by help2man from the programs' own --help). The package is
# not called "pgagent": Debian 12 has a package of that name (pgAdmin's job scheduler), which
# apt would offer as an upgrade. The daemons' and pgagentctl's install() rules live in their
# own folders.

# `cpack` and `make install` run the target `preinstall`, which by default builds `all` first (the
# tests and benchmarks too). Build what is installed yourself, then pack:
#   cmake --build build --target pgagent-collectord pgagent-shipperd pgagentctl pgagent-man -j2
#   cd build && cpack -G DEB
set(CMAKE_SKIP_INSTALL_ALL_DEPENDENCY TRUE)

set(PGAGENT_SYSTEMD_UNIT_DIR "/lib/systemd/system" CACHE PATH
    "Where the systemd units are installed (Debian 12: /lib/systemd/system)")
set(PGAGENT_SYSCONF_DIR "/etc/pgagent" CACHE PATH "Where pgagent.ini is installed")
set(PGAGENT_DEB_PACKAGE_NAME "bitville-pgagent")
set(PGAGENT_DOC_DIR "share/doc/${PGAGENT_DEB_PACKAGE_NAME}")

install(FILES
          ${PROJECT_SOURCE_DIR}/systemd/pgagent-collectord.service
          ${PROJECT_SOURCE_DIR}/systemd/pgagent-shipperd.service
          ${PROJECT_SOURCE_DIR}/systemd/pgagent.target
          ${PROJECT_SOURCE_DIR}/systemd/pgagent-collectord@.service
          ${PROJECT_SOURCE_DIR}/systemd/pgagent-shipperd@.service
          ${PROJECT_SOURCE_DIR}/systemd/pgagent@.target
        DESTINATION ${PGAGENT_SYSTEMD_UNIT_DIR}
        PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
# Shipped 0644 like any conffile (it holds no secret: every line is commented out); postinst
# gives it to root:pgagent 0640 before an administrator can put anything into it, and dpkg
# keeps an edited file's mode on upgrades.
install(FILES ${PROJECT_SOURCE_DIR}/packaging/pgagent.ini
        DESTINATION ${PGAGENT_SYSCONF_DIR}
        PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
install(FILES ${PROJECT_SOURCE_DIR}/packaging/pgagent.ini
        DESTINATION ${PGAGENT_DOC_DIR}/examples
        PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
install(FILES ${PROJECT_SOURCE_DIR}/README.md ${PROJECT_SOURCE_DIR}/packaging/copyright
        DESTINATION ${PGAGENT_DOC_DIR}
        PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
install(FILES ${PROJECT_SOURCE_DIR}/packaging/lintian-overrides
        DESTINATION share/lintian/overrides
        RENAME ${PGAGENT_DEB_PACKAGE_NAME}
        PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)

# changelog.gz (the package is native: its version has no Debian revision), compressed the way
# lintian wants (gzip -9n: maximum compression, no name or time stamp).
set(PGAGENT_CHANGELOG_GZ ${PROJECT_BINARY_DIR}/packaging/changelog.gz)
add_custom_command(
  OUTPUT ${PGAGENT_CHANGELOG_GZ}
  COMMAND ${CMAKE_COMMAND} -E make_directory ${PROJECT_BINARY_DIR}/packaging
  COMMAND sh -c "gzip -9n -c \"$1\" > \"$2\"" sh ${PROJECT_SOURCE_DIR}/packaging/changelog
          ${PGAGENT_CHANGELOG_GZ}
  DEPENDS ${PROJECT_SOURCE_DIR}/packaging/changelog
  VERBATIM)

# Manual pages from each program's --help and --version (help2man), with the sections --help
# cannot carry (exit status, files, see also) from packaging/man/<program>.h2m.
find_program(PGAGENT_HELP2MAN help2man)
set(PGAGENT_MAN_OUTPUTS ${PGAGENT_CHANGELOG_GZ})
function(pgagent_man_page program section summary)
  if(NOT TARGET ${program} OR NOT PGAGENT_HELP2MAN)
    message(WARNING "no manual page for ${program} (help2man missing or ${program} not built)")
    return()
  endif()
  set(page ${PROJECT_BINARY_DIR}/man/${program}.${section})
  set(include ${PROJECT_SOURCE_DIR}/packaging/man/${program}.h2m)
  add_custom_command(
    OUTPUT ${page}.gz
    COMMAND ${CMAKE_COMMAND} -E make_directory ${PROJECT_BINARY_DIR}/man
    # The date of the changelog's entry, so that the page does not change with the build day.
    COMMAND ${CMAKE_COMMAND} -E env SOURCE_DATE_EPOCH=1796407200 ${PGAGENT_HELP2MAN} --no-info
            --no-discard-stderr --section=${section} --name=${summary} --include=${include}
            --output=${page} $<TARGET_FILE:${program}>
    COMMAND gzip -9nf ${page}
    DEPENDS ${program} ${include}
    VERBATIM)
  install(FILES ${page}.gz DESTINATION share/man/man${section}
          PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
  set(PGAGENT_MAN_OUTPUTS ${PGAGENT_MAN_OUTPUTS} ${page}.gz PARENT_SCOPE)
endfunction()
pgagent_man_page(pgagent-collectord 8 "PostgreSQL, system and log sampler of pgagent")
pgagent_man_page(pgagent-shipperd 8 "buffering and delivery daemon of pgagent")
pgagent_man_page(pgagentctl 1 "status, buffer and checks of the pgagent daemons")
add_custom_target(pgagent-man ALL DEPENDS ${PGAGENT_MAN_OUTPUTS})
# Runs after the programs' own install() rules (CMP0082: in the order of declaration).
install(CODE [[
  foreach(program sbin/pgagent-collectord sbin/pgagent-shipperd bin/pgagentctl)
    set(file "$ENV{DESTDIR}${CMAKE_INSTALL_PREFIX}/${program}")
    if(EXISTS "${file}")
      execute_process(COMMAND strip --strip-unneeded --remove-section=.comment
                              --remove-section=.note "${file}" RESULT_VARIABLE failed)
      if(failed)
        message(FATAL_ERROR "strip ${file} failed")
      endif()
    endif()
  endforeach()
]])
install(FILES ${PGAGENT_CHANGELOG_GZ} DESTINATION ${PGAGENT_DOC_DIR}
        PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)

set(CPACK_GENERATOR "DEB")
set(CPACK_PACKAGE_NAME "${PGAGENT_DEB_PACKAGE_NAME}")
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
set(CPACK_PACKAGE_VENDOR "Bitville")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "PostgreSQL monitoring agent for the Bitville listener")
set(CPACK_PACKAGING_INSTALL_PREFIX "/usr")
# Stripped by the install(CODE) below as dh_strip does (CPack's plain strip leaves .comment,
# which lintian reports as binary-has-unneeded-section).
set(CPACK_STRIP_FILES FALSE)

set(CPACK_DEBIAN_FILE_NAME "DEB-DEFAULT")  # bitville-pgagent_<version>_<arch>.deb
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "Bitville pgagent maintainers <pgagent@bitville.invalid>")
set(CPACK_DEBIAN_PACKAGE_SECTION "database")
set(CPACK_DEBIAN_PACKAGE_PRIORITY "optional")
# The synopsis is CPACK_PACKAGE_DESCRIPTION_SUMMARY; this is the extended description.
# Lines of at most 80 characters (lintian: extended-description-line-too-long).
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
    "pgagent-collectord samples PostgreSQL (pg_stat_activity, pg_stat_statements
and more), /proc and the PostgreSQL logs; pgagent-shipperd buffers the records
on disk and delivers them over HTTPS to the Bitville listener. Both run as
unprivileged, sandboxed systemd services grouped by pgagent.target (or
pgagent@<instance>.target, one per cluster); pgagentctl shows their health and
manages the buffer. Not to be confused with pgAdmin's job scheduler, the
Debian package pgagent.")
# The agent was packaged as "pgagent" up to 0.1.0: take its place and its files (Breaks and
# Replaces, as Debian policy 7.6.2 has it for files moving between packages; apt then removes
# the old package). pgAdmin's pgagent (4.x in Debian 12) is a different program and may stay
# installed next to it.
set(CPACK_DEBIAN_PACKAGE_BREAKS "pgagent (<< 1.0~)")
set(CPACK_DEBIAN_PACKAGE_REPLACES "pgagent (<< 1.0~)")
# Runtime libraries of the binaries, as dpkg-shlibdeps computes them on Debian 12 (the
# libspdlog1.10-fmt9 virtual package pins spdlog's fmt ABI); tests/packaging checks that the
# package of every library the installed binaries load is named. Then what the maintainer
# scripts use (adduser, deb-systemd-invoke).
set(CPACK_DEBIAN_PACKAGE_DEPENDS
    "libc6 (>= 2.34), libstdc++6 (>= 11), libgcc-s1 (>= 3.0), libpq5 (>= 9.0~), libzmq5 (>= 4.0.1+dfsg), libprotobuf32 (>= 3.21.12), libcurl4 (>= 7.16.2), liblmdb0 (>= 0.9.7), libspdlog1.10, libspdlog1.10-fmt9, libinih1 (>= 40), libsystemd0, libuuid1 (>= 2.16), libmicrohttpd12 (>= 0.9.75), adduser, init-system-helpers (>= 1.52)")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "postgresql")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    "${PROJECT_SOURCE_DIR}/packaging/postinst;${PROJECT_SOURCE_DIR}/packaging/prerm;${PROJECT_SOURCE_DIR}/packaging/postrm;${PROJECT_SOURCE_DIR}/packaging/conffiles")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)

include(CPack)
