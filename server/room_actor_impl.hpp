#pragma once
// The room actor's implementation, shared by room_actor.cpp and
// room_service.cpp. Everything below runs on strand_ unless it says so.

#include "core/memory_storage.hpp"
#include "core/room.hpp"
#include "server/config.hpp"
#include "server/lease_keeper.hpp"
#include "server/log.hpp"
#include "server/room_actor.hpp"
#include "server/room_store.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <unordered_map>
#include <vector>

namespace tlsync::server {

namespace net = boost::asio;

namespace detail {

class room_owner {
public:
    virtual ~room_owner() = default;
    // The actor finished unloading: forget it (if it is still the one mapped).
    virtual void unloaded(const std::string& id, const room_actor* actor) = 0;
    // The successor for an actor that unloaded while a session still came in.
    virtual std::shared_ptr<room_actor> reacquire(const std::string& id) = 0;
};

class room_actor_impl final : public room_actor {
public:
    room_actor_impl(std::string id, net::any_io_executor io, net::any_io_executor blocking,
                    const config& cfg, std::shared_ptr<const core::schema> schema,
                    std::weak_ptr<room_owner> owner, std::shared_ptr<room_backend> backend,
                    std::shared_ptr<lease_keeper> leases = nullptr);
    ~room_actor_impl() override;

    const std::string& id() const noexcept override { return id_; }
    void join(core::socket_ref socket, bool is_readonly, std::weak_ptr<session_sink> sink) override;
    [[nodiscard]] bool room_full_for(const core::socket_ref& socket) const;
    void message(core::socket_ref socket, proto::client_message msg) override;
    void submit(core::socket_ref socket, proto::client_message msg,
                std::shared_ptr<const void> receipt) override;
    void leave(core::socket_ref socket) override;
    void reject(core::socket_ref socket, std::string reason) override;

    // Starts loading from disk (after taking the room's lease, with leases).
    // Called once, by the owner, after construction.
    void start();
    // Shutdown: stop taking input, flush, release the lease, close every
    // session with `code`, then `done` (on the strand). When the flush
    // fails, the sessions are closed at once and the flush keeps retrying.
    void stop(std::uint16_t code, std::function<void()> done);
    void visit(std::function<void(core::room*)> f) override;

private:
    enum class phase { loading, running, unloading, stopped, failed };

    std::shared_ptr<room_actor_impl> self() {
        return std::static_pointer_cast<room_actor_impl>(shared_from_this());
    }
    template <class F> void on_strand(F&& f);
    void when_loaded(std::function<void()> op);
    void loaded(core::room_snapshot snapshot);
    void load_failed(const std::string& what, std::uint16_t code = 1011,
                     std::string reason = "room unavailable");
    void refused(const lease_refused& holder);
    // The lease is gone (not renewed, or a write was fenced off): write
    // nothing more, send the sessions to reconnect, unload.
    void lease_lost(std::int64_t token, const std::string& why);
    void give_back_lease(); // posts the release of a lease this actor holds
    // Another node asks for the room: hand it over as a drain would.
    void handover_wanted(std::int64_t token);
    void finish_stop();

    static core::timestamp now();
    void process(); // carries out the room's actions, re-arms timers
    void carry_out(core::room_action& action);
    void release_durable(); // --durability fsync: the held actions whose edits are on disk
    void give_up_held();    // the held actions passed their bound: drop them, close the sessions
    void drop_held_messages();
    void close_sinks(std::uint16_t code, const std::string& reason, bool count_as_storage_failure);
    void note_flush_outcome(bool ok); // a failing store turns the room read-only, and back
    [[nodiscard]] static std::size_t held_size(const core::room_action& action) noexcept;
    void arm_timer();
    void arm_flush();
    void start_flush();
    void arm_release();
    void flush_done(const core::room_delta& written, std::optional<std::string> error, bool fenced);
    void maybe_unload();
    void update_session_gauges(bool force);
    [[nodiscard]] bool dirty() const;

    std::string id_;
    net::strand<net::any_io_executor> strand_;
    net::any_io_executor blocking_;
    const config& cfg_;
    std::shared_ptr<const core::schema> schema_;
    std::weak_ptr<room_owner> owner_;
    std::shared_ptr<room_backend> backend_; // opens store_, on the blocking pool
    std::shared_ptr<lease_keeper> leases_;  // null unless rooms are leased (--storage postgres)
    std::optional<std::int64_t> lease_token_; // the lease this actor holds, once loaded
    bool lease_lost_ = false;
    std::uint16_t failure_code_ = 1011; // what phase::failed closes late joiners with
    std::string failure_reason_ = "room unavailable";
    std::optional<std::uint16_t> stop_code_; // stop() was called: the sessions' close code
    bool stop_closed_ = false;               // ... and they were closed
    std::string stop_reason_ = "server shutting down";
    bool handing_over_ = false; // stop() for another node that asked for the room
    std::chrono::steady_clock::time_point loaded_at_{};

    phase phase_ = phase::loading;
    // What arrived while loading, in order; run with whether the room loaded
    // (a visit still gets its nullptr when it did not).
    std::vector<std::function<void(bool loaded)>> pending_;
    std::unique_ptr<core::room> room_;
    core::memory_storage* memory_ = nullptr; // owned by room_
    std::shared_ptr<room_store> store_;      // used on the blocking pool only
    std::unordered_map<std::uint64_t, std::weak_ptr<session_sink>> sinks_;
    std::shared_ptr<room_actor> successor_;

    net::steady_timer timer_;
    std::optional<core::timestamp> armed_for_;
    net::steady_timer flush_timer_;
    bool flush_armed_ = false;
    bool flush_in_flight_ = false;
    std::chrono::milliseconds flush_backoff_{0};
    std::int64_t flushed_clock_ = 0;
    std::int64_t flushed_history_start_ = 0;
    // The schema the store holds (memory_storage::schema_version); unknown
    // until the first flush, which writes it.
    std::optional<std::uint64_t> flushed_schema_version_;
    net::steady_timer unload_timer_;
    net::steady_timer release_timer_; // closes the store's handle once the room is quiet
    std::vector<std::function<void()>> after_flush_; // stop() waiting for the last flush
    // --durability fsync: actions waiting for the document clock they follow
    // to be flushed, in the order the room gave them.
    std::deque<std::pair<std::int64_t, core::room_action>> held_;
    std::size_t held_bytes_ = 0; // what held_'s messages would put on the wire
    // Flushes failing since then; past a grace the room is read-only.
    std::optional<std::chrono::steady_clock::time_point> failing_since_;
    bool storage_readonly_ = false;

    std::int64_t gauge_counts_[3] = {0, 0, 0};
    std::chrono::steady_clock::time_point gauges_updated_{};
    net::steady_timer gauge_timer_; // publishes what a throttled update left out
    bool gauge_timer_armed_ = false;
};

template <class F> void room_actor_impl::on_strand(F&& f) {
    // Exceptions are bugs: log them at the actor boundary and keep the
    // process, and every other room, running.
    net::post(strand_, [self = self(), f = std::forward<F>(f)]() mutable {
        try {
            f();
        } catch (const std::exception& e) {
            log::error("room actor failed", {{"room", self->id()}, {"error", e.what()}});
        }
    });
}

} // namespace detail
} // namespace tlsync::server
