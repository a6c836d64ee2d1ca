// The room storage's own migration set (server/sql/rooms/NNN_name.sql),
// applied at startup with blocking libpq: recorded in
// tlsync_room_schema_migrations, apart from the app tables' versions, so
// either set can grow without renumbering the other.

#include "server/pg_room_storage.hpp"

namespace tlsync::server {

namespace {

// pg_advisory_xact_lock key: "tlsy" "room" as two 32-bit halves.
constexpr std::string_view lock_statement = "SELECT pg_advisory_xact_lock(1953264505, 1919905645)";

} // namespace

int migrate_room_storage(pg_blocking_connection& c) {
    const auto& list = room_storage_migrations();
    if (auto why = check_migration_list(list); !why.empty())
        throw pg_error("room storage migrations: " + why);
    int version = 0;
    for (const auto& m : list) {
        pg_transaction t(c);
        // Under the lock: servers starting together create the table and
        // apply each migration once.
        c.exec(lock_statement);
        c.exec_script("CREATE TABLE IF NOT EXISTS tlsync_room_schema_migrations ("
                      " version integer PRIMARY KEY, name text NOT NULL,"
                      " applied_at timestamptz NOT NULL DEFAULT now())");
        version = static_cast<int>(
            c.exec("SELECT coalesce(max(version), 0) FROM tlsync_room_schema_migrations")
                .int64(0, 0));
        if (version > static_cast<int>(list.size()))
            throw pg_error("the room storage tables are at version " + std::to_string(version) +
                           ", newer than this server knows (" + std::to_string(list.size()) + ")");
        if (version >= m.version) continue; // rolled back: nothing was written
        try {
            c.exec_script(m.sql);
        } catch (const pg_error& e) {
            throw pg_error(std::string(m.name) + ": " + e.what(), e.sqlstate);
        }
        const std::string v = std::to_string(m.version), name(m.name);
        c.exec("INSERT INTO tlsync_room_schema_migrations (version, name) VALUES ($1::int, $2)",
               {&v, &name});
        t.commit();
        version = m.version;
    }
    return version;
}

} // namespace tlsync::server
