#pragma once
// The replicator's whole plane as tlsyncd runs it with --postgres: the
// replicator (state in <data-dir>/replicator.sqlite), the user hub behind
// /app/{userId}/connect with its Postgres pool, and rooms following their
// files. server.cpp makes one; the Postgres integration tests make one
// around their own listener.

#include "server/config.hpp"
#include "server/pg_pool.hpp"
#include "server/replicator.hpp"
#include "server/room_service.hpp"
#include "server/user_hub.hpp"

#include <functional>
#include <memory>
#include <string>

namespace tlsync::server {

struct user_plane {
    std::shared_ptr<pg_pool> pool;
    std::shared_ptr<user_hub> users;
    std::shared_ptr<replicator> repl;

    void start() const { repl->start(); }
    // Closes user sockets with 1012, closes the pool and stops the
    // replicator; `done` when the replicator has stopped.
    void stop(std::function<void()> done) const;
    // For GET /replicator/diagnostics.
    [[nodiscard]] std::function<net::awaitable<boost::json::object>()> diagnostics() const;
};

struct user_plane_options {
    std::size_t pool_connections = 4;
    // Tests shorten these.
    std::chrono::milliseconds backoff_initial{500};
    std::chrono::milliseconds backoff_max{10'000};
    // `io` is a thread of the plane's own: the replicator records inline
    // (replicator_config::record_inline).
    bool own_thread = false;
};

// Everything of the plane (replicator, user actors, the pool's connections)
// runs on `io`; `blocking` runs SQLite when the plane has no thread of its
// own. Throws std::runtime_error when the replicator cannot be made.
[[nodiscard]] user_plane make_user_plane(net::any_io_executor io, net::any_io_executor blocking, const config& cfg,
                                         std::shared_ptr<room_service> rooms, user_plane_options o = {});

// Rooms follow files: a deleted file closes its room (4099 NOT_FOUND) and
// removes its storage; a file that is back reopens it; sharing decides
// whether new sessions join readonly.
void follow_files(room_service& rooms, const core::pg::transaction& t);

} // namespace tlsync::server
