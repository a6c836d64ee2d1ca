#pragma once
// Accepts TCP connections on one port and runs each on its own strand (see
// http_session.hpp), registered with the context's tracker so that shutdown
// can cancel it.

#include "server/connection_context.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <memory>
#include <string>

namespace tlsync::server {

class listener : public std::enable_shared_from_this<listener> {
public:
    listener(net::io_context& io, std::shared_ptr<connection_context> ctx);

    // Opens, binds and listens; an error names the step and the endpoint.
    [[nodiscard]] beast::error_code open(const net::ip::tcp::endpoint& endpoint, std::string& what);
    [[nodiscard]] net::ip::tcp::endpoint local_endpoint() const { return local_; }

    // Starts the accept loop; it ends when stop() closes the acceptor.
    void start();
    // Thread-safe.
    void stop();

private:
    net::awaitable<void> accept_loop();
    void spawn_connection(net::ip::tcp::socket socket);

    net::io_context& io_;
    std::shared_ptr<connection_context> ctx_;
    net::ip::tcp::acceptor acceptor_; // on its own strand
    net::ip::tcp::endpoint local_;
};

} // namespace tlsync::server
