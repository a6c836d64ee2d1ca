#include "server/user_actor.hpp"

#include "server/log.hpp"
#include "server/metrics.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <atomic>
#include <random>

namespace tlsync::server {

namespace {

namespace pg = core::pg;
namespace proto = core::user;
using namespace std::chrono_literals;

// Close codes: 4099 is tldraw's "do not retry as is" (protocol errors);
// 1011 an internal error, 1013 "try again later".
constexpr std::uint16_t close_protocol = 4099;
constexpr std::uint16_t close_internal = 1011;
constexpr std::uint16_t close_try_later = 1013;

std::int64_t wall_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// A registration's part of the sequence id: unique per registration, so
// deliveries meant for an earlier one are recognised as stale.
std::string new_suffix() {
    static std::atomic<std::uint64_t> counter{0};
    thread_local std::mt19937_64 rng{std::random_device{}()};
    char buf[40];
    std::snprintf(buf, sizeof buf, "-%08llx%llx", static_cast<unsigned long long>(rng() & 0xffffffffULL),
                  static_cast<unsigned long long>(counter.fetch_add(1)));
    return buf;
}

std::shared_ptr<const std::string> share(std::string s) { return std::make_shared<const std::string>(std::move(s)); }

struct history_result {
    bool ready = false; // the replicator's state is open and has an epoch
    std::string error;
    pg::registration reg;
};

// Runs on the replicator's blocking pool (replicator::with_history).
std::function<history_result(pg::replication_history*)> registration_call(std::string user, pg::lsn seen,
                                                                         std::vector<std::string> guests,
                                                                         std::string suffix) {
    return [user = std::move(user), seen, guests = std::move(guests),
            suffix = std::move(suffix)](pg::replication_history* h) {
        history_result r;
        if (!h) return r;
        try {
            r.reg = h->register_user(user, seen, guests, suffix, wall_ms());
            r.ready = true;
        } catch (const std::exception& e) {
            r.error = e.what();
        }
        return r;
    };
}

} // namespace

user_actor::user_actor(std::string user_id, std::weak_ptr<user_hub> hub, net::any_io_executor io)
    : user_id_(std::move(user_id)), hub_(std::move(hub)), strand_(net::make_strand(io)) {
    info_.user_id = user_id_;
}

template <class F> void user_actor::spawn(F&& f, const char* what) {
    net::co_spawn(strand_, std::forward<F>(f), [self = shared_from_this(), what](std::exception_ptr e) {
        if (!e) return;
        try {
            std::rethrow_exception(e);
        } catch (const std::exception& x) {
            log::error("user actor failed", {{"user", self->user_id_}, {"step", what}, {"error", x.what()}});
        }
        // The actor boundary: close this user's sockets, never the process.
        for (auto& s : self->sockets_)
            if (auto sink = s.sink.lock()) sink->close(close_internal, "internal error");
    });
}

void user_actor::join(std::uint64_t socket_id, std::weak_ptr<user_sink> sink, std::optional<pg::lsn> seen) {
    net::post(strand_, [self = shared_from_this(), socket_id, sink = std::move(sink), seen]() mutable {
        if (self->stopping_ || self->gone_) {
            if (auto s = sink.lock()) s->close(1012, "server shutting down");
            return;
        }
        socket_entry e;
        e.id = socket_id;
        e.sink = std::move(sink);
        e.seen = seen;
        self->sockets_.push_back(std::move(e));
        self->publish_info();
        if (self->reg_ == reg_state::none) self->start_bootstrap();
        else if (self->reg_ == reg_state::registered) self->start_load(self->sockets_.back());
        // registering: the bootstrap in progress serves it.
    });
}

void user_actor::message(std::uint64_t socket_id, proto::client_message m) {
    net::post(strand_, [self = shared_from_this(), socket_id, m = std::move(m)]() mutable {
        auto* s = self->find(socket_id);
        if (!s) return;
        if (std::holds_alternative<proto::ping>(m)) {
            self->send(*s, share(proto::encode_pong()));
        } else if (auto* err = std::get_if<proto::protocol_error>(&m)) {
            log::info("user socket protocol error", {{"user", self->user_id_}, {"reason", err->reason.substr(0, 200)}});
            self->close_socket(socket_id, close_protocol, err->reason);
        } else {
            auto hub = self->hub_.lock();
            if (hub && self->mutations_.size() >= hub->config().max_pending_mutations) {
                self->close_socket(socket_id, close_protocol, "too many pending mutations");
                return;
            }
            self->mutations_.emplace_back(socket_id, std::move(std::get<proto::mutate>(m)));
            if (!self->mutating_) {
                self->mutating_ = true;
                self->spawn(self->run_mutations(), "mutations");
            }
        }
    });
}

void user_actor::leave(std::uint64_t socket_id) {
    net::post(strand_, [self = shared_from_this(), socket_id] {
        std::erase_if(self->sockets_, [&](const socket_entry& s) { return s.id == socket_id; });
        self->publish_info();
        if (!self->sockets_.empty() || self->gone_) return;
        // The last socket left: routing stops (a reconnect replays from
        // history or reloads, so nothing is kept for it here).
        self->gone_ = true;
        if (auto hub = self->hub_.lock()) hub->actor_gone(self->user_id_, self.get());
        if (self->reg_ == reg_state::registered) self->unregister(self->suffix_);
        self->stream_.clear();
    });
}

void user_actor::deliver(std::vector<pg::user_delivery> d) {
    net::post(strand_, [self = shared_from_this(), d = std::move(d)]() mutable { self->on_deliveries(d); });
}

void user_actor::sequence_break() {
    net::post(strand_, [self = shared_from_this()] {
        if (self->gone_ || self->stopping_) return;
        self->restart("sequence_break");
    });
}

void user_actor::stop(std::uint16_t code, std::string reason) {
    net::post(strand_, [self = shared_from_this(), code, reason = std::move(reason)] {
        self->stopping_ = true;
        for (auto& s : self->sockets_)
            if (auto sink = s.sink.lock()) sink->close(code, reason);
    });
}

user_actor_info user_actor::info() const {
    std::lock_guard lock(info_mutex_);
    auto i = info_;
    for (auto& w : info_sinks_)
        if (auto s = w.lock()) {
            i.queued_bytes += s->queued_bytes();
            i.queued_frames += s->queued_frames();
        }
    return i;
}

void user_actor::publish_info() {
    std::lock_guard lock(info_mutex_);
    info_.sockets = sockets_.size();
    info_.sequence_id = stream_.sequence_id();
    info_.sequence_number = stream_.last_number();
    info_.pending_mutations = stream_.pending_mutations() + mutations_.size();
    info_sinks_.clear();
    for (auto& s : sockets_) info_sinks_.push_back(s.sink);
}

user_actor::socket_entry* user_actor::find(std::uint64_t socket_id) {
    for (auto& s : sockets_)
        if (s.id == socket_id) return &s;
    return nullptr;
}

void user_actor::send(const socket_entry& s, const std::shared_ptr<const std::string>& frame) const {
    if (auto sink = s.sink.lock()) sink->send(frame);
}

void user_actor::send_live(std::vector<std::shared_ptr<const std::string>> frames) {
    if (frames.empty()) return;
    std::shared_ptr<user_sink> previous;
    for (auto& s : sockets_) {
        if (s.state != phase::live) continue;
        auto sink = s.sink.lock();
        if (!sink) continue;
        if (previous) previous->send(frames);
        previous = std::move(sink);
    }
    if (previous) previous->send(std::move(frames)); // the last (usually only) socket takes them
}

void user_actor::close_socket(std::uint64_t socket_id, std::uint16_t code, std::string reason) {
    if (auto* s = find(socket_id))
        if (auto sink = s->sink.lock()) sink->close(code, std::move(reason));
}

void user_actor::close_waiting(std::uint16_t code, const std::string& reason) {
    for (auto& s : sockets_)
        if (s.state == phase::waiting)
            if (auto sink = s.sink.lock()) sink->close(code, reason);
}

void user_actor::on_deliveries(std::vector<pg::user_delivery>& ds) {
    if (gone_ || reg_ != reg_state::registered) return; // another registration's
    if (!apply(ds)) restart("sequence_break");
}

bool user_actor::apply(std::vector<pg::user_delivery>& ds) {
    // One send per socket for the whole run of deliveries: a backlog comes
    // in batches of many transactions, and each send is a hop to the socket.
    std::vector<std::shared_ptr<const std::string>> live;
    bool ok = true;
    for (auto& d : ds) {
        auto v = stream_.on_delivery(d);
        if (v.what == proto::delivery_verdict::gap) {
            log::warn("user stream gap; reloading",
                      {{"user", user_id_}, {"expected", std::to_string(stream_.last_number() + 1)},
                       {"got", std::to_string(d.sequence_number)}});
            ok = false;
            break;
        }
        if (v.what != proto::delivery_verdict::send) continue;
        global_metrics().user_events.inc();
        for (auto& s : sockets_)
            if (s.state == phase::loading) s.buffer.push_back(buffered{d.at, d.sequence_number, v.frames});
        for (auto& f : v.frames) live.push_back(std::move(f));
    }
    send_live(std::move(live));
    if (ok) publish_info();
    return ok;
}

// Every socket is told to reload and is served afresh by a new registration.
void user_actor::restart(std::string_view reason) {
    auto frame = share(proto::encode_reload(reason));
    for (auto& s : sockets_) {
        if (s.state != phase::waiting) send(s, frame);
        s.state = phase::waiting;
        s.seen.reset(); // a snapshot, not a resume: the client is reloading
        s.buffer.clear();
    }
    stream_.clear();
    ++generation_;
    if (reg_ == reg_state::registering) {
        rebootstrap_ = true;
    } else {
        reg_ = reg_state::none;
        if (!sockets_.empty()) start_bootstrap();
    }
    publish_info();
}

void user_actor::start_bootstrap() {
    reg_ = reg_state::registering;
    spawn(bootstrap(), "register");
}

void user_actor::start_load(socket_entry& s) {
    s.state = phase::loading;
    s.load_generation = generation_;
    s.load_from = stream_.last_number();
    s.buffer.clear();
    spawn(load_socket(s.id, generation_), "load");
}

net::awaitable<void> user_actor::bootstrap() {
    for (int attempt = 0;; ++attempt) {
        rebootstrap_ = false;
        const bool ok = co_await register_once();
        if (gone_ || stopping_) co_return;
        if (!ok) {
            reg_ = reg_state::none;
            stream_.clear();
            close_waiting(close_try_later, "user data unavailable, retry");
            publish_info();
            co_return;
        }
        if (!rebootstrap_) break;
        if (attempt > 5) {
            reg_ = reg_state::none;
            close_waiting(close_try_later, "replication restarting, retry");
            co_return;
        }
    }
    reg_ = reg_state::registered;
    // Sockets that arrived during registration without being served.
    for (auto& s : sockets_)
        if (s.state == phase::waiting) start_load(s);
    publish_info();
}

net::awaitable<bool> user_actor::wait_ready() {
    auto hub = hub_.lock();
    if (!hub) co_return false;
    const auto until = std::chrono::steady_clock::now() + hub->config().ready_wait;
    net::steady_timer t(strand_);
    for (;;) {
        auto r = hub->repl();
        if (!r) co_return false;
        std::function<bool(pg::replication_history*)> probe = [](pg::replication_history* h) {
            try {
                return h && !h->meta().epoch.empty();
            } catch (const std::exception&) {
                return false;
            }
        };
        if (co_await history_call<bool>(r, std::move(probe))) co_return true;
        if (std::chrono::steady_clock::now() >= until || gone_ || stopping_) co_return false;
        t.expires_after(200ms);
        (void)co_await t.async_wait(net::as_tuple(net::use_awaitable));
    }
}

// One registration. Returns false when it cannot be done (database or
// replicator unavailable); the waiting sockets are then closed to retry.
net::awaitable<bool> user_actor::register_once() {
    auto hub = hub_.lock();
    if (!hub || !co_await wait_ready()) co_return false;
    auto repl = hub->repl();
    auto backend = hub->backend();
    const auto gen = ++generation_;

    // Resume: the first waiting socket that says what it has seen.
    socket_entry* resumer = nullptr;
    for (auto& s : sockets_)
        if (s.state == phase::waiting && s.seen && !resumer) resumer = &s;
    if (resumer) {
        const auto socket_id = resumer->id;
        const auto seen = *resumer->seen;
        auto guest_result = co_await backend->guest_file_ids(user_id_);
        if (!guest_result.first) {
            log::warn("user guest files unavailable", {{"user", user_id_}, {"error", guest_result.first.error}});
            co_return false;
        }
        std::vector<std::string> guests = std::move(guest_result.second);
        auto suffix = new_suffix();
        auto reg = registration_call(user_id_, seen, std::move(guests), suffix);
        auto res = co_await history_call<history_result>(repl, std::move(reg));
        if (!res.ready) co_return false;
        if (gone_ || stopping_ || gen != generation_) {
            unregister(suffix);
            co_return true;
        }
        suffix_ = suffix;
        auto* s = find(socket_id);
        if (!res.reg.reload) {
            stream_.reset(res.reg.sequence_id, 0);
            if (s) {
                send(*s, share(proto::encode_hello(res.reg.sequence_id, 0, seen)));
                s->state = phase::live;
            }
            if (!apply(res.reg.replay)) rebootstrap_ = true;
            co_return true;
        }
        if (s) {
            send(*s, share(proto::encode_reload("history_too_short")));
            s->seen.reset();
        }
    }

    // Snapshot: every waiting socket gets it, registered at the snapshot's LSN.
    for (int attempt = 0; attempt < 3; ++attempt) {
        auto loaded = co_await backend->load_state(user_id_);
        if (!loaded.first) {
            log::warn("user snapshot unavailable", {{"user", user_id_}, {"error", loaded.first.error}});
            co_return false;
        }
        user_snapshot snap = std::move(loaded.second);
        auto suffix = new_suffix();
        auto reg = registration_call(user_id_, snap.at, snap.guest_file_ids, suffix);
        auto res = co_await history_call<history_result>(repl, std::move(reg));
        if (!res.ready) co_return false;
        if (gone_ || stopping_ || gen != generation_) {
            unregister(suffix);
            co_return true;
        }
        suffix_ = suffix;
        // History pruned past the snapshot's LSN (only just after a new
        // epoch): take another snapshot.
        if (res.reg.reload) continue;
        stream_.reset(res.reg.sequence_id, 0);
        auto frame = share(proto::encode_initial_data(snap.at, res.reg.sequence_id, 0, snap.data));
        for (auto& s : sockets_)
            if (s.state == phase::waiting) {
                send(s, frame);
                s.state = phase::live;
            }
        if (!apply(res.reg.replay)) rebootstrap_ = true;
        co_return true;
    }
    co_return false;
}

net::awaitable<void> user_actor::load_socket(std::uint64_t socket_id, std::uint64_t generation) {
    auto hub = hub_.lock();
    if (!hub) co_return;
    auto loaded = co_await hub->backend()->load_state(user_id_);
    auto* s = find(socket_id);
    if (!s || s->state != phase::loading || s->load_generation != generation || generation != generation_) co_return;
    const user_snapshot& snap = loaded.second;
    if (!loaded.first) {
        log::warn("user snapshot unavailable", {{"user", user_id_}, {"error", loaded.first.error}});
        close_socket(socket_id, close_try_later, "user data unavailable, retry");
        co_return;
    }
    // Changes already in the snapshot are dropped; the numbering the socket
    // sees continues from the last one dropped.
    std::int64_t number = s->load_from;
    std::size_t first = 0;
    for (; first < s->buffer.size() && s->buffer[first].at <= snap.at; ++first) number = s->buffer[first].number;
    send(*s, share(proto::encode_initial_data(snap.at, stream_.sequence_id(), number, snap.data)));
    for (std::size_t i = first; i < s->buffer.size(); ++i)
        for (auto& f : s->buffer[i].frames) send(*s, f);
    s->buffer.clear();
    s->state = phase::live;
}

net::awaitable<void> user_actor::run_mutations() {
    auto hub = hub_.lock();
    while (hub && !mutations_.empty() && !stopping_) {
        const std::uint64_t socket_id = mutations_.front().first;
        core::user::mutate m = std::move(mutations_.front().second);
        mutations_.pop_front();
        auto outcome = co_await hub->backend()->mutate(user_id_, std::move(m.message));
        if (outcome.mutation_id.empty()) outcome.mutation_id = m.mutation_id;
        if (outcome.committed) {
            global_metrics().user_mutations_committed.inc();
            if (auto frame = stream_.on_mutation_applied(outcome.mutation_id, outcome.mutation_number))
                send_live({frame});
        } else {
            global_metrics().user_mutations_rejected.inc();
            if (auto* s = find(socket_id))
                send(*s, share(proto::encode_reject(outcome.mutation_id, outcome.error_code, outcome.reason)));
        }
        publish_info();
    }
    mutating_ = false;
}

void user_actor::unregister(std::string suffix) {
    auto hub = hub_.lock();
    if (!hub || suffix.empty()) return;
    auto r = hub->repl();
    if (!r) return;
    r->with_history([user = user_id_, suffix = std::move(suffix)](pg::replication_history* h) {
        if (!h) return;
        try {
            h->unregister_user_if(user, suffix);
        } catch (const std::exception& e) {
            log::warn("unregistering user failed", {{"user", user}, {"error", e.what()}});
        }
    });
}

} // namespace tlsync::server
