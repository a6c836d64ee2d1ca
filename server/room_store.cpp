#include "server/room_store.hpp"

#include "core/memory_storage.hpp"
#include "server/pg_blocking.hpp"

#include <boost/json/serialize.hpp>

#include <cstdio>
#include <fstream>
#include <optional>
#include <stdexcept>
#include <system_error>

#include <unistd.h>

namespace tlsync::server {

namespace fs = std::filesystem;

std::shared_ptr<room_backend> make_pg_room_backend(const config& cfg); // pg_room_store.cpp

std::string node_id(const config& cfg) {
    if (!cfg.node_id.empty()) return cfg.node_id;
    char host[256] = {};
    if (gethostname(host, sizeof host - 1) != 0) std::snprintf(host, sizeof host, "localhost");
    return std::string(host) + ":" + std::to_string(getpid());
}

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

// ------------------------------------------------------------------ room_store

namespace {

// Whether `to` moves a sequence `from` already had: a server with the old
// schema could not open the migrated room any more. (Sequences that are only
// new, e.g. a custom shape added, leave the room usable by the old schema.)
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

} // namespace

core::room_snapshot room_store::load() {
    const std::lock_guard lock(mutex_);
    return read(core::snapshot_form::parsed);
}

core::room_snapshot room_store::load(const core::schema& schema, core::snapshot_form form) {
    const std::lock_guard lock(mutex_);
    core::room_snapshot stored = read(form);
    if (!stored.schema) return stored; // IM5 upgrades happen in the room
    const json::object old_schema = *stored.schema;
    const auto plan = schema.migrations_since(old_schema);
    if (!plan) return stored; // the room reports it
    if (plan->empty()) {
        // At most sequences the stored schema lacks that need no migration (a
        // custom shape added since): record them, or a later version of that
        // sequence would take the stored records for current ones.
        if (auto merged = schema.with_missing_sequences(old_schema)) {
            write_schema(*merged);
            stored.schema = std::move(merged);
        }
        return stored;
    }

    const std::int64_t stored_clock = stored.document_clock;
    core::memory_storage migrated(std::move(stored), schema.serialize());
    const auto result = migrated.transaction([&](core::storage_txn& txn) { schema.migrate_storage(txn); });
    if (result.did_change || moves_a_known_sequence(old_schema, schema.serialize())) back_up(old_schema);
    write_delta(migrated.delta_since(stored_clock));
    return migrated.get_snapshot();
}

void room_store::write(const core::room_delta& delta) {
    const std::lock_guard lock(mutex_);
    write_delta(delta);
}

void room_store::release() {
    const std::lock_guard lock(mutex_);
    close();
}

// ------------------------------------------------------------------ SQLite

void sqlite_room_store::prepare_data_dir(const config& cfg) {
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

bool sqlite_room_store::exists(const config& cfg, const std::string& room_id) {
    std::error_code ec;
    return fs::exists(fs::path(cfg.data_dir) / "rooms" / (room_id + ".sqlite"), ec);
}

sqlite_room_store::sqlite_room_store(const config& cfg, const std::string& room_id)
    : cfg_(cfg), room_id_(room_id), path_(fs::path(cfg.data_dir) / "rooms" / (room_id + ".sqlite")) {
    open();
}

void sqlite_room_store::open() {
    core::sqlite_options opts;
    opts.synchronous = cfg_.fsync ? core::sqlite_synchronous::full : core::sqlite_synchronous::normal;
    db_ = std::make_shared<core::sqlite_db>(path_.string(), opts);
    storage_ = std::make_unique<core::sqlite_storage>(db_);
}

void sqlite_room_store::close() {
    storage_.reset();
    db_.reset();
}

bool sqlite_room_store::is_open() {
    const std::lock_guard lock(mutex_);
    return db_ != nullptr;
}

core::room_snapshot sqlite_room_store::read(core::snapshot_form form) {
    if (!db_) open();
    return storage_->get_snapshot(form);
}

void sqlite_room_store::write_schema(const json::object& schema) {
    if (!db_) open();
    storage_->transaction([&](core::storage_txn& txn) { txn.set_schema(schema); });
}

void sqlite_room_store::write_delta(const core::room_delta& delta) {
    if (!db_) open();
    storage_->write_delta(delta);
}

namespace {

std::string sql_quote(const std::string& s) {
    std::string out = "'";
    for (char c : s) out += c == '\'' ? std::string("''") : std::string(1, c);
    return out + "'";
}

} // namespace

void sqlite_room_store::back_up(const json::object& old_schema) {
    if (!db_) open();
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

namespace {

class sqlite_backend final : public room_backend {
public:
    explicit sqlite_backend(const config& cfg) : cfg_(cfg) { sqlite_room_store::prepare_data_dir(cfg_); }

    using room_backend::open;
    // One process owns its files: no lease, nothing to fence.
    std::shared_ptr<room_store> open(const std::string& room_id, std::optional<std::int64_t>) override {
        return std::make_shared<sqlite_room_store>(cfg_, room_id);
    }
    bool exists(const std::string& room_id) override { return sqlite_room_store::exists(cfg_, room_id); }
    void remove(const std::string& room_id) override {
        const fs::path dir = fs::path(cfg_.data_dir) / "rooms";
        std::error_code ec;
        for (const char* suffix : {".sqlite", ".sqlite-wal", ".sqlite-shm", ".sqlite-journal"})
            fs::remove(dir / (room_id + suffix), ec);
    }
    std::string_view kind() const noexcept override { return "sqlite"; }

private:
    const config& cfg_;
};

} // namespace

std::shared_ptr<room_backend> make_room_backend(const config& cfg) {
    if (cfg.storage.empty() || cfg.storage == "sqlite") return std::make_shared<sqlite_backend>(cfg);
    return make_pg_room_backend(cfg);
}

} // namespace tlsync::server
