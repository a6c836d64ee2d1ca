#pragma once
// What every connection accepted by a listener shares: the settings, the
// rooms, the TLS context, the /admin hook and the tracker that lets shutdown
// cancel connections still open.

#include "server/config.hpp"
#include "server/room_registry.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>

namespace tlsync::server {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

using http_request = http::request<http::string_body>;
using http_response = http::response<http::string_body>;

// The /admin/... API. Runs in the connection's coroutine for every request
// whose path starts with /admin/; it may wait on rooms but must not block.
using admin_handler = std::function<net::awaitable<http_response>(const http_request&)>;

// Open connections, each with the cancellation signal bound to its
// coroutine. Shutdown emits on every one; the signal is emitted on the
// connection's own strand because cancellation_signal is not thread-safe.
class connection_tracker {
public:
    struct entry {
        std::uint64_t id = 0;
        net::any_io_executor executor; // the connection's strand
        net::cancellation_signal signal;
    };

    [[nodiscard]] std::shared_ptr<entry> add(net::any_io_executor executor);
    void remove(std::uint64_t id);
    [[nodiscard]] std::size_t size() const;
    // Posts `signal.emit(type)` to each connection's strand.
    void cancel_all(net::cancellation_type type);
    // `f` runs once, when no connection is left (at once if none is).
    void when_empty(std::function<void()> f);

private:
    mutable std::mutex mutex_;
    std::unordered_map<std::uint64_t, std::shared_ptr<entry>> entries_;
    std::uint64_t next_id_ = 1;
    std::function<void()> on_empty_;
};

class authenticator;
class address_limiter;
class static_site;
class upload_service;

struct connection_context {
    config cfg;
    std::shared_ptr<room_registry> rooms;
    std::shared_ptr<net::ssl::context> tls; // null: plain connections only
    std::shared_ptr<const authenticator> auth; // null: --auth none
    admin_handler admin;                    // empty: /admin/... is 404
    std::shared_ptr<address_limiter> connection_rate; // null: --connection-rate-per-ip 0
    std::shared_ptr<static_site> site;        // null: no web app (GET / is 404)
    std::shared_ptr<upload_service> uploads;  // null: /uploads/... is 404
    connection_tracker tracker;
};

} // namespace tlsync::server
