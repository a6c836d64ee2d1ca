#pragma once
// A sync session's websocket: the session_sink a room delivers to, with one
// reader coroutine (frames -> chunk assembly -> decode -> room) and one writer
// coroutine (a bounded queue of outbound messages, each written as one text
// frame) on the connection's strand.

#include "server/connection_context.hpp"
#include "server/http_session.hpp"

#include <boost/asio/awaitable.hpp>

#include <string>
#include <string_view>

namespace tlsync::server {

// Accepts the upgrade on its stream (already past TLS, if any), joins the
// room of its target and serves the session until the websocket closes. Runs
// on the stream's strand, as a coroutine of its own (see run_connection).
// Terminal cancellation cuts the connection.
[[nodiscard]] net::awaitable<void> run_websocket(websocket_upgrade upgrade,
                                                 std::shared_ptr<connection_context> ctx,
                                                 std::string peer);

namespace detail {
// Binary frames are decoded as text, as upstream's TextDecoder does; we are
// strict where TextDecoder would substitute U+FFFD, and reject the session.
[[nodiscard]] bool valid_utf8(std::string_view s) noexcept;
} // namespace detail

} // namespace tlsync::server
