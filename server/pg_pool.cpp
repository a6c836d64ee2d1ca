#include "server/pg_pool.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace tlsync::server {

// A coroutine waiting for a connection. The timer is the condition
// variable: the releaser hands over (or grants the right to open one) under
// the mutex, then posts a cancel to the timer's own executor, because a
// timer is not thread-safe.
struct pg_pool::waiter {
    explicit waiter(net::any_io_executor ex) : timer(std::move(ex)) {}
    net::steady_timer timer;
    std::unique_ptr<pg_connection> handed;
    bool may_open = false; // a slot freed up: open a new connection
    bool failed = false;   // the pool closed
};

pg_pool::lease& pg_pool::lease::operator=(lease&& o) noexcept {
    if (this != &o) {
        give_back();
        pool_ = std::move(o.pool_);
        conn_ = std::move(o.conn_);
    }
    return *this;
}

pg_pool::lease::~lease() { give_back(); }

void pg_pool::lease::give_back() noexcept {
    if (pool_ && conn_) pool_->release(std::move(conn_));
    pool_.reset();
}

pg_pool::pg_pool(net::any_io_executor io, pg_pool_config cfg) : io_(std::move(io)), cfg_(std::move(cfg)) {
    if (cfg_.max_connections == 0) cfg_.max_connections = 1;
}

pg_pool::~pg_pool() = default;

net::awaitable<std::pair<pg_status, pg_pool::lease>> pg_pool::open_one() {
    auto c = std::make_unique<pg_connection>(io_);
    pg_connection::conn_params params;
    params.emplace_back("application_name", cfg_.application_name);
    auto s = co_await c->connect(cfg_.conninfo, cfg_.connect_timeout, params);
    if (!s) {
        c.reset();
        // Frees the slot (and lets a waiter try).
        release(nullptr);
        co_return std::pair{std::move(s), lease{}};
    }
    co_return std::pair{pg_status{}, lease{shared_from_this(), std::move(c)}};
}

net::awaitable<std::pair<pg_status, pg_pool::lease>> pg_pool::acquire(std::chrono::milliseconds wait) {
    std::shared_ptr<waiter> w;
    {
        std::unique_lock lock(mutex_);
        if (closed_) co_return std::pair{pg_status::fail("database pool closed"), lease{}};
        // Drop idle connections that broke while idle (e.g. a server restart
        // noticed by the last user); open_ shrinks with them.
        while (!idle_.empty()) {
            auto c = std::move(idle_.back());
            idle_.pop_back();
            if (c->is_open() && c->status()) co_return std::pair{pg_status{}, lease{shared_from_this(), std::move(c)}};
            --open_;
        }
        if (open_ < cfg_.max_connections) {
            ++open_;
            lock.unlock();
            co_return co_await open_one();
        }
        w = std::make_shared<waiter>(co_await net::this_coro::executor);
        w->timer.expires_after(wait);
        waiters_.push_back(w);
    }
    (void)co_await w->timer.async_wait(net::as_tuple(net::use_awaitable));
    bool open = false;
    {
        std::lock_guard lock(mutex_);
        if (w->handed) co_return std::pair{pg_status{}, lease{shared_from_this(), std::move(w->handed)}};
        if (w->failed) co_return std::pair{pg_status::fail("database pool closed"), lease{}};
        if (w->may_open) {
            open = true;
        } else {
            waiters_.remove(w);
            ++timeouts_;
        }
    }
    if (open) co_return co_await open_one();
    pg_status s = pg_status::fail("no database connection free within " + std::to_string(wait.count()) + " ms");
    s.timed_out = true;
    co_return std::pair{std::move(s), lease{}};
}

void pg_pool::release(std::unique_ptr<pg_connection> c) noexcept {
    std::shared_ptr<waiter> wake;
    {
        std::lock_guard lock(mutex_);
        const bool healthy = c && c->is_open() && c->status() && !closed_;
        if (!waiters_.empty() && !closed_) {
            wake = waiters_.front();
            waiters_.pop_front();
            if (healthy) wake->handed = std::move(c);
            else wake->may_open = true; // the slot passes to the waiter
        } else if (healthy) {
            idle_.push_back(std::move(c));
        } else if (open_ > 0) {
            --open_;
        }
    }
    // A connection not handed on closes here (outside the lock).
    c.reset();
    if (wake) net::post(wake->timer.get_executor(), [wake] { wake->timer.cancel(); });
}

void pg_pool::close() {
    std::vector<std::unique_ptr<pg_connection>> idle;
    std::list<std::shared_ptr<waiter>> waiters;
    {
        std::lock_guard lock(mutex_);
        closed_ = true;
        idle.swap(idle_);
        waiters.swap(waiters_);
        open_ -= std::min(open_, idle.size());
        for (auto& w : waiters) w->failed = true;
    }
    for (auto& w : waiters) net::post(w->timer.get_executor(), [w] { w->timer.cancel(); });
}

pg_pool_stats pg_pool::stats() const {
    std::lock_guard lock(mutex_);
    return pg_pool_stats{open_, idle_.size(), waiters_.size(), timeouts_};
}

} // namespace tlsync::server
