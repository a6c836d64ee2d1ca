#pragma once
// One accepted TCP connection: TLS detection (when TLS is configured), then
// HTTP/1.1 requests in a keep-alive loop until one is a websocket upgrade to
// /connect/{roomId}, which hands the stream to run_websocket().

#include "server/connection_context.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/tcp_stream.hpp>

#include <memory>
#include <string>

namespace tlsync::server {

// Runs on the stream's strand. `busy`: over --max-connections; every request
// is answered 503 and the connection closed. Total cancellation ends an idle
// HTTP connection; terminal cancellation also cuts a websocket.
[[nodiscard]] net::awaitable<void> run_connection(beast::tcp_stream stream,
                                                  std::shared_ptr<connection_context> ctx,
                                                  std::string peer, bool busy);

} // namespace tlsync::server
