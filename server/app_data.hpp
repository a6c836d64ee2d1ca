#pragma once
// Reading a user's app data from Postgres for the user socket: the snapshot a
// user starts from, and the guest files the replicator must route to them.
//
// Rows arrive as JSON built by Postgres (row_to_json), in the shape the
// replicator's `row_update` events carry (core::pg::user_event over wal2json
// rows): the quoted camelCase column names as keys, bigint/integer columns as
// JSON numbers, booleans as booleans, NULL as null, and jsonb columns as the
// *text* of the document (wal2json prints jsonb as a string). A client that
// merges snapshot rows with streamed rows sees one shape.
//
// Both calls run on the connection's executor, one coroutine at a time per
// connection (pg_connection's rule), and return errors as values. A timeout
// leaves the connection unusable (pg_connection's rule): check c.status().

#include "server/pg_connection.hpp"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

#include <chrono>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tlsync::server::app {

struct user_state {
    boost::json::object user;       // the user row
    boost::json::array files;       // files the user owns, and files they follow as a guest
                                    // (file_state rows with isFileOwner = false)
    boost::json::array file_states; // the user's file_state rows
    std::vector<std::string> guest_file_ids;
    // WAL position read BEFORE the snapshot (pg_current_wal_lsn(), "X/Y"):
    // every transaction whose commit ends after it may be missing from the
    // snapshot and must be replayed on top (register with this LSN);
    // transactions already in the snapshot may come again, which is harmless
    // because row events are full-row upserts/deletes.
    std::string lsn;
};

// One REPEATABLE READ, READ ONLY transaction; the LSN is read first, in its
// own statement. When `create_missing` and the user row is absent, the row is
// inserted first (id, name = id, createdAt = updatedAt = now in ms), in its
// own transaction (ON CONFLICT DO NOTHING: two connects racing are fine), and
// the snapshot is taken after it. When the user is absent and not created,
// the status fails with sqlstate "P0002" (no_data_found).
net::awaitable<std::pair<pg_status, user_state>> load_user_state(pg_connection& c, std::string_view user_id,
                                                                 bool create_missing,
                                                                 std::chrono::milliseconds timeout);

// The files `user_id` follows as a guest (their file_state rows with
// isFileOwner = false), sorted.
net::awaitable<std::pair<pg_status, std::vector<std::string>>> guest_file_ids(pg_connection& c,
                                                                            std::string_view user_id,
                                                                            std::chrono::milliseconds timeout);

} // namespace tlsync::server::app
