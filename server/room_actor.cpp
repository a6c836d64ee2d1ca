// The room actor: a core::room on a strand. The room decides, this file
// carries out: it routes the room's actions to connections, drives the
// room's single deadline with one timer, and flushes changed documents to
// storage (SQLite or Postgres, server/room_store.hpp) on the blocking pool
// (write-behind, at most one flush in flight).

#include "server/room_actor_impl.hpp"

#include "server/log.hpp"
#include "server/metrics.hpp"

#include <boost/asio/post.hpp>

namespace tlsync::server::detail {

using clock = std::chrono::steady_clock;

room_actor_impl::room_actor_impl(std::string id, net::any_io_executor io,
                                 net::any_io_executor blocking, const config& cfg,
                                 std::shared_ptr<const core::schema> schema,
                                 std::weak_ptr<room_owner> owner, std::shared_ptr<room_backend> backend,
                                 std::shared_ptr<lease_keeper> leases)
    : id_(std::move(id)), strand_(net::make_strand(io)), blocking_(std::move(blocking)), cfg_(cfg),
      schema_(std::move(schema)), owner_(std::move(owner)), backend_(std::move(backend)),
      leases_(std::move(leases)), timer_(strand_),
      flush_timer_(strand_), unload_timer_(strand_), release_timer_(strand_),
      gauge_timer_(strand_) {
    global_metrics().rooms_loaded.add();
}

room_actor_impl::~room_actor_impl() {
    global_metrics().rooms_loaded.sub();
    global_metrics().sessions_awaiting_connect.sub(gauge_counts_[0]);
    global_metrics().sessions_connected.sub(gauge_counts_[1]);
    global_metrics().sessions_awaiting_removal.sub(gauge_counts_[2]);
}

core::timestamp room_actor_impl::now() {
    return std::chrono::duration_cast<core::timestamp>(clock::now().time_since_epoch());
}

void room_actor_impl::when_loaded(std::function<void()> op) {
    if (phase_ == phase::loading) {
        pending_.push_back([op = std::move(op)](bool loaded) {
            if (loaded) op();
        });
        return;
    }
    if (phase_ == phase::unloading) { // someone came back: stay loaded
        phase_ = phase::running;
        unload_timer_.cancel();
    }
    op();
}

// ------------------------------------------------------------------ loading

void room_actor_impl::start() {
    net::post(blocking_, [self = self()] {
        try {
            std::optional<std::int64_t> token;
            if (self->leases_) {
                // Nothing is read before the room is ours: another node may
                // hold it, and what we read then could be stale by the time
                // we write.
                auto outcome = self->leases_->acquire(
                    self->id_, [weak = std::weak_ptr<room_actor_impl>(self)](lease_keeper::event what, std::int64_t t,
                                                                              std::string why) {
                        auto a = weak.lock();
                        if (!a) return;
                        if (what == lease_keeper::event::lost)
                            a->on_strand([a, t, why = std::move(why)] { a->lease_lost(t, why); });
                        else
                            a->on_strand([a, t] { a->handover_wanted(t); });
                    });
                if (const auto* holder = std::get_if<lease_refused>(&outcome)) {
                    self->on_strand([self, holder = *holder] { self->refused(holder); });
                    return;
                }
                token = std::get<std::int64_t>(outcome);
                // Known on the strand before anything else of this load: a
                // loss reported meanwhile, or a failed load, finds it.
                self->on_strand([self, t = *token] { self->lease_token_ = t; });
            }
            auto store = self->backend_->open(self->id_, token);
            // Migrates a stored room to the served schema, backing it up first
            // (RC3). Records stay text until used: a first connect is answered
            // from the stored bytes, and records nobody touches are never parsed.
            auto snapshot = store->load(*self->schema_, core::snapshot_form::texts);
            self->on_strand([self, store, snapshot = std::move(snapshot)]() mutable {
                self->store_ = std::move(store);
                self->loaded(std::move(snapshot));
            });
        } catch (const std::exception& e) {
            // load_failed() gives the lease back: the room is not served here after all.
            self->on_strand([self, what = std::string(e.what())] { self->load_failed(what); });
        }
    });
}

void room_actor_impl::loaded(core::room_snapshot snapshot) {
    if (lease_lost_) { // taken over while it loaded
        load_failed("lease lost while loading", 1012, "room moved to another server: reconnect");
        return;
    }
    flushed_clock_ = snapshot.document_clock;
    flushed_history_start_ = snapshot.tombstone_history_starts_at_clock;
    core::room_config rc;
    rc.idle_timeout = cfg_.session_idle_timeout;
    rc.start_wait = cfg_.session_start_wait;
    rc.removal_wait = cfg_.session_removal_wait;
    rc.data_debounce = cfg_.data_debounce;
    rc.max_documents = cfg_.max_records_per_room;
    rc.log_warning = [id = id_](std::string_view m) { log::debug(m, {{"room", id}}); };
    auto memory = std::make_unique<core::memory_storage>(std::move(snapshot), schema_->serialize());
    memory_ = memory.get();
    try {
        room_ = std::make_unique<core::room>(schema_, std::move(memory), rc, now());
    } catch (const std::exception& e) { // RC3 could not migrate the stored room
        memory_ = nullptr;
        load_failed(e.what());
        return;
    }
    phase_ = phase::running;
    loaded_at_ = clock::now();
    log::info("room loaded", {{"room", id_}, {"clock", std::to_string(room_->document_clock())}});
    auto pending = std::move(pending_);
    for (auto& op : pending) op(true);
    process();
    arm_release();
}

void room_actor_impl::load_failed(const std::string& what, std::uint16_t code, std::string reason) {
    if (code == 1011) log::error("room failed to load", {{"room", id_}, {"error", what}});
    phase_ = phase::failed;
    failure_code_ = code;
    failure_reason_ = std::move(reason);
    auto pending = std::move(pending_);
    pending_.clear();
    for (auto& op : pending) op(false);
    give_back_lease(); // a room that cannot run is not kept from other nodes
    // 1011 (the server hit a condition it could not handle) and 1013 (try
    // again later) are both retried by clients.
    for (auto& [id, sink] : sinks_)
        if (auto s = sink.lock()) s->close(failure_code_, failure_reason_);
    sinks_.clear();
    if (auto owner = owner_.lock()) owner->unloaded(id_, this); // the next attempt retries
}

// ------------------------------------------------------------------ inputs

void room_actor_impl::join(core::socket_ref socket, bool is_readonly, std::weak_ptr<session_sink> sink) {
    on_strand([this, socket = std::move(socket), is_readonly, sink = std::move(sink)]() mutable {
        if (phase_ == phase::stopped) {
            if (handing_over_ && !successor_) { // until the lease is released: reconnect then
                if (auto s = sink.lock()) s->close(1012, stop_reason_);
                return;
            }
            if (!successor_)
                if (auto owner = owner_.lock()) successor_ = owner->reacquire(id_);
            if (successor_) successor_->join(std::move(socket), is_readonly, std::move(sink));
            else if (auto s = sink.lock()) s->close(1012, "server shutting down");
            return;
        }
        if (phase_ == phase::failed) {
            if (auto s = sink.lock()) s->close(failure_code_, failure_reason_);
            return;
        }
        sinks_[socket.socket_id] = sink;
        when_loaded([this, socket, is_readonly] {
            if (room_full_for(socket)) {
                if (auto it = sinks_.find(socket.socket_id); it != sinks_.end()) {
                    if (auto s = it->second.lock()) s->close(proto::sync_error_close_code, std::string(proto::close_reason::room_full));
                    sinks_.erase(it);
                }
                global_metrics().count_rejection(reject_reason::room_full);
                log::info("session rejected", {{"room", id_}, {"session", socket.session_id}, {"reason", "ROOM_FULL"}});
                return;
            }
            // While the room's storage fails, sessions can look but not edit.
            room_->handle_new_session(socket, is_readonly || storage_readonly_, now());
            process();
        });
    });
}

// --max-sessions-per-room: sessions that are leaving (awaiting removal) do
// not count, nor does the joining session's own earlier socket (a reconnect
// replaces it).
bool room_actor_impl::room_full_for(const core::socket_ref& socket) const {
    if (cfg_.max_sessions_per_room == 0) return false;
    std::size_t live = 0;
    for (const auto& s : room_->sessions())
        if (s.state != core::session_state::awaiting_removal && s.session_id != socket.session_id) ++live;
    return live >= cfg_.max_sessions_per_room;
}

void room_actor_impl::message(core::socket_ref socket, proto::client_message msg) {
    submit(std::move(socket), std::move(msg), nullptr);
}

void room_actor_impl::submit(core::socket_ref socket, proto::client_message msg,
                             std::shared_ptr<const void> receipt) {
    // `receipt` lives exactly as long as these closures: whichever way the
    // message goes (applied, queued while loading, forwarded, dropped), the
    // sender hears of it when the last one is destroyed.
    on_strand([this, socket = std::move(socket), msg = std::move(msg),
               receipt = std::move(receipt)]() mutable {
        if (phase_ == phase::stopped && successor_) {
            successor_->submit(std::move(socket), std::move(msg), std::move(receipt));
            return;
        }
        if (phase_ == phase::failed || phase_ == phase::stopped) return;
        when_loaded([this, socket = std::move(socket), msg = std::move(msg), receipt] {
            const bool is_push = std::holds_alternative<proto::push_request>(msg);
            const auto t0 = clock::now();
            room_->handle_message(socket, msg, now());
            process();
            if (is_push)
                global_metrics().push_seconds.observe(
                    std::chrono::duration<double>(clock::now() - t0).count());
        });
    });
}

void room_actor_impl::leave(core::socket_ref socket) {
    on_strand([this, socket = std::move(socket)]() mutable {
        if (phase_ == phase::stopped && successor_) {
            successor_->leave(std::move(socket));
            return;
        }
        if (phase_ != phase::running && phase_ != phase::unloading && phase_ != phase::loading) return;
        when_loaded([this, socket] {
            room_->handle_close(socket, now());
            process();
        });
    });
}

void room_actor_impl::reject(core::socket_ref socket, std::string reason) {
    on_strand([this, socket = std::move(socket), reason = std::move(reason)]() mutable {
        if (phase_ == phase::stopped && successor_) {
            successor_->reject(std::move(socket), std::move(reason));
            return;
        }
        if (phase_ == phase::failed || phase_ == phase::stopped) return;
        when_loaded([this, socket, reason] {
            // Reject the session only while this socket is its current one:
            // a newer socket of the same session must not pay for an old one.
            bool current = false;
            for (const auto& s : room_->sessions())
                if (s.session_id == socket.session_id && s.socket_id == socket.socket_id) current = true;
            if (current) {
                room_->reject_session(socket.session_id, reason);
            } else if (auto it = sinks_.find(socket.socket_id); it != sinks_.end()) {
                if (auto s = it->second.lock()) s->close(proto::sync_error_close_code, reason);
                sinks_.erase(it);
            }
            global_metrics().count_rejection(reject_reason_from_close_reason(reason));
            process();
        });
    });
}

void room_actor_impl::visit(std::function<void(core::room*)> f) {
    on_strand([this, f = std::move(f)]() mutable {
        if (phase_ == phase::loading) {
            pending_.push_back([this, f = std::move(f)](bool loaded) {
                f(loaded ? room_.get() : nullptr);
                if (loaded) process();
            });
            return;
        }
        f(phase_ == phase::running || phase_ == phase::unloading ? room_.get() : nullptr);
        if (room_) process();
    });
}

} // namespace tlsync::server::detail
