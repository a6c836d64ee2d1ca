#pragma once
// The app data model's Postgres schema: versioned migrations from
// server/sql/NNN_name.sql (embedded at build time), applied in order at
// startup, each in its own transaction together with the row that records
// it in tlsync_schema_migrations. A transaction-scoped advisory lock makes
// concurrent servers apply each migration once.

#include "server/pg_connection.hpp"

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

namespace tlsync::server {

struct pg_migration {
    int version;           // NNN of the file name
    std::string_view name; // "001_app_schema"
    std::string_view sql;
};

// Every migration of server/sql, by version.
[[nodiscard]] const std::vector<pg_migration>& app_migrations();

// Empty when versions run 1, 2, 3, ... without gaps or repeats; otherwise why not.
[[nodiscard]] std::string check_migration_list(const std::vector<pg_migration>& list);

struct migrate_report {
    pg_status status;
    std::vector<int> applied; // versions applied by this call
    int schema_version = 0;   // the database's version afterwards
};

// Applies what `c` has not applied yet. Fails without touching anything
// when the database has a version this list does not know (a newer server
// migrated it).
net::awaitable<migrate_report> migrate(pg_connection& c, const std::vector<pg_migration>& list,
                                       std::chrono::milliseconds statement_timeout = std::chrono::seconds(60));

} // namespace tlsync::server
