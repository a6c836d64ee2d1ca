#pragma once
// Maps room ids to room actors. Rooms are created on first use (loaded from
// storage in the background; messages wait until then) and unloaded after
// their last session is gone and their changes are flushed. Thread-safe.

#include "server/room_actor.hpp"

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tlsync::server {

class user_hub;

// Room ids are path segments and file names: 1-128 of [A-Za-z0-9_-].
[[nodiscard]] bool valid_room_id(std::string_view id) noexcept;

class room_registry {
public:
    virtual ~room_registry() = default;

    // The room's actor, created (and loading) if needed. nullptr once the
    // server is shutting down. The id must be valid.
    [[nodiscard]] virtual std::shared_ptr<room_actor> acquire(std::string_view room_id) = 0;
    // Loaded rooms right now.
    [[nodiscard]] virtual std::vector<std::shared_ptr<room_actor>> rooms() const = 0;
    // The user plane (user sockets) when --postgres is set, else null. It is
    // reached through the registry because every connection already holds
    // the registry in its connection_context.
    [[nodiscard]] virtual std::shared_ptr<user_hub> users() const { return nullptr; }
    // Whether the room has ever been stored. The lookup blocks (a file, a
    // Postgres query), so it runs on the blocking pool and `done` is called
    // there: true or false, or nullopt when storage cannot tell (unreachable).
    virtual void find_stored(std::string room_id, std::function<void(std::optional<bool>)> done) const {
        (void)room_id;
        done(false);
    }
};

} // namespace tlsync::server
