#pragma once
// tlsyncd as an object: io_context threads, a small pool for blocking
// (SQLite) work, the room service, the listener, and SIGINT/SIGTERM handling
// with a graceful shutdown bounded by config::shutdown_timeout.

#include "server/config.hpp"
#include "server/connection_context.hpp"
#include "server/room_service.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace tlsync::server {

class server {
public:
    // How the room service is made; tests substitute a fake. The default is
    // make_room_service(io, blocking, cfg, core::make_tldraw_schema()).
    using room_service_factory = std::function<std::shared_ptr<room_service>(
        net::any_io_executor io, net::any_io_executor blocking, const config& cfg)>;

    explicit server(config cfg, room_service_factory factory = {});
    ~server();
    server(const server&) = delete;
    server& operator=(const server&) = delete;

    // Before open(): the /admin/... hook.
    void set_admin_handler(admin_handler handler);

    // Loads TLS files, creates the room service and binds the port. Returns
    // an error naming the flag (--tls-cert, --host/--port, ...), empty when
    // ready. Nothing is served until run().
    [[nodiscard]] std::string open();
    // The bound port (useful with --port 0).
    [[nodiscard]] std::uint16_t port() const;

    // Serves on config::threads threads until a signal or request_stop(),
    // shuts down gracefully and returns the process exit code (0).
    int run();
    // Thread-safe; starts the same graceful shutdown as SIGTERM.
    void request_stop();
    // Whether run() is serving (after open(), until shutdown begins).
    [[nodiscard]] bool running() const noexcept;

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

} // namespace tlsync::server
