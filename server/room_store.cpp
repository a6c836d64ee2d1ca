#include "server/room_store.hpp"

#include <fstream>
#include <stdexcept>
#include <system_error>

namespace tlsync::server {

namespace fs = std::filesystem;

void room_store::prepare_data_dir(const config& cfg) {
    const fs::path rooms = fs::path(cfg.data_dir) / "rooms";
    std::error_code ec;
    fs::create_directories(rooms, ec);
    if (ec)
        throw std::runtime_error("--data-dir: cannot create " + rooms.string() + ": " + ec.message());
    // Refuse to start on a directory we cannot write: better now than at the
    // first flush, with edits already acknowledged.
    const fs::path probe = rooms / ".write-probe";
    {
        std::ofstream out(probe);
        if (!(out << "ok"))
            throw std::runtime_error("--data-dir: " + rooms.string() + " is not writable");
    }
    fs::remove(probe, ec);
}

bool room_store::exists(const config& cfg, const std::string& room_id) {
    std::error_code ec;
    return fs::exists(fs::path(cfg.data_dir) / "rooms" / (room_id + ".sqlite"), ec);
}

room_store::room_store(const config& cfg, const std::string& room_id)
    : path_(fs::path(cfg.data_dir) / "rooms" / (room_id + ".sqlite")) {
    core::sqlite_options opts;
    opts.synchronous = cfg.fsync ? core::sqlite_synchronous::full : core::sqlite_synchronous::normal;
    db_ = std::make_shared<core::sqlite_db>(path_.string(), opts);
    storage_ = std::make_unique<core::sqlite_storage>(db_);
}

core::room_snapshot room_store::load() { return storage_->get_snapshot(); }

void room_store::write(const core::room_delta& delta) { storage_->write_delta(delta); }

} // namespace tlsync::server
