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
};

// Rooms run on strands of `io`; SQLite work runs on `blocking` (a small
// thread pool), never on an io thread. The data directory is created if
// missing; an unusable one throws std::runtime_error with the reason.
[[nodiscard]] std::shared_ptr<room_service>
make_room_service(boost::asio::any_io_executor io, boost::asio::any_io_executor blocking,
                  const config& cfg, std::shared_ptr<const core::schema> schema);

} // namespace tlsync::server
