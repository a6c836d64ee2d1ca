#include "server/user_plane.hpp"

#include "core/replication_files.hpp"
#include "server/log.hpp"
#include "server/room_store.hpp" // node_id
#include "server/user_backend.hpp"

#include <filesystem>

namespace tlsync::server {

void user_plane::stop(std::function<void()> done) const {
    users->stop(1012, {});
    pool->close();
    repl->stop(std::move(done));
}

std::function<net::awaitable<boost::json::object>()> user_plane::diagnostics() const {
    return [repl = repl, users = users, pool = pool]() { return replicator_diagnostics(repl, users, pool); };
}

user_plane make_user_plane(net::any_io_executor io, net::any_io_executor blocking, const config& cfg,
                           std::shared_ptr<room_service> rooms, user_plane_options o) {
    user_plane p;
    pg_pool_config pc;
    pc.conninfo = cfg.postgres;
    pc.max_connections = o.pool_connections;
    p.pool = std::make_shared<pg_pool>(io, pc);
    user_hub_config uc;
    uc.insecure_trust_user_id = cfg.app_users_insecure;
    p.users = std::make_shared<user_hub>(io, make_pg_user_backend(p.pool), uc);
    // Weak: the registry holds the hub, the hub must not hold the registry.
    std::weak_ptr<room_service> weak_rooms = rooms;
    p.users->set_transaction_observer([weak_rooms](const core::pg::transaction& t) {
        if (auto r = weak_rooms.lock()) follow_files(*r, t);
    });

    replicator_config rc;
    rc.conninfo = cfg.postgres;
    rc.slot_name = replicator_slot_name(cfg);
    rc.state_path = (std::filesystem::path(cfg.data_dir) / "replicator.sqlite").string();
    rc.fsync = cfg.fsync;
    rc.history.max_rows = cfg.replicator_history_rows;
    rc.history.max_age = cfg.replicator_history_age;
    rc.backoff_initial = o.backoff_initial;
    rc.backoff_max = o.backoff_max;
    rc.record_inline = o.own_thread;
    rc.node_id = node_id(cfg);
    rc.slot_ttl = cfg.replicator_slot_ttl;
    p.repl = make_replicator(std::move(io), std::move(blocking), rc, p.users->handlers());
    p.users->set_replicator(p.repl);
    if (rooms) rooms->set_users(p.users);
    log::info("replicator enabled", {{"slot", rc.slot_name}, {"state", rc.state_path},
                                     {"app_users", cfg.app_users_insecure ? "insecure" : "off"}});
    return p;
}

void follow_files(room_service& rooms, const core::pg::transaction& t) {
    for (auto& e : core::pg::file_events(t)) {
        switch (e.what) {
        case core::pg::file_event::deleted:
            if (!rooms.room_deleted(e.file_id)) rooms.close_and_delete(e.file_id, "NOT_FOUND");
            break;
        case core::pg::file_event::live:
            if (rooms.room_deleted(e.file_id)) rooms.restore_room(e.file_id);
            rooms.set_room_readonly(e.file_id, e.readonly);
            break;
        case core::pg::file_event::truncated:
            // Which files went is not in the WAL: rooms are left as they are
            // (docs/REPLICATOR.md).
            log::warn("file table truncated: rooms of the removed files are not closed automatically");
            break;
        }
    }
}

} // namespace tlsync::server
