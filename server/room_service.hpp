#pragma once
// Construction and shutdown of the room registry. Separate from
// room_registry.hpp because it needs Asio types.

#include "core/schema.hpp"
#include "server/config.hpp"
#include "server/room_registry.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>

namespace tlsync::server {

class room_service : public room_registry {
public:
    // Stops creating rooms, flushes every room's changes to storage, closes
    // every session with `close_code` (1012 service restart, so clients
    // reconnect), then calls `done` on an executor thread. Bounded by
    // config::shutdown_timeout: `done` runs by then even if a flush hangs.
    virtual void shutdown(std::uint16_t close_code, std::function<void()> done) = 0;

    // ---- rooms follow files (--postgres; server/room_files.hpp decides) ----
    // Closes the room's sessions with 4099 `reason` (NOT_FOUND), removes its
    // storage and refuses the id (4099 `reason`) until restore_room(). The
    // refusal survives restarts (a marker file next to the room's). `done`
    // runs once the storage is gone (on an executor thread).
    virtual void close_and_delete(const std::string& room_id, const std::string& reason,
                                  std::function<void()> done = {}) {
        (void)room_id, (void)reason;
        if (done) done();
    }
    // The id is a live file again: new sessions are accepted.
    virtual void restore_room(const std::string& room_id) { (void)room_id; }
    // New sessions of the room join readonly while set (a view-only or
    // unshared file; see docs/REPLICATOR.md for what this can decide
    // without authentication). Existing sessions keep their mode.
    virtual void set_room_readonly(const std::string& room_id, bool readonly) { (void)room_id, (void)readonly; }
    [[nodiscard]] virtual bool room_deleted(const std::string& room_id) const { (void)room_id; return false; }

    // The user plane, reachable by connections through users().
    virtual void set_users(std::shared_ptr<user_hub> hub) { (void)hub; }
};

// Rooms run on strands of `io`; storage work (SQLite files or Postgres,
// --storage) runs on `blocking` (a small thread pool), never on an io
// thread. The data directory is created if missing; an unusable one throws
// std::runtime_error with the reason. With --storage postgres://..., the
// room tables are migrated first; an unreachable server throws naming --storage.
// `cfg` is held by reference: it must outlive every thread that runs `io`
// or `blocking` work, not only the service.
[[nodiscard]] std::shared_ptr<room_service>
make_room_service(boost::asio::any_io_executor io, boost::asio::any_io_executor blocking,
                  const config& cfg, std::shared_ptr<const core::schema> schema);

} // namespace tlsync::server
