// The room actor's machinery: carrying out actions, the deadline timer,
// write-behind flushing, unloading and shutdown.

#include "server/room_actor_impl.hpp"

#include "server/log.hpp"
#include "server/metrics.hpp"

#include <boost/asio/post.hpp>

namespace tlsync::server::detail {

using clock = std::chrono::steady_clock;


void room_actor_impl::process() {
    auto actions = room_->take_actions();
    if (cfg_.durable_acks()) {
        // --durability fsync: what the room says once an edit has happened
        // (the push_result, the patches, a connect showing it) waits until
        // the edit is on disk, in order; what follows no unsaved edit goes
        // at once.
        const auto clock = memory_ ? memory_->get_clock() : 0;
        for (auto& action : actions) {
            held_bytes_ += held_size(action);
            held_.emplace_back(clock, std::move(action));
        }
        release_durable();
        if (held_bytes_ > cfg_.max_outbound_queue_bytes) give_up_held();
    } else {
        for (auto& action : actions) carry_out(action);
    }
    update_session_gauges(false);
    arm_timer();
    arm_flush();
}

std::size_t room_actor_impl::held_size(const core::room_action& action) noexcept {
    const auto* send = std::get_if<core::send_action>(&action);
    return send ? send->message.size() : 0;
}

void room_actor_impl::release_durable() {
    while (!held_.empty() && held_.front().first <= flushed_clock_) {
        auto action = std::move(held_.front().second);
        held_bytes_ -= held_size(action);
        held_.pop_front();
        carry_out(action);
    }
}

// Drops the held messages (--durability fsync): none was sent, so no edit
// they follow was acknowledged. Closes and removals still happen.
void room_actor_impl::drop_held_messages() {
    auto held = std::move(held_);
    held_.clear();
    held_bytes_ = 0;
    for (auto& [clock, action] : held)
        if (!std::holds_alternative<core::send_action>(action)) carry_out(action);
}

void room_actor_impl::close_sinks(std::uint16_t code, const std::string& reason, bool count) {
    for (auto& [id, weak] : sinks_)
        if (auto sink = weak.lock()) {
            sink->close(code, reason);
            if (count) global_metrics().count_rejection(reject_reason::storage_unavailable);
        }
}

// --durability fsync while the disk refuses this room's edits: what waits for
// them grew past --max-outbound-queue-bytes. Drop it and close every session
// with 1011, which clients retry; they push again what they had not seen
// acknowledged. The room stays in memory, flushing with backoff, so the edits
// are not lost if the disk comes back; memory stays bounded meanwhile.
void room_actor_impl::give_up_held() {
    const auto bytes = held_bytes_;
    drop_held_messages();
    log::error("room storage failing: messages waiting for the disk passed --max-outbound-queue-bytes; "
               "closing the room's sessions (1011) until it recovers",
               {{"room", id_}, {"held_bytes", std::to_string(bytes)}, {"sessions", std::to_string(sinks_.size())}});
    close_sinks(1011, "storage unavailable: edits cannot be saved; retrying", true);
}

// Flushes have failed for ten flush intervals (at least 1 s): a full or
// read-only disk, not a hiccup. The room turns read-only: its sessions are
// closed with 1011 and come back read-only (they see the room, edits are
// refused), what changed stays in memory and the flush keeps retrying. When
// a flush succeeds again, the read-only sessions are closed with 1012 to
// come back writable.
void room_actor_impl::note_flush_outcome(bool ok) {
    const auto t = clock::now();
    if (ok) {
        failing_since_.reset();
        if (!storage_readonly_) return;
        storage_readonly_ = false;
        log::info("room storage works again: sessions reconnect to edit", {{"room", id_}});
        close_sinks(1012, "storage recovered: reconnect to edit", false);
        return;
    }
    if (!failing_since_) failing_since_ = t;
    const auto grace = std::max<clock::duration>(std::chrono::seconds(1), 10 * cfg_.flush_interval);
    if (storage_readonly_ || t - *failing_since_ < grace) return;
    storage_readonly_ = true;
    if (cfg_.durable_acks()) drop_held_messages();
    log::error("room storage failing: the room is read-only until its changes can be saved",
               {{"room", id_}, {"sessions", std::to_string(sinks_.size())}});
    close_sinks(1011, "storage unavailable: the room is read-only until its data can be saved", true);
}

void room_actor_impl::carry_out(core::room_action& action) {
    if (auto* send = std::get_if<core::send_action>(&action)) {
        auto it = sinks_.find(send->to.socket_id);
        if (it == sinks_.end()) return;
        // The connection counts what it writes (messages_out/bytes_out).
        if (auto sink = it->second.lock()) sink->deliver(std::move(send->message));
    } else if (auto* close = std::get_if<core::close_action>(&action)) {
        auto it = sinks_.find(close->to.socket_id);
        if (it == sinks_.end()) return;
        if (auto sink = it->second.lock()) sink->close(close->code, close->reason);
        if (close->code == proto::sync_error_close_code) {
            global_metrics().count_rejection(reject_reason_from_close_reason(close->reason));
            log::info("session rejected", {{"room", id_}, {"session", close->to.session_id},
                                           {"reason", close->reason}});
        }
    } else if (auto* removed = std::get_if<core::session_removed_event>(&action)) {
        sinks_.erase(removed->socket_id);
        log::debug("session removed", {{"room", id_}, {"session", removed->session_id}});
    } else if (std::holds_alternative<core::room_became_empty_event>(action)) {
        maybe_unload();
    }
}

// ------------------------------------------------------------------ timer

void room_actor_impl::arm_timer() {
    const auto at = room_ ? room_->next_deadline() : std::nullopt;
    if (at == armed_for_) return;
    armed_for_ = at;
    if (!at) {
        timer_.cancel();
        return;
    }
    timer_.expires_at(clock::time_point(std::chrono::duration_cast<clock::duration>(*at)));
    timer_.async_wait([self = self(), at](boost::system::error_code ec) {
        if (ec || self->armed_for_ != at || !self->room_) return; // re-armed or cancelled
        self->armed_for_.reset();
        try {
            self->room_->on_timer(now());
            self->process();
        } catch (const std::exception& e) {
            log::error("room timer failed", {{"room", self->id_}, {"error", e.what()}});
        }
    });
}

void room_actor_impl::update_session_gauges(bool force) {
    constexpr auto period = std::chrono::milliseconds(250);
    const auto t = clock::now();
    if (!force && t - gauges_updated_ < period) {
        // Publish the rest once the period is over: a room that goes quiet
        // runs nothing else that would, and its gauges would stay stale.
        if (!gauge_timer_armed_) {
            gauge_timer_armed_ = true;
            gauge_timer_.expires_at(gauges_updated_ + period);
            gauge_timer_.async_wait([self = self()](boost::system::error_code ec) {
                self->gauge_timer_armed_ = false;
                if (!ec) self->update_session_gauges(true);
            });
        }
        return;
    }
    gauges_updated_ = t;
    std::int64_t counts[3] = {0, 0, 0};
    if (room_ && phase_ != phase::stopped)
        for (const auto& s : room_->sessions()) ++counts[static_cast<int>(s.state)];
    auto& m = global_metrics();
    gauge* gauges[3] = {&m.sessions_awaiting_connect, &m.sessions_connected, &m.sessions_awaiting_removal};
    for (int i = 0; i < 3; ++i) {
        gauges[i]->add(counts[i] - gauge_counts_[i]);
        gauge_counts_[i] = counts[i];
    }
}

// ------------------------------------------------------------------ flushing

bool room_actor_impl::dirty() const {
    return memory_ && (memory_->get_clock() != flushed_clock_ ||
                       memory_->tombstone_history_starts_at_clock() != flushed_history_start_);
}

void room_actor_impl::arm_flush() {
    if (flush_in_flight_ || !dirty()) return;
    // --durability fsync: messages wait for this flush; write now (what
    // arrives meanwhile goes in the next one: group commit). After a failure
    // the backoff applies as usual.
    if (cfg_.durable_acks() && !held_.empty() && flush_backoff_.count() == 0) {
        if (flush_armed_) flush_timer_.cancel(); // its handler finds the flush in flight
        start_flush();
        return;
    }
    if (flush_armed_) return;
    flush_armed_ = true;
    flush_timer_.expires_after(cfg_.flush_interval + flush_backoff_);
    flush_timer_.async_wait([self = self()](boost::system::error_code) {
        self->flush_armed_ = false;
        self->start_flush();
    });
}

void room_actor_impl::start_flush() {
    if (flush_in_flight_ || !memory_ || !store_ || lease_lost_) return;
    if (!dirty()) {
        auto waiting = std::move(after_flush_);
        for (auto& f : waiting) f();
        return;
    }
    flush_in_flight_ = true;
    // Only the copy of what changed happens on the strand; encoding and the
    // SQLite transaction happen on the blocking pool.
    const auto t_strand = clock::now();
    auto delta = std::make_shared<core::room_delta>(memory_->delta_since(flushed_clock_, flushed_schema_version_));
    global_metrics().flush_strand_seconds.observe(
        std::chrono::duration<double>(clock::now() - t_strand).count());
    // The store goes along: a lost lease lets go of store_ on the strand
    // while this write may still run.
    net::post(blocking_, [self = self(), delta, store = store_] {
        const auto t0 = clock::now();
        std::optional<std::string> error;
        bool fenced = false;
        try {
            store->write(*delta);
        } catch (const lease_lost_error& e) {
            error = e.what();
            fenced = true;
        } catch (const std::exception& e) {
            error = e.what();
        }
        global_metrics().flush_seconds.observe(std::chrono::duration<double>(clock::now() - t0).count());
        net::post(self->strand_, [self, delta, error = std::move(error), fenced] {
            self->flush_done(*delta, error, fenced);
        });
    });
}

void room_actor_impl::flush_done(const core::room_delta& written, std::optional<std::string> error,
                                 bool fenced) {
    flush_in_flight_ = false;
    if (fenced && lease_token_) {
        // Another node owns the room now: nothing of this flush landed.
        leases_->fenced(id_, *lease_token_, *error);
        lease_lost(*lease_token_, *error);
    }
    if (lease_lost_) return;
    if (error) {
        // Keep everything in memory and retry with backoff: an edit that was
        // acknowledged is never dropped because the disk hiccuped.
        global_metrics().flushes_failed.inc();
        flush_backoff_ = std::min(std::chrono::milliseconds(30000),
                                  std::max(std::chrono::milliseconds(500), flush_backoff_ * 2));
        log::error("room flush failed", {{"room", id_}, {"error", *error}});
        note_flush_outcome(false);
        if (stop_code_ && !stop_closed_) {
            // Shutting down, and storage fails: the sessions go now (they
            // retry elsewhere or later) while the flush keeps trying until
            // the shutdown deadline; the lease is kept (it lapses by itself).
            stop_closed_ = true;
            room_->close(*stop_code_, stop_reason_);
            process();
        }
    } else {
        flush_backoff_ = std::chrono::milliseconds(0);
        flushed_clock_ = written.document_clock;
        flushed_history_start_ = written.tombstone_history_starts_at_clock;
        flushed_schema_version_ = written.schema_version;
        note_flush_outcome(true);
        arm_release();
        release_durable();
    }
    if (!after_flush_.empty() && !error) {
        start_flush(); // more changed while we wrote, or run the waiters
        return;
    }
    arm_flush();
    if (phase_ == phase::unloading) maybe_unload();
}

// A room nobody writes to does not need its database open: the handle
// (schema, prepared statements, lookaside: ~70 KB) is most of what an idle
// room costs. Closed after a quiet spell; the next flush opens it again.
void room_actor_impl::arm_release() {
    static constexpr auto quiet = std::chrono::seconds(2);
    release_timer_.expires_after(quiet); // re-arming cancels the previous wait
    release_timer_.async_wait([self = self()](boost::system::error_code ec) {
        if (ec || !self->store_ || self->flush_in_flight_ || self->dirty()) return;
        // room_store serializes this with a flush that may start meanwhile.
        net::post(self->blocking_, [store = self->store_] { store->release(); });
    });
}

// ------------------------------------------------------------------ unloading

void room_actor_impl::maybe_unload() {
    if (phase_ == phase::stopped || phase_ == phase::failed) return;
    if (!room_ || room_->session_count() > 0) return;
    if (phase_ == phase::running) {
        // Keep an empty room a little: reloads are not free, and a client
        // whose connection blipped is usually right back.
        phase_ = phase::unloading;
        unload_timer_.expires_after(cfg_.room_unload_delay);
        unload_timer_.async_wait([self = self()](boost::system::error_code ec) {
            if (!ec && self->phase_ == phase::unloading) self->maybe_unload();
        });
        return;
    }
    // phase::unloading, the delay has passed: flush everything, then go.
    if (unload_timer_.expiry() > clock::now()) return;
    if (dirty() || flush_in_flight_) {
        if (!flush_in_flight_) start_flush();
        return;
    }
    phase_ = phase::stopped;
    timer_.cancel();
    flush_timer_.cancel();
    release_timer_.cancel();
    gauge_timer_.cancel();
    room_->close();
    update_session_gauges(true);
    log::info("room unloaded", {{"room", id_}});
    give_back_lease(); // everything is written: another node may take it at once
    // The database closes on the blocking pool with the last reference.
    net::post(blocking_, [store = std::move(store_)]() mutable { store.reset(); });
    if (auto owner = owner_.lock()) owner->unloaded(id_, this);
}

// ------------------------------------------------------------------ shutdown

void room_actor_impl::stop(std::uint16_t code, std::function<void()> done) {
    on_strand([this, code, done = std::move(done)]() mutable {
        if (phase_ == phase::loading) {
            pending_.push_back([this, code, done = std::move(done)](bool) mutable { stop(code, std::move(done)); });
            return;
        }
        if (!room_ || phase_ == phase::stopped || phase_ == phase::failed) {
            done();
            return;
        }
        // Input stops here (messages are dropped: none of them was
        // acknowledged, and clients push them again after reconnecting);
        // the sessions stay open until the room is handed over, so that
        // their reconnects find it free.
        phase_ = phase::stopped;
        stop_code_ = code;
        timer_.cancel();
        unload_timer_.cancel();
        release_timer_.cancel();
        gauge_timer_.cancel();
        after_flush_.push_back([this, done = std::move(done)]() mutable {
            // Everything is written. With a lease, release it before the
            // sessions go, so that their reconnects (to any node) can load
            // the room at once instead of waiting for the lease to lapse.
            if (!lease_token_ || !leases_) {
                finish_stop();
                done();
                return;
            }
            net::post(blocking_, [self = self(), token = *std::exchange(lease_token_, std::nullopt),
                                  done = std::move(done)]() mutable {
                self->leases_->release(self->id_, token);
                self->on_strand([self, done = std::move(done)] {
                    self->finish_stop();
                    done();
                });
            });
        });
        start_flush();
    });
}

void room_actor_impl::finish_stop() {
    if (!stop_closed_ && stop_code_) {
        stop_closed_ = true;
        room_->close(*stop_code_, stop_reason_);
        process();
    }
    update_session_gauges(true);
    net::post(blocking_, [store = std::move(store_)]() mutable { store.reset(); });
}

} // namespace tlsync::server::detail
