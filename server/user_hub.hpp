#pragma once
// The user plane of the replicator: one user_actor per connected user id
// (several sockets of one user share it), created when the first socket
// arrives and gone when the last one leaves. The replicator's handlers feed
// the hub (on its strand); the hub splits deliveries per user and posts each
// user's share to that actor's strand, so a slow or busy user never holds up
// the replicator or anyone else.
//
//   user_socket ──join/message/leave──▶ user_actor (strand) ──frames──▶ user_socket(s)
//                                          ▲   │ register / unregister
//   replicator ──on_deliveries──▶ user_hub ┘   ▼
//                                         replicator::with_history
//
// Thread-safe: the actor map is under a mutex (the only one here).

#include "core/replication_history.hpp"
#include "server/replicator.hpp"
#include "server/user_backend.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace tlsync::server {

// Runs `f` with the replicator's history (on its blocking pool) and resumes
// the coroutine with the result. The result is posted to the coroutine's
// executor from inside with_history, while the history is still held: a
// delivery recorded after a registration is therefore always posted to a
// user actor after the registration's own result.
template <class R>
net::awaitable<R> history_call(std::shared_ptr<replicator> r,
                               std::function<R(core::pg::replication_history*)> f) {
    auto initiate = [r = std::move(r), f = std::move(f)](auto handler) mutable {
        auto shared = std::make_shared<decltype(handler)>(std::move(handler));
        r->with_history([f = std::move(f), shared](core::pg::replication_history* h) mutable {
            R result = f(h);
            auto ex = net::get_associated_executor(*shared);
            net::post(ex, [shared, result = std::move(result)]() mutable { (*shared)(std::move(result)); });
        });
    };
    co_return co_await net::async_initiate<decltype(net::use_awaitable), void(R)>(std::move(initiate),
                                                                                net::use_awaitable);
}

// The socket side of a user actor. Thread-safe; never blocks.
class user_sink {
public:
    virtual ~user_sink() = default;
    // Queues text frames, in order, for the socket's single writer (one
    // hop to its strand for all of them). Over its bound (bytes or frames)
    // the socket closes itself with 1008.
    virtual void send(std::vector<std::shared_ptr<const std::string>> frames) = 0;
    void send(std::shared_ptr<const std::string> frame) {
        std::vector<std::shared_ptr<const std::string>> one;
        one.push_back(std::move(frame));
        send(std::move(one));
    }
    // Closes after what is queued. Idempotent.
    virtual void close(std::uint16_t code, std::string reason) = 0;
    [[nodiscard]] virtual std::size_t queued_bytes() const noexcept = 0;
    [[nodiscard]] virtual std::size_t queued_frames() const noexcept = 0;
};

struct user_hub_config {
    // Registration waits this long for the replicator's state to be ready
    // (the first boot) before the socket is closed with 1013 (try again).
    std::chrono::milliseconds ready_wait{15000};
    std::size_t max_pending_mutations = 64; // per user; more closes the socket (4099)
    bool insecure_trust_user_id = false;     // --app-users-insecure
};

class user_actor;

class user_hub : public std::enable_shared_from_this<user_hub> {
public:
    user_hub(net::any_io_executor io, std::shared_ptr<user_backend> backend, user_hub_config cfg);
    ~user_hub();

    // Before the replicator starts (the replicator's handlers point here).
    void set_replicator(std::shared_ptr<replicator> r);
    [[nodiscard]] replicator::handlers handlers();
    // For on_transaction: rooms follow files (set by the server).
    void set_transaction_observer(std::function<void(const core::pg::transaction&)> f);

    [[nodiscard]] const user_hub_config& config() const noexcept { return cfg_; }

    // The user's actor, created if needed; nullptr once stopping.
    [[nodiscard]] std::shared_ptr<user_actor> attach(const std::string& user_id);

    // Closes every user socket with `code` (1012 on shutdown) and stops
    // registering; `done` runs when every actor has unregistered or at once.
    void stop(std::uint16_t code, std::function<void()> done);

    // {"users":[{"userId","sockets","queuedFrames","queuedBytes","sequenceId","sequenceNumber"}...]}
    [[nodiscard]] boost::json::array users_json() const;
    [[nodiscard]] std::size_t user_count() const;

    // Called by actors.
    void actor_gone(const std::string& user_id, const user_actor* actor);
    [[nodiscard]] std::shared_ptr<replicator> repl() const;
    [[nodiscard]] const std::shared_ptr<user_backend>& backend() const noexcept { return backend_; }
    [[nodiscard]] const net::any_io_executor& io() const noexcept { return io_; }

private:
    void deliver(std::vector<core::pg::user_delivery> d);
    void sequence_break();
    // Deliveries for a user nobody is connected as: routing stops.
    void unregister_stray(const std::string& user_id, const std::string& sequence_id);

    net::any_io_executor io_;
    std::shared_ptr<user_backend> backend_;
    user_hub_config cfg_;
    mutable std::mutex mutex_;
    std::map<std::string, std::shared_ptr<user_actor>, std::less<>> actors_;
    std::shared_ptr<replicator> repl_;
    std::function<void(const core::pg::transaction&)> on_transaction_;
    bool stopping_ = false;
};

// The body of GET /replicator/diagnostics: replicator stats, the history's
// diagnostics, the database pool, and the connected users with their queues.
[[nodiscard]] net::awaitable<boost::json::object> replicator_diagnostics(std::shared_ptr<replicator> r,
                                                                         std::shared_ptr<user_hub> hub,
                                                                         std::shared_ptr<pg_pool> pool);

} // namespace tlsync::server
