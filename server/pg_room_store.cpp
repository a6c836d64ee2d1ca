// --storage postgres://...: rooms in shared PostgreSQL tables through one
// small blocking connection pool (server/pg_room_storage.hpp).

#include "server/log.hpp"
#include "server/pg_blocking.hpp"
#include "server/pg_room_lease.hpp"
#include "server/pg_room_storage.hpp"
#include "server/room_store.hpp"

namespace tlsync::server {

namespace {

// A write the fence refused is a lost lease, which the room actor handles
// apart from a failing database.
template <class F> void fenced(F&& write) {
    try {
        write();
    } catch (const pg_error& e) {
        if (e.sqlstate == lease_lost_sqlstate) throw lease_lost_error(e.what());
        throw;
    }
}

class pg_room_store final : public room_store {
  public:
    pg_room_store(std::shared_ptr<pg_blocking_pool> pool, const std::string& room_id,
                  const std::string& writer, std::optional<std::int64_t> lease_token)
        : storage_(make_storage(std::move(pool), room_id, writer, lease_token)) {}

    std::string backup_location() const override {
        return backup_id_ ? "tlsync_room_backup.backup_id=" + std::to_string(*backup_id_)
                          : std::string();
    }

  private:
    core::room_snapshot read(core::snapshot_form form) override {
        return storage_.get_snapshot(form);
    }
    void write_schema(const json::object& schema) override {
        fenced([&] { storage_.transaction([&](core::storage_txn& txn) { txn.set_schema(schema); }); });
    }
    void write_delta(const core::room_delta& delta) override {
        fenced([&] { storage_.write_delta(delta); });
    }
    void back_up(const json::object& old_schema) override {
        backup_id_ = storage_.back_up(schema_hash(old_schema));
        log::info("room backed up before its schema migration",
                  {{"room", storage_.room_id()}, {"backup", backup_location()}});
    }

    // Seeding a room's first load is a write too.
    static pg_room_storage make_storage(std::shared_ptr<pg_blocking_pool> pool, const std::string& room_id,
                                        const std::string& writer, std::optional<std::int64_t> lease_token) {
        try {
            return pg_room_storage(std::move(pool), room_id,
                                   pg_room_storage_options{.default_schema = {}, .writer = writer,
                                                           .lease_token = lease_token});
        } catch (const pg_error& e) {
            if (e.sqlstate == lease_lost_sqlstate) throw lease_lost_error(e.what());
            throw;
        }
    }

    pg_room_storage storage_;
    std::optional<std::int64_t> backup_id_;
};

class pg_backend final : public room_backend {
  public:
    pg_backend(std::shared_ptr<pg_blocking_pool> pool, std::string writer, std::chrono::milliseconds lease)
        : pool_(std::move(pool)), writer_(std::move(writer)),
          leases_(std::make_shared<pg_room_leases>(pool_, writer_, lease)) {}

    using room_backend::open;
    std::shared_ptr<room_store> open(const std::string& room_id, std::optional<std::int64_t> lease_token) override {
        return std::make_shared<pg_room_store>(pool_, room_id, writer_, lease_token);
    }
    std::shared_ptr<room_leases> leases() override { return leases_; }
    bool exists(const std::string& room_id) override {
        return pg_room_storage::exists(*pool_, room_id);
    }
    void remove(const std::string& room_id) override { pg_room_storage::remove(*pool_, room_id); }
    std::string_view kind() const noexcept override { return "postgres"; }

  private:
    std::shared_ptr<pg_blocking_pool> pool_;
    std::string writer_;
    std::shared_ptr<pg_room_leases> leases_;
};

} // namespace

std::shared_ptr<room_backend> make_pg_room_backend(const config& cfg) {
    pg_blocking_options opts;
    opts.conninfo = cfg.storage;
    // The blocking pool runs room storage on two threads; a spare
    // connection covers a third caller (a startup check, an admin lookup)
    // without waiting.
    auto pool = std::make_shared<pg_blocking_pool>(opts, 3, std::chrono::seconds(10));
    try {
        auto c = pool->acquire();
        (void)migrate_room_storage(*c);
    } catch (const std::exception& e) {
        throw std::runtime_error(std::string("--storage: ") + e.what());
    }
    return std::make_shared<pg_backend>(std::move(pool), node_id(cfg), cfg.lease_duration);
}

} // namespace tlsync::server
