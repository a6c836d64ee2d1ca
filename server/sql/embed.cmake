# Writes OUTPUT, a C++ source holding every SQL_DIR/NNN_name.sql as
# tlsync::server::FUNCTION() (default app_migrations, declared in HEADER,
# default server/pg_migrations.hpp), in file-name order. Run at build time
# (see server/CMakeLists.txt) so an edited migration is re-embedded.
if(NOT DEFINED FUNCTION)
  set(FUNCTION app_migrations)
endif()
if(NOT DEFINED HEADER)
  set(HEADER server/pg_migrations.hpp)
endif()
file(GLOB sql_files "${SQL_DIR}/[0-9]*.sql")
list(SORT sql_files)
set(body "")
foreach(f IN LISTS sql_files)
  get_filename_component(name "${f}" NAME_WE)
  if(NOT name MATCHES "^([0-9]+)_[a-z0-9_]+$")
    message(FATAL_ERROR "migration file name must be NNN_snake_case.sql: ${f}")
  endif()
  math(EXPR version "${CMAKE_MATCH_1}")
  file(READ "${f}" sql)
  string(FIND "${sql}" ")tlsql\"" clash)
  if(NOT clash EQUAL -1)
    message(FATAL_ERROR "${f} contains the raw-string delimiter")
  endif()
  string(APPEND body "        {${version}, \"${name}\", R\"tlsql(${sql})tlsql\"},\n")
endforeach()
set(content "// Generated from NNN_name.sql files by server/sql/embed.cmake. Do not edit.
#include \"${HEADER}\"

namespace tlsync::server {

const std::vector<pg_migration>& ${FUNCTION}() {
    static const std::vector<pg_migration> all = {
${body}    };
    return all;
}

} // namespace tlsync::server
")
if(EXISTS "${OUTPUT}")
  file(READ "${OUTPUT}" old)
endif()
if(NOT old STREQUAL content)
  file(WRITE "${OUTPUT}" "${content}")
endif()
