#include "server/room_store.hpp"

#include "core/memory_storage.hpp"

#include <boost/json/serialize.hpp>

#include <cstdio>
#include <fstream>
#include <optional>
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
    : cfg_(cfg), room_id_(room_id), path_(fs::path(cfg.data_dir) / "rooms" / (room_id + ".sqlite")) {
    open();
}

void room_store::open() {
    core::sqlite_options opts;
    opts.synchronous = cfg_.fsync ? core::sqlite_synchronous::full : core::sqlite_synchronous::normal;
    db_ = std::make_shared<core::sqlite_db>(path_.string(), opts);
    storage_ = std::make_unique<core::sqlite_storage>(db_);
}

void room_store::release() {
    const std::lock_guard lock(mutex_);
    storage_.reset();
    db_.reset();
}

bool room_store::is_open() const {
    const std::lock_guard lock(mutex_);
    return db_ != nullptr;
}

core::room_snapshot room_store::load() {
    const std::lock_guard lock(mutex_);
    if (!db_) open();
    return storage_->get_snapshot();
}

namespace {

// FNV-1a, 64 bits: a stable, short name for a serialized schema.
std::string schema_hash(const json::object& schema) {
    std::uint64_t h = 14695981039346656037ull;
    for (unsigned char c : json::serialize(schema)) {
        h ^= c;
        h *= 1099511628211ull;
    }
    char out[17];
    std::snprintf(out, sizeof out, "%016llx", static_cast<unsigned long long>(h));
    return out;
}

// Whether `to` moves a sequence `from` already had: a server with the old
// schema could not open the migrated file any more. (Sequences that are only
// new, e.g. a custom shape added, leave the file usable by the old schema.)
bool moves_a_known_sequence(const json::object& from, const json::object& to) {
    const auto* a = from.if_contains("sequences");
    const auto* b = to.if_contains("sequences");
    if (!a || !a->is_object() || !b || !b->is_object()) return true;
    for (const auto& [id, version] : a->get_object()) {
        const auto* now = b->get_object().if_contains(id);
        if (now && !deep_equal(*now, version)) return true;
    }
    return false;
}

std::string sql_quote(const std::string& s) {
    std::string out = "'";
    for (char c : s) out += c == '\'' ? std::string("''") : std::string(1, c);
    return out + "'";
}

} // namespace

void room_store::back_up(const json::object& old_schema) {
    const fs::path dir = path_.parent_path() / "backup";
    fs::create_directories(dir);
    const std::string stem = room_id_ + "." + schema_hash(old_schema);
    fs::path target = dir / (stem + ".sqlite");
    for (int n = 2; fs::exists(target); ++n) target = dir / (stem + "-" + std::to_string(n) + ".sqlite");
    // VACUUM INTO writes a consistent copy, WAL contents included, through
    // this connection: a plain file copy could miss committed pages.
    db_->exec("VACUUM INTO " + sql_quote(target.string()));
    backup_path_ = target;
}

core::room_snapshot room_store::load(const core::schema& schema, core::snapshot_form form) {
    const std::lock_guard lock(mutex_);
    if (!db_) open();
    core::room_snapshot stored = storage_->get_snapshot(form);
    if (!stored.schema) return stored; // IM5 upgrades happen in the room
    const json::object old_schema = *stored.schema;
    const auto plan = schema.migrations_since(old_schema);
    if (!plan) return stored; // the room reports it
    if (plan->empty()) {
        // At most sequences the stored schema lacks that need no migration (a
        // custom shape added since): record them, or a later version of that
        // sequence would take the stored records for current ones.
        if (auto merged = schema.with_missing_sequences(old_schema)) {
            storage_->transaction([&](core::storage_txn& txn) { txn.set_schema(*merged); });
            stored.schema = std::move(merged);
        }
        return stored;
    }

    const std::int64_t stored_clock = stored.document_clock;
    core::memory_storage migrated(std::move(stored), schema.serialize());
    const auto result = migrated.transaction([&](core::storage_txn& txn) { schema.migrate_storage(txn); });
    if (result.did_change || moves_a_known_sequence(old_schema, schema.serialize())) back_up(old_schema);
    storage_->write_delta(migrated.delta_since(stored_clock));
    return migrated.get_snapshot();
}

void room_store::write(const core::room_delta& delta) {
    const std::lock_guard lock(mutex_);
    if (!db_) open();
    storage_->write_delta(delta);
}

} // namespace tlsync::server
