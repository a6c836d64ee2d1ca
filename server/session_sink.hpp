#pragma once
// The seam between a room actor and the websocket connections of its
// sessions. A room never owns a connection: it holds a weak_ptr to this
// interface and calls it from the room's strand; the connection hands the
// work to its own strand. Light on includes on purpose: room code and
// connection code both see it.

#include "core/outbound.hpp"

#include <cstdint>
#include <optional>
#include <string>

namespace tlsync::server {

class session_sink {
public:
    virtual ~session_sink() = default;

    // Queues a message for the single writer of the websocket. Thread-safe and
    // never blocks. When the bounded outbound queue would overflow, the
    // connection closes itself (4099 is not used: the client should retry).
    virtual void deliver(core::outbound_message message) = 0;

    // Closes the websocket after what is already queued; `code` nullopt means
    // a normal close (1000). Thread-safe, idempotent.
    virtual void close(std::optional<std::uint16_t> code, std::string reason) = 0;
};

} // namespace tlsync::server
