#pragma once
// The on-disk side of a room: one SQLite file per room under
// <data-dir>/rooms/<room id>.sqlite (ids are restricted to [A-Za-z0-9_-], so
// they are safe file names). Every call here blocks on disk I/O and runs on
// the blocking thread pool, never on a room's strand. Calls are serialized
// here, so a release() and a write() may be posted independently.

#include "core/schema.hpp"
#include "core/sqlite_storage.hpp"
#include "server/config.hpp"

#include <filesystem>
#include <memory>
#include <mutex>
#include <string>

namespace tlsync::server {

class room_store {
public:
    // Opens (creating) the room's database. Throws on I/O or corruption.
    room_store(const config& cfg, const std::string& room_id);

    // The persisted state; a new room gets tldraw's default document + page.
    [[nodiscard]] core::room_snapshot load();
    // The persisted state migrated up to `schema` on disk (RC3, SL4): when the
    // stored schema is older, the migration runs in memory; if it changes a
    // record or moves a sequence the room already had, the file is first
    // copied to backup_path(); then the result is written in one SQLite
    // transaction. Throws when the stored data cannot be migrated (nothing is
    // written then). With snapshot_form::texts, documents that needed no
    // migration come as stored texts (core::stored_texts, for memory_storage).
    [[nodiscard]] core::room_snapshot load(const core::schema& schema,
                                           core::snapshot_form form = core::snapshot_form::parsed);

    // Where load(schema) keeps the old state: <data-dir>/rooms/backup/
    // <room id>.<hash of the old serialized schema>.sqlite ("-2", "-3", ...
    // before ".sqlite" when that exists already). Empty until a backup is made.
    [[nodiscard]] const std::filesystem::path& backup_path() const noexcept { return backup_path_; }
    // One SQLite transaction (write-behind of memory_storage::delta_since).
    // Opens the database again after release().
    void write(const core::room_delta& delta);
    // Closes the database handle, giving back its memory; for a room that
    // has gone quiet. The next write() reopens it.
    void release();
    [[nodiscard]] bool is_open() const;

    [[nodiscard]] const std::filesystem::path& path() const noexcept { return path_; }

    // Whether a room has ever been stored (its file exists).
    [[nodiscard]] static bool exists(const config& cfg, const std::string& room_id);

    // Creates <data-dir>/rooms; throws std::runtime_error naming the
    // directory when it cannot be created or written.
    static void prepare_data_dir(const config& cfg);

private:
    void open();
    void back_up(const json::object& old_schema);

    const config& cfg_;
    mutable std::mutex mutex_;
    std::string room_id_;
    std::filesystem::path path_;
    std::filesystem::path backup_path_;
    std::shared_ptr<core::sqlite_db> db_;
    std::unique_ptr<core::sqlite_storage> storage_;
};

} // namespace tlsync::server
