# Small helpers so that every folder's CMakeLists.txt stays a few lines long.

set(PGAGENT_WARNINGS -Wall -Wextra -Werror)

# pgagent_library(NAME <target> [DEPS <targets...>])
# One static library from the *.cc files of the calling folder (main.cc, *_test.cc,
# *_fuzz.cc and *_bench.cc excluded).
function(pgagent_library)
  cmake_parse_arguments(ARG "" "NAME" "DEPS" ${ARGN})
  file(GLOB srcs CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*.cc)
  list(FILTER srcs EXCLUDE REGEX "/(main|[^/]*_test|[^/]*_fuzz|[^/]*_bench)\\.cc$")
  add_library(${ARG_NAME} STATIC ${srcs})
  target_include_directories(${ARG_NAME} PUBLIC ${PROJECT_SOURCE_DIR})
  target_compile_options(${ARG_NAME} PRIVATE ${PGAGENT_WARNINGS})
  target_link_libraries(${ARG_NAME} PUBLIC ${ARG_DEPS})
endfunction()

# pgagent_test(NAME <binary> [LABELS unit|integration ...] [TIMEOUT s] [DEPS <targets...>])
# One GoogleTest binary from the *_test.cc files of the calling folder.
# Labels: "unit" tests run in the sanitizer build too; "integration" tests start real
# PostgreSQL / HTTPS / ZeroMQ / LMDB and run only in the main build.
function(pgagent_test)
  cmake_parse_arguments(ARG "" "NAME;TIMEOUT" "LABELS;DEPS" ${ARGN})
  file(GLOB srcs CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*_test.cc)
  if(NOT srcs)
    return()
  endif()
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 300)
  endif()
  add_executable(${ARG_NAME} ${srcs})
  target_compile_options(${ARG_NAME} PRIVATE ${PGAGENT_WARNINGS})
  target_include_directories(${ARG_NAME} PRIVATE ${PROJECT_SOURCE_DIR})
  target_link_libraries(${ARG_NAME} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gmock GTest::gtest_main)
  target_compile_definitions(${ARG_NAME} PRIVATE
    PGAGENT_SOURCE_DIR="${PROJECT_SOURCE_DIR}" PGAGENT_BINARY_DIR="${PROJECT_BINARY_DIR}")
  # One CTest test per binary, so that an expensive fixture (a PostgreSQL cluster) is
  # started once per binary, not once per test case.
  add_test(NAME ${ARG_NAME} COMMAND ${ARG_NAME} --gtest_color=no)
  set_tests_properties(${ARG_NAME} PROPERTIES LABELS "${ARG_LABELS}" TIMEOUT ${ARG_TIMEOUT})
endfunction()

# Adds every subfolder of the calling folder that has a CMakeLists.txt.
function(pgagent_add_subfolders)
  file(GLOB children RELATIVE ${CMAKE_CURRENT_SOURCE_DIR} ${CMAKE_CURRENT_SOURCE_DIR}/*)
  list(SORT children)
  foreach(child ${children})
    if(IS_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}/${child}
       AND EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/${child}/CMakeLists.txt)
      add_subdirectory(${child})
    endif()
  endforeach()
endfunction()

# The PostgreSQL version matrix (issue 15): pgagent_pg_matrix(<test binary>) registers the
# binary once more per major version in PGAGENT_PG_MATRIX_VERSIONS, as ctest
# <binary>_pg<N> (label "matrix" + "integration") with PGAGENT_PG_BINDIR pointing at that
# version's server binaries (installed by scripts/install-deps.sh into PGAGENT_PG_MATRIX_DIR).
set(PGAGENT_PG_MATRIX_VERSIONS 12 13 14 15 16 17 18 CACHE STRING "PostgreSQL majors of the matrix")
if(DEFINED ENV{PGAGENT_PG_MATRIX_DIR})
  set(_pgagent_matrix_default "$ENV{PGAGENT_PG_MATRIX_DIR}")
else()
  set(_pgagent_matrix_default "/var/cache/pgagent/pg-matrix")
endif()
set(PGAGENT_PG_MATRIX_DIR "${_pgagent_matrix_default}" CACHE PATH "Where the matrix's servers are")
function(pgagent_pg_matrix target)
  foreach(major ${PGAGENT_PG_MATRIX_VERSIONS})
    add_test(NAME ${target}_pg${major} COMMAND ${target} --gtest_color=no)
    set_tests_properties(${target}_pg${major} PROPERTIES
      LABELS "integration;matrix" TIMEOUT 300
      ENVIRONMENT "PGAGENT_PG_BINDIR=${PGAGENT_PG_MATRIX_DIR}/${major}/bin;PGAGENT_PG_MATRIX_DIR=${PGAGENT_PG_MATRIX_DIR}")
  endforeach()
endfunction()
