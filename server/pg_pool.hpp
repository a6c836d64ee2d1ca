#pragma once
// A small bounded pool of ordinary (non-replication) Postgres connections for
// the user actors: at most `max_connections` open at once, opened lazily,
// reused while healthy. A user that finds none free waits in FIFO order until
// one is returned or its deadline passes (an error value, never a hang).
//
//   auto [s, lease] = co_await pool->acquire(2s);
//   if (!s) ...;                         // timed out, or could not connect
//   co_await app::load_user_state(*lease, ...);
//   // the lease returns the connection when it goes out of scope; a failed
//   // connection (lease->status() false) is dropped instead.
//
// Thread-safe. The connections are bound to the pool's io executor; a lease
// is used by one coroutine at a time (pg_connection's rule).

#include "server/pg_connection.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstddef>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace tlsync::server {

struct pg_pool_config {
    std::string conninfo;
    std::size_t max_connections = 4;
    std::chrono::milliseconds connect_timeout{5000};
    std::string application_name = "tlsyncd_users";
};

struct pg_pool_stats {
    std::size_t open = 0;    // connected or connecting
    std::size_t idle = 0;
    std::size_t waiting = 0; // coroutines waiting for a connection
    std::uint64_t timeouts = 0;
};

class pg_pool : public std::enable_shared_from_this<pg_pool> {
    struct waiter;

public:
    class lease {
    public:
        lease() = default;
        lease(lease&& o) noexcept = default;
        lease& operator=(lease&& o) noexcept;
        ~lease();
        [[nodiscard]] explicit operator bool() const noexcept { return conn_ != nullptr; }
        pg_connection& operator*() const noexcept { return *conn_; }
        pg_connection* operator->() const noexcept { return conn_.get(); }

    private:
        friend class pg_pool;
        lease(std::shared_ptr<pg_pool> p, std::unique_ptr<pg_connection> c) : pool_(std::move(p)), conn_(std::move(c)) {}
        void give_back() noexcept;
        std::shared_ptr<pg_pool> pool_;
        std::unique_ptr<pg_connection> conn_;
    };

    pg_pool(net::any_io_executor io, pg_pool_config cfg);
    ~pg_pool();

    // A connection within `wait` (waiting for a free one, or opening one).
    net::awaitable<std::pair<pg_status, lease>> acquire(std::chrono::milliseconds wait);
    // Idle connections are closed, waiters fail at once, and connections
    // returned later are closed. For shutdown.
    void close();
    [[nodiscard]] pg_pool_stats stats() const;
    // The executor its connections are bound to: run statements there.
    [[nodiscard]] net::any_io_executor get_executor() const { return io_; }

private:
    void release(std::unique_ptr<pg_connection> c) noexcept;
    net::awaitable<std::pair<pg_status, lease>> open_one();

    net::any_io_executor io_;
    pg_pool_config cfg_;
    mutable std::mutex mutex_;
    std::vector<std::unique_ptr<pg_connection>> idle_;
    std::list<std::shared_ptr<waiter>> waiters_;
    std::size_t open_ = 0;
    std::uint64_t timeouts_ = 0;
    bool closed_ = false;
};

} // namespace tlsync::server
