#pragma once
// The on-disk side of a room: one SQLite file per room under
// <data-dir>/rooms/<room id>.sqlite (ids are restricted to [A-Za-z0-9_-], so
// they are safe file names). Every call here blocks on disk I/O and runs on
// the blocking thread pool, never on a room's strand.

#include "core/sqlite_storage.hpp"
#include "server/config.hpp"

#include <filesystem>
#include <memory>
#include <string>

namespace tlsync::server {

class room_store {
public:
    // Opens (creating) the room's database. Throws on I/O or corruption.
    room_store(const config& cfg, const std::string& room_id);

    // The persisted state; a new room gets tldraw's default document + page.
    [[nodiscard]] core::room_snapshot load();
    // One SQLite transaction (write-behind of memory_storage::delta_since).
    void write(const core::room_delta& delta);

    [[nodiscard]] const std::filesystem::path& path() const noexcept { return path_; }

    // Whether a room has ever been stored (its file exists).
    [[nodiscard]] static bool exists(const config& cfg, const std::string& room_id);

    // Creates <data-dir>/rooms; throws std::runtime_error naming the
    // directory when it cannot be created or written.
    static void prepare_data_dir(const config& cfg);

private:
    std::filesystem::path path_;
    std::shared_ptr<core::sqlite_db> db_;
    std::unique_ptr<core::sqlite_storage> storage_;
};

} // namespace tlsync::server
