#pragma once
// pg_room_storage's statements and batched writes, shared by
// pg_room_storage.cpp and pg_room_storage_txn.cpp. Internal.

#include "server/pg_blocking.hpp"

#include "core/storage.hpp"

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace tlsync::server {
namespace sql {

// $1 is the room id throughout.
inline constexpr std::string_view upsert_room =
    "INSERT INTO tlsync_room (room_id, document_clock, tombstone_history_starts_at_clock, schema) "
    "VALUES ($1, $2::bigint, $3::bigint, coalesce($4::text, $5::text)) "
    "ON CONFLICT (room_id) DO UPDATE SET document_clock = excluded.document_clock, "
    "tombstone_history_starts_at_clock = excluded.tombstone_history_starts_at_clock, "
    "schema = coalesce($4::text, tlsync_room.schema), updated_at = now()";
inline constexpr std::string_view insert_room_if_absent =
    "INSERT INTO tlsync_room (room_id, document_clock, tombstone_history_starts_at_clock, schema) "
    "VALUES ($1, $2::bigint, $3::bigint, $4) ON CONFLICT (room_id) DO NOTHING";
inline constexpr std::string_view read_clock =
    "SELECT document_clock FROM tlsync_room WHERE room_id = $1";
inline constexpr std::string_view read_room =
    "SELECT document_clock, tombstone_history_starts_at_clock, schema FROM tlsync_room WHERE "
    "room_id = $1";
inline constexpr std::string_view lock_room =
    "SELECT document_clock, tombstone_history_starts_at_clock FROM tlsync_room WHERE room_id = $1 "
    "FOR UPDATE";
inline constexpr std::string_view increment_clock =
    "UPDATE tlsync_room SET document_clock = document_clock + 1, updated_at = now() WHERE room_id "
    "= $1 "
    "RETURNING document_clock";
inline constexpr std::string_view set_history_start =
    "UPDATE tlsync_room SET tombstone_history_starts_at_clock = $2::bigint, updated_at = now() "
    "WHERE room_id = $1";
inline constexpr std::string_view read_schema = "SELECT schema FROM tlsync_room WHERE room_id = $1";
inline constexpr std::string_view set_schema =
    "UPDATE tlsync_room SET schema = $2 WHERE room_id = $1";
inline constexpr std::string_view delete_room = "DELETE FROM tlsync_room WHERE room_id = $1";

inline constexpr std::string_view all_documents =
    "SELECT id, state, last_changed_clock FROM tlsync_room_document WHERE room_id = $1";
inline constexpr std::string_view documents_since =
    "SELECT id, state FROM tlsync_room_document WHERE room_id = $1 AND last_changed_clock > "
    "$2::bigint";
inline constexpr std::string_view get_document =
    "SELECT state FROM tlsync_room_document WHERE room_id = $1 AND id = $2";
inline constexpr std::string_view upsert_document =
    "INSERT INTO tlsync_room_document (room_id, id, state, last_changed_clock) VALUES ($1, $2, $3, "
    "$4::bigint) "
    "ON CONFLICT (room_id, id) DO UPDATE SET state = excluded.state, last_changed_clock = "
    "excluded.last_changed_clock";
inline constexpr std::string_view delete_document =
    "DELETE FROM tlsync_room_document WHERE room_id = $1 AND id = $2";
inline constexpr std::string_view delete_documents_by_id =
    "DELETE FROM tlsync_room_document WHERE room_id = $1 AND id = ANY($2::text[])";
inline constexpr std::string_view delete_all_documents =
    "DELETE FROM tlsync_room_document WHERE room_id = $1";

inline constexpr std::string_view all_tombstones =
    "SELECT id, clock FROM tlsync_room_tombstone WHERE room_id = $1";
inline constexpr std::string_view tombstones_by_clock =
    "SELECT id, clock FROM tlsync_room_tombstone WHERE room_id = $1 ORDER BY clock, id";
inline constexpr std::string_view tombstones_since =
    "SELECT id FROM tlsync_room_tombstone WHERE room_id = $1 AND clock > $2::bigint";
inline constexpr std::string_view count_tombstones =
    "SELECT count(*) FROM tlsync_room_tombstone WHERE room_id = $1";
inline constexpr std::string_view upsert_tombstone =
    "INSERT INTO tlsync_room_tombstone (room_id, id, clock) VALUES ($1, $2, $3::bigint) "
    "ON CONFLICT (room_id, id) DO UPDATE SET clock = excluded.clock";
inline constexpr std::string_view upsert_tombstones =
    "INSERT INTO tlsync_room_tombstone (room_id, id, clock) "
    "SELECT $1, u.id, u.clock FROM unnest($2::text[], $3::bigint[]) AS u(id, clock) "
    "ON CONFLICT (room_id, id) DO UPDATE SET clock = excluded.clock";
inline constexpr std::string_view delete_tombstone =
    "DELETE FROM tlsync_room_tombstone WHERE room_id = $1 AND id = $2";
inline constexpr std::string_view delete_tombstones_by_id =
    "DELETE FROM tlsync_room_tombstone WHERE room_id = $1 AND id = ANY($2::text[])";
inline constexpr std::string_view delete_tombstones_before =
    "DELETE FROM tlsync_room_tombstone WHERE room_id = $1 AND clock < $2::bigint";
inline constexpr std::string_view delete_all_tombstones =
    "DELETE FROM tlsync_room_tombstone WHERE room_id = $1";

// Fails the transaction (SQLSTATE TL001) unless $2 holds the lease with token $3.
inline constexpr std::string_view fence = "SELECT tlsync_room_fence($1, $2, $3::bigint)";
inline constexpr std::string_view log_write =
    "INSERT INTO tlsync_room_write (room_id, writer, document_clock) VALUES ($1, $2, $3::bigint)";
inline constexpr std::string_view prune_write_log =
    "DELETE FROM tlsync_room_write WHERE written_at < now() - interval '1 day'";

// The room as RoomSnapshot JSON (core::room_snapshot_from_json reads it),
// built by Postgres from the rows, in the caller's transaction.
inline constexpr std::string_view back_up_room = R"(
INSERT INTO tlsync_room_backup (room_id, schema_hash, snapshot)
SELECT r.room_id, $2, json_build_object(
    'documentClock', r.document_clock,
    'tombstoneHistoryStartsAtClock', r.tombstone_history_starts_at_clock,
    'schema', r.schema::json,
    'documents', coalesce((SELECT json_agg(json_build_object('state', d.state::json,
                                                             'lastChangedClock', d.last_changed_clock))
                           FROM tlsync_room_document d WHERE d.room_id = r.room_id), '[]'::json),
    'tombstones', coalesce((SELECT json_object_agg(t.id, t.clock)
                            FROM tlsync_room_tombstone t WHERE t.room_id = r.room_id), '{}'::json))
FROM tlsync_room r WHERE r.room_id = $1
RETURNING backup_id)";

} // namespace sql

namespace detail {

struct doc_row {
    const std::string* id;
    const std::string* state; // the record's JSON text
    std::int64_t clock;
};

// These queue statements on a pipeline (sent with the rest of a flush).
// Inserts or replaces documents, a few hundred rows per statement.
void upsert_documents(pg_pipeline& p, const std::string& room, const std::vector<doc_row>& rows);
void upsert_tombstones(pg_pipeline& p, const std::string& room,
                       const std::map<std::string, std::int64_t, std::less<>>& tombstones);
// Queues `statement` ($1 room, $2 text[] of ids) unless `ids` is empty.
void delete_ids(pg_pipeline& p, std::string_view statement, const std::string& room,
                const std::vector<const std::string*>& ids);
// Upserts the room's row; a null `schema` keeps the stored one (`fallback`
// for a new row).
void write_room_row(pg_pipeline& p, const std::string& room, std::int64_t clock,
                    std::int64_t history_start, const std::string* schema,
                    const std::string& fallback);
// A stored schema's text as an object; storage_error when it is not one.
[[nodiscard]] json::object parse_schema(std::string_view text);

} // namespace detail
} // namespace tlsync::server
