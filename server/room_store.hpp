#pragma once
// Where rooms are kept (--storage): one SQLite file per room under
// <data-dir>/rooms/<room id>.sqlite (the default; ids are restricted to
// [A-Za-z0-9_-], so they are safe file names), or shared tables in
// PostgreSQL (server/pg_room_storage.hpp). Every call here blocks on disk or
// network I/O and runs on the blocking thread pool, never on a room's
// strand or an io thread. A room_store's calls are serialized, so a
// release() and a write() may be posted independently.

#include "core/lease_table.hpp"
#include "core/schema.hpp"
#include "core/sqlite_storage.hpp"
#include "server/config.hpp"

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

namespace tlsync::server {

class pg_blocking_pool;
class pg_room_storage;

// A write refused because this node no longer holds the room's lease (its
// fencing token is stale or the lease expired; docs/SCALING.md). Nothing of
// the write landed; the node must stop serving the room.
struct lease_lost_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// One room's persistent side.
class room_store {
public:
    virtual ~room_store() = default;

    // The persisted state; a new room gets tldraw's default document + page.
    [[nodiscard]] core::room_snapshot load();
    // The persisted state migrated up to `schema` in storage (RC3, SL4):
    // when the stored schema is older, the migration runs in memory; if it
    // changes a record or moves a sequence the room already had, the stored
    // room is first backed up (backup_location()); then the result is
    // written in one transaction. Throws when the stored data cannot be
    // migrated (nothing is written then). With snapshot_form::texts,
    // documents that needed no migration come as stored texts
    // (core::stored_texts, for memory_storage).
    [[nodiscard]] core::room_snapshot load(const core::schema& schema,
                                           core::snapshot_form form = core::snapshot_form::parsed);
    // One transaction (write-behind of memory_storage::delta_since).
    void write(const core::room_delta& delta);
    // Gives back what an idle room holds open (SQLite: its database handle);
    // the next call opens it again.
    void release();

    // Where the last load(schema) put the old state, for logs; empty until
    // a backup is made.
    [[nodiscard]] virtual std::string backup_location() const = 0;

protected:
    // Called with the store's mutex held.
    [[nodiscard]] virtual core::room_snapshot read(core::snapshot_form form) = 0;
    virtual void write_schema(const json::object& schema) = 0;
    virtual void write_delta(const core::room_delta& delta) = 0;
    virtual void back_up(const json::object& old_schema) = 0;
    virtual void close() {}

    std::mutex mutex_;
};

// FNV-1a, 64 bits, of the serialized schema: names a room's backups.
[[nodiscard]] std::string schema_hash(const json::object& schema);

// SQLite: <data-dir>/rooms/<room id>.sqlite.
class sqlite_room_store final : public room_store {
public:
    // Opens (creating) the room's database. Throws on I/O or corruption.
    sqlite_room_store(const config& cfg, const std::string& room_id);

    // <data-dir>/rooms/backup/<room id>.<hash of the old serialized
    // schema>.sqlite ("-2", "-3", ... before ".sqlite" when that exists
    // already). Empty until a backup is made.
    [[nodiscard]] const std::filesystem::path& backup_path() const noexcept { return backup_path_; }
    [[nodiscard]] std::string backup_location() const override { return backup_path_.string(); }
    [[nodiscard]] bool is_open();
    [[nodiscard]] const std::filesystem::path& path() const noexcept { return path_; }

    // Whether a room has ever been stored (its file exists).
    [[nodiscard]] static bool exists(const config& cfg, const std::string& room_id);
    // Creates <data-dir>/rooms; throws std::runtime_error naming the
    // directory when it cannot be created or written.
    static void prepare_data_dir(const config& cfg);

private:
    core::room_snapshot read(core::snapshot_form form) override;
    void write_schema(const json::object& schema) override;
    void write_delta(const core::room_delta& delta) override;
    void back_up(const json::object& old_schema) override;
    void close() override;
    void open();

    const config& cfg_;
    std::string room_id_;
    std::filesystem::path path_;
    std::filesystem::path backup_path_;
    std::shared_ptr<core::sqlite_db> db_;
    std::unique_ptr<core::sqlite_storage> storage_;
};

// Another node holds the room's lease.
struct lease_refused {
    std::string holder;             // its --node-id
    std::chrono::milliseconds left; // until the lease lapses unless renewed
};

// What a renewal round found.
struct lease_renewal {
    std::vector<core::lease_table::lease> kept;   // extended
    std::vector<core::lease_table::lease> wanted; // of those, asked for by another node lately
};

// Room ownership in shared storage (--storage postgres): one lease row per
// room with an owner, a fencing token and an expiry on the database's clock
// (docs/SCALING.md). Thread-safe; every call blocks (one statement) and
// throws when storage is unreachable.
class room_leases {
public:
    virtual ~room_leases() = default;
    // Takes the room's lease for this node: the new fencing token, or who
    // holds it. Succeeds when the lease is free, released, expired or held by
    // this node id already (the token then moves on, fencing off the
    // previous holder's writes). A refusal marks the lease wanted by this
    // node, which the holder's renewals report.
    [[nodiscard]] virtual std::variant<std::int64_t, lease_refused> acquire(const std::string& room_id) = 0;
    // Extends every lease of `held` this node still holds with that token,
    // in one statement; returns those it extended, and which of them another
    // node asked for within the last lease duration.
    [[nodiscard]] virtual lease_renewal renew(const std::vector<core::lease_table::lease>& held) = 0;
    // Gives the lease up (another node may take the room at once), if it is
    // still held with `token`.
    virtual void release(const std::string& room_id, std::int64_t token) = 0;
    [[nodiscard]] virtual std::chrono::milliseconds duration() const noexcept = 0;
};

// The storage of every room of a server: makes each room's store, and
// answers for rooms that are not loaded. Thread-safe; blocking.
class room_backend {
public:
    virtual ~room_backend() = default;
    // The room's store; throws when storage is unreachable or corrupt (the
    // room then fails to load and its sessions are closed to retry). With a
    // lease token (see leases()), every write of the store is fenced on it:
    // a write after the lease was lost throws lease_lost_error.
    [[nodiscard]] virtual std::shared_ptr<room_store> open(const std::string& room_id,
                                                           std::optional<std::int64_t> lease_token) = 0;
    [[nodiscard]] std::shared_ptr<room_store> open(const std::string& room_id) { return open(room_id, std::nullopt); }
    // Room ownership when several servers share the storage; null when one
    // process owns it (SQLite files).
    [[nodiscard]] virtual std::shared_ptr<room_leases> leases() { return nullptr; }
    // Whether the room has ever been stored. Throws when storage cannot tell.
    [[nodiscard]] virtual bool exists(const std::string& room_id) = 0;
    // Deletes the room's stored state (its backups stay).
    virtual void remove(const std::string& room_id) = 0;
    // "sqlite" or "postgres", for logs.
    [[nodiscard]] virtual std::string_view kind() const noexcept = 0;
};

// From cfg.storage. SQLite: creates <data-dir>/rooms (throws naming
// --data-dir when it cannot). Postgres: connects and applies the room
// storage migrations (throws naming --storage when it cannot).
[[nodiscard]] std::shared_ptr<room_backend> make_room_backend(const config& cfg);

// --node-id, or hostname:pid when it is empty: who writes, in the write log.
[[nodiscard]] std::string node_id(const config& cfg);

} // namespace tlsync::server
