// The room actor under a lease (--storage postgres; docs/SCALING.md): a
// room refused because another node holds it, a lease given back, a lease
// lost. Taking the lease is part of loading (room_actor.cpp), releasing it
// part of unloading and shutdown (room_actor_run.cpp).

#include "server/room_actor_impl.hpp"

#include "server/log.hpp"
#include "server/metrics.hpp"

#include <boost/asio/post.hpp>

namespace tlsync::server::detail {

// Another node holds the room's lease: this one must not serve it. Its
// sessions are refused with 1013 (try again later), which tldraw's client
// retries (unlike 4099): once the owner drains or dies, a retry lands.
void room_actor_impl::refused(const lease_refused& holder) {
    log::info("room refused: another node holds its lease",
              {{"room", id_},
               {"holder", holder.holder},
               {"lease_left_ms", std::to_string(holder.left.count())}});
    global_metrics().count_rejection(reject_reason::room_owned_elsewhere);
    // The holder's name stays in the log: node ids are internal host names.
    load_failed("", 1013, "room is served by another server; retry");
}

void room_actor_impl::give_back_lease() {
    if (!lease_token_ || !leases_) return;
    net::post(blocking_,
              [leases = leases_, id = id_, token = *std::exchange(lease_token_, std::nullopt)] {
                  leases->release(id, token);
              });
}

// Another node was refused this room lately: the proxy now routes the room's
// clients there (a node back from a restart, say). Once this node has held
// the room for a lease duration (so that two nodes reached by the same room's
// clients do not pass it back and forth), it hands the room over as a drain
// does: input stops, the last flush, the lease released, the sessions sent to
// reconnect (1012), the actor unloaded. Until it is, later requests are
// reported again at each renewal.
void room_actor_impl::handover_wanted(std::int64_t token) {
    if (lease_token_ != token || lease_lost_ || handing_over_) return;
    if (phase_ != phase::running && phase_ != phase::unloading) return;
    if (std::chrono::steady_clock::now() - loaded_at_ < cfg_.lease_duration) return;
    handing_over_ = true;
    global_metrics().room_handovers.inc();
    log::info("handing the room over: another server asks for it",
              {{"room", id_}, {"sessions", std::to_string(sinks_.size())}});
    stop_reason_ = "room moved to another server: reconnect";
    stop(1012, [self = self()] {
        if (auto owner = self->owner_.lock()) owner->unloaded(self->id_, self.get());
    });
}

void room_actor_impl::lease_lost(std::int64_t token, const std::string& why) {
    if (lease_lost_ || lease_token_ != token) return; // an earlier lease, or handled
    lease_lost_ = true;
    lease_token_.reset();
    if (phase_ == phase::loading) return; // loaded() turns the sessions away
    const bool unflushed = dirty();
    log::error("room lease lost: closing its sessions; another server serves the room now",
               {{"room", id_},
                {"why", why},
                {"unflushed_changes", unflushed ? "yes" : "no"},
                {"sessions", std::to_string(sinks_.size())}});
    // Nothing more is written: what is not flushed yet is lost with the
    // lease (with --durability fsync nothing unflushed was acknowledged).
    if (cfg_.durable_acks()) drop_held_messages();
    for (auto& [id, weak] : sinks_)
        if (auto sink = weak.lock()) {
            // 1012 (service restart): clients reconnect, and reach the owner.
            sink->close(1012, "room moved to another server: reconnect");
            global_metrics().count_rejection(reject_reason::lease_lost);
        }
    sinks_.clear();
    pending_.clear();
    const bool was_stopped = phase_ == phase::stopped;
    phase_ = phase::stopped;
    stop_closed_ = true;
    timer_.cancel();
    flush_timer_.cancel();
    unload_timer_.cancel();
    release_timer_.cancel();
    gauge_timer_.cancel();
    if (room_) room_->close();
    update_session_gauges(true);
    // A shutdown waiting for the last flush: there is nothing more to write.
    auto waiting = std::move(after_flush_);
    after_flush_.clear();
    for (auto& f : waiting)
        f();
    if (!was_stopped)
        if (auto owner = owner_.lock())
            owner->unloaded(id_, this); // a new session makes a new actor
}

} // namespace tlsync::server::detail
