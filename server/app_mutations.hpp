#pragma once
// Applying a user's mutate message to Postgres: validated by
// core::app::parse_mutation, then applied in ONE transaction (READ
// COMMITTED) that
//   - applies every update in order, each in one statement whose WHERE
//     clause and row locks do the ownership check (a user creates files as
//     their owner, with their owner file_state in the same statement;
//     updates and deletes only files they own, never ownerId/id; inserts,
//     updates and deletes only their own file_state rows, a guest one only
//     for a shared file; updates only their own user row);
//   - bumps user_mutation_number (upsert +1, RETURNING the number);
//   - commits.
// Any failure rolls the whole transaction back: nothing is half-applied.
// The user learns of the commit when the replication stream delivers the
// mutation_commit carrying `mutation_number` (in the same transaction's
// delivery as the row changes).
//
// Reject codes: bad_request (shape, types, values Postgres refuses such as a
// jsonb that is not JSON), forbidden (someone else's row, a private file),
// not_found (no such file / file_state / user), conflict (a unique or
// primary key taken, e.g. a file id or publishedSlug; serialization
// failures), unavailable (no connection, timeout, server trouble). After
// `unavailable` check c.status(): a timed-out or broken connection must be
// replaced (pg_connection's rule); after the other codes it is reusable.
//
// Semantics worth knowing:
//   file insert        ownerId = the user; createdAt/updatedAt default to now
//                      (ms), publishedSlug to a random UUID; plus the owner's
//                      file_state (isFileOwner = true).
//   file update        sets updatedAt = now unless the row gives it.
//   file delete        cascades to every file_state of the file (guests too).
//   file_state insert  an upsert: an existing row of the user gets the given
//                      columns; isFileOwner is decided by the database
//                      (claiming it for someone else's file is forbidden).
//   file_state delete  only guest rows (the owner's goes with the file).
//   user update        sets updatedAt = now unless the row gives it.

#include "server/pg_connection.hpp"

#include <boost/json/value.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace tlsync::server::app {

struct mutation_result {
    std::string mutation_id;
    bool committed = false;
    std::int64_t mutation_number = 0; // when committed
    std::string error_code;           // when not: "bad_request", "forbidden", "not_found", "conflict", "unavailable"
    std::string reason;               // human readable, names the update ("updates[1] (file update): ...")
};

// `message` is the whole client frame {"type":"mutate","mutationId":..,"updates":[..]}.
net::awaitable<mutation_result> apply_mutation(pg_connection& c, std::string_view user_id,
                                               const boost::json::value& message, std::chrono::milliseconds timeout);

} // namespace tlsync::server::app
