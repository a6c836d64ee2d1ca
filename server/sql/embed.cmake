# Writes OUTPUT, a C++ source holding every server/sql/NNN_name.sql as
# tlsync::server::app_migrations(), in file-name order. Run at build time
# (see server/CMakeLists.txt) so an edited migration is re-embedded.
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
set(content "// Generated from server/sql/*.sql by server/sql/embed.cmake. Do not edit.
#include \"server/pg_migrations.hpp\"

namespace tlsync::server {

const std::vector<pg_migration>& app_migrations() {
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
