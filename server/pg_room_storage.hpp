#pragma once
// A room's storage in PostgreSQL (--storage postgres://...): the same
// contract as core::sqlite_storage (SS1-SS18, run through the same contract
// suite), in tables shared by every room and keyed by room id
// (server/sql/rooms/NNN_*.sql):
//
//   tlsync_room(room_id PK, document_clock, tombstone_history_starts_at_clock, schema text)
//   tlsync_room_document(room_id, id, state text, last_changed_clock)  PK (room_id, id)
//   tlsync_room_tombstone(room_id, id, clock)                          PK (room_id, id)
//   tlsync_room_write(room_id, writer, document_clock, written_at)     the write log
//   tlsync_room_backup(backup_id, room_id, schema_hash, snapshot json) pre-migration copies
//
// Blocking libpq through a pg_blocking_pool: call it on the blocking thread
// pool only. A room holds no connection between calls. Errors are pg_error
// (unreachable, timed out) or core::storage_error (contract violations).
//
// Rooms run on core::memory_storage; the server loads them with
// get_snapshot(snapshot_form::texts) and flushes them with write_delta(),
// each one Postgres transaction. transaction() and the rest of
// sync_storage run a statement per operation: for the contract and tools,
// not for the hot path.

#include "core/sqlite_storage.hpp" // snapshot_form
#include "core/storage.hpp"
#include "server/pg_blocking.hpp"
#include "server/pg_migrations.hpp"

#include <memory>
#include <optional>
#include <string>

namespace tlsync::server {

namespace detail {
class pg_room_txn;
}

// The room storage migrations (server/sql/rooms), embedded at build time.
[[nodiscard]] const std::vector<pg_migration>& room_storage_migrations();

// Applies the room storage migrations `c` has not applied yet, each in its
// own transaction under an advisory lock (nodes starting together apply
// each once). Returns the schema version afterwards; throws pg_error, also
// when the database is newer than this server.
int migrate_room_storage(pg_blocking_connection& c);

struct pg_room_storage_options {
    // For a snapshot without a schema; else tldraw's earliest schema (IM5).
    std::optional<json::object> default_schema;
    // Who writes, for the write log (tlsync_room_write.writer): --node-id.
    std::string writer = "tlsyncd";
    // The fencing token of `writer`'s lease on the room (server/pg_room_lease):
    // every write transaction first checks, under the lease row's lock, that
    // the lease is still this one and unexpired, else fails with SQLSTATE
    // TL001 and writes nothing. Unset: writes are not fenced.
    std::optional<std::int64_t> lease_token;
};

class pg_room_storage final : public core::sync_storage {
  public:
    // With a snapshot, what is stored for the room is replaced by it
    // verbatim (clocks and tombstones as given, as sqlite_storage does);
    // without one, stored data is kept, and a room not stored yet is seeded
    // with default_initial_snapshot().
    pg_room_storage(std::shared_ptr<pg_blocking_pool> pool, std::string room_id,
                    pg_room_storage_options opts = {},
                    std::optional<core::room_snapshot> snapshot = std::nullopt);
    ~pg_room_storage() override;

    core::txn_result transaction(const std::function<void(core::storage_txn&)>& f,
                                 const core::txn_options& opts = {}) override;
    // The last clock this object committed or read.
    [[nodiscard]] std::int64_t get_clock() const override { return committed_clock_; }
    [[nodiscard]] core::room_snapshot get_snapshot() const override {
        return get_snapshot(core::snapshot_form::parsed);
    }
    // One REPEATABLE READ transaction. With snapshot_form::texts, records
    // stay the stored text (checked to look like a JSON object only).
    [[nodiscard]] core::room_snapshot get_snapshot(core::snapshot_form form) const;
    void prune_tombstones() override;

    // A memory_storage::delta_since() in one transaction: only the rows the
    // delta names are written (batched, a statement per few hundred rows),
    // plus the room's row and one write-log row.
    void write_delta(const core::room_delta& delta);

    // Copies the room as it is stored into tlsync_room_backup as RoomSnapshot
    // JSON; returns the backup's id.
    std::int64_t back_up(const std::string& schema_hash);

    [[nodiscard]] std::int64_t tombstone_history_starts_at_clock() const;
    [[nodiscard]] std::size_t tombstone_count() const;
    [[nodiscard]] const std::string& room_id() const noexcept { return room_id_; }

    // Whether the room is stored (has its tlsync_room row).
    [[nodiscard]] static bool exists(pg_blocking_pool& pool, const std::string& room_id);
    // Deletes the room's rows (documents, tombstones, the room) in one
    // transaction; its backups and write log stay.
    static void remove(pg_blocking_pool& pool, const std::string& room_id);
    // Drops write-log rows older than a day; returns how many. Flushes call
    // it at most every ten minutes a process (the log's bound).
    static std::int64_t prune_write_log(pg_blocking_connection& c);

  private:
    friend class detail::pg_room_txn;

    void replace_all(pg_pipeline& p, const core::room_snapshot& s);
    // The lease check, first in a write transaction (nothing without a token).
    void fence(pg_pipeline& p) const;
    void fence(pg_blocking_connection& c) const;
    void log_write(pg_pipeline& p, std::int64_t clock);
    void maybe_prune_write_log(pg_blocking_connection& c) noexcept;

    std::shared_ptr<pg_blocking_pool> pool_;
    std::string room_id_;
    std::string writer_;
    std::optional<std::string> lease_token_; // as a statement parameter
    std::string fallback_schema_; // serialized, for a room row written without a schema
    std::int64_t committed_clock_ = 0;
    bool in_transaction_ = false;
};

} // namespace tlsync::server
