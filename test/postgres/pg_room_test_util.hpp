#pragma once
// Databases and pools for the room storage suites (--storage postgres).

#include "pg_test_util.hpp"

#include "server/pg_blocking.hpp"
#include "server/pg_room_storage.hpp"
#include "unit/core/storage_test_util.hpp"

#include <memory>
#include <string>

namespace tlsync::test {

// A fresh database `name` with the room storage tables; its conninfo.
inline std::string room_database(const std::string& name) {
    {
        pg_client admin(cluster().conninfo);
        admin.exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)");
        admin.exec("CREATE DATABASE " + name);
    }
    const auto conninfo = cluster().db(name);
    server::pg_blocking_connection c({.conninfo = conninfo});
    (void)server::migrate_room_storage(c);
    return conninfo;
}

inline std::shared_ptr<server::pg_blocking_pool> room_pool(const std::string& conninfo,
                                                           std::size_t max = 2) {
    return std::make_shared<server::pg_blocking_pool>(
        server::pg_blocking_options{.conninfo = conninfo}, max);
}

} // namespace tlsync::test
