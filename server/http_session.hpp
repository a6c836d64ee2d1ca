#pragma once
// One accepted TCP connection: TLS detection (when TLS is configured), then
// HTTP/1.1 requests in a keep-alive loop until one is a websocket upgrade to
// /connect/{roomId}, which run_connection hands back rather than serving it:
// the caller runs it as a coroutine of its own (run_websocket), so the HTTP
// phase's frames, parser and buffer are gone for the session's whole life.

#include "server/connection_context.hpp"
#include "server/http_routes.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <memory>
#include <optional>
#include <string>
#include <variant>

namespace tlsync::server {

// An accepted upgrade request, not yet answered.
struct websocket_upgrade {
    std::variant<beast::tcp_stream, beast::ssl_stream<beast::tcp_stream>> stream;
    http_request req;
    connect_target target;
};

// Runs on the stream's strand. `busy`: over --max-connections; every request
// is answered 503 and the connection closed. Total cancellation ends an idle
// HTTP connection. Returns the upgrade when the connection became a websocket.
[[nodiscard]] net::awaitable<std::optional<websocket_upgrade>>
run_connection(beast::tcp_stream stream, std::shared_ptr<connection_context> ctx, std::string peer,
               bool busy);

} // namespace tlsync::server
