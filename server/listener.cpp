#include "server/listener.hpp"

#include "server/http_session.hpp"
#include "server/user_socket.hpp"
#include "server/ws_connection.hpp"
#include "server/log.hpp"
#include "server/metrics.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace tlsync::server {

namespace {

constexpr auto use_tuple = net::as_tuple(net::use_awaitable);
using tcp = net::ip::tcp;

std::string to_string(const tcp::endpoint& ep) {
    const auto address = ep.address();
    if (address.is_v6()) return "[" + address.to_string() + "]:" + std::to_string(ep.port());
    return address.to_string() + ":" + std::to_string(ep.port());
}

} // namespace

listener::listener(net::io_context& io, std::shared_ptr<connection_context> ctx)
    : io_(io), ctx_(std::move(ctx)), acceptor_(net::make_strand(io)) {}

beast::error_code listener::open(const tcp::endpoint& endpoint, std::string& what) {
    beast::error_code ec;
    what = "open";
    acceptor_.open(endpoint.protocol(), ec);
    if (ec) return ec;
    // A restart must not wait out TIME_WAIT sockets of the previous process.
    what = "set reuse_address";
    acceptor_.set_option(net::socket_base::reuse_address(true), ec);
    if (ec) return ec;
    what = "bind";
    acceptor_.bind(endpoint, ec);
    if (ec) return ec;
    what = "listen";
    acceptor_.listen(net::socket_base::max_listen_connections, ec);
    if (ec) return ec;
    local_ = acceptor_.local_endpoint(ec);
    return ec;
}

void listener::start() {
    net::co_spawn(acceptor_.get_executor(), accept_loop(),
                  [self = shared_from_this()](std::exception_ptr e) {
                      if (!e) return;
                      try {
                          std::rethrow_exception(e);
                      } catch (const std::exception& x) {
                          log::error("accept loop failed", {{"error", x.what()}});
                      }
                  });
}

void listener::stop() {
    net::post(acceptor_.get_executor(), [self = shared_from_this()] {
        beast::error_code ec;
        self->acceptor_.close(ec);
    });
}

net::awaitable<void> listener::accept_loop() {
    net::steady_timer backoff(acceptor_.get_executor());
    while (acceptor_.is_open()) {
        // Each connection gets its own strand: its coroutines and the
        // handlers rooms post to it never run concurrently.
        auto [ec, socket] = co_await acceptor_.async_accept(net::make_strand(io_), use_tuple);
        if (ec == net::error::operation_aborted || !acceptor_.is_open()) break;
        if (ec) {
            // Typically EMFILE: pause instead of spinning, then try again.
            log::warn("accept failed", {{"error", ec.message()}});
            backoff.expires_after(std::chrono::milliseconds(100));
            (void)co_await backoff.async_wait(use_tuple);
            continue;
        }
        spawn_connection(std::move(socket));
    }
}

void listener::spawn_connection(tcp::socket socket) {
    beast::error_code ec;
    socket.set_option(tcp::no_delay(true), ec); // small sync messages should not wait for Nagle
    const auto remote = socket.remote_endpoint(ec);
    std::string peer = ec ? std::string("unknown") : to_string(remote);

    // Over the limit the connection is still served, with a 503, so the
    // client sees why rather than a reset; it lives at most handshake_timeout.
    const bool busy = ctx_->tracker.size() >= ctx_->cfg.max_connections;
    auto executor = socket.get_executor();
    auto entry = ctx_->tracker.add(executor);
    global_metrics().connections_open.add();
    global_metrics().connections_total.inc();

    // Both phases of the connection, HTTP then websocket, answer to the same
    // cancellation slot; the entry goes when the last phase ends.
    auto done = [entry, ctx = ctx_, peer](std::exception_ptr e) {
        // The actor boundary: one connection's bug must not end the process.
        if (e) {
            try {
                std::rethrow_exception(e);
            } catch (const std::exception& x) {
                log::error("connection failed", {{"peer", peer}, {"error", x.what()}});
            } catch (...) {
                log::error("connection failed", {{"peer", peer}, {"error", "unknown exception"}});
            }
        }
        global_metrics().connections_open.sub();
        ctx->tracker.remove(entry->id);
    };
    auto upgraded = [entry, ctx = ctx_, peer, executor,
                     done](std::exception_ptr e, std::optional<websocket_upgrade> upgrade) mutable {
        if (e || !upgrade) {
            done(e);
            return;
        }
        // A coroutine of its own: the HTTP phase's frames are already freed.
        // /app/{userId}/connect goes to the user plane (server/user_socket).
        const bool user = upgrade->target.user.has_value();
        auto session = user ? run_user_websocket(std::move(*upgrade), ctx, std::move(peer))
                            : run_websocket(std::move(*upgrade), ctx, std::move(peer));
        net::co_spawn(executor, std::move(session),
                      net::bind_cancellation_slot(entry->signal.slot(), std::move(done)));
    };
    net::co_spawn(executor, run_connection(beast::tcp_stream(std::move(socket)), ctx_, peer, busy),
                  net::bind_cancellation_slot(entry->signal.slot(), std::move(upgraded)));
}

} // namespace tlsync::server
