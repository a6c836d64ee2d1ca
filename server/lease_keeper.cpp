#include "server/lease_keeper.hpp"

#include "server/log.hpp"
#include "server/metrics.hpp"

#include <boost/asio/post.hpp>

namespace tlsync::server {

namespace net = boost::asio;

lease_keeper::lease_keeper(net::any_io_executor io, net::any_io_executor blocking,
                           std::shared_ptr<room_leases> leases)
    : strand_(net::make_strand(io)), blocking_(std::move(blocking)), leases_(std::move(leases)),
      table_(leases_->duration()), timer_(strand_) {}

core::lease_table::time lease_keeper::now() {
    return std::chrono::duration_cast<core::lease_table::time>(clock::now().time_since_epoch());
}

std::variant<std::int64_t, lease_refused> lease_keeper::acquire(const std::string& room_id,
                                                                lost_handler on_lost) {
    // The lease counts from before the statement was sent: Postgres's expiry
    // is later than that, so the local deadline is the earlier one.
    const auto sent_at = now();
    auto outcome = leases_->acquire(room_id);
    if (const auto* token = std::get_if<std::int64_t>(&outcome))
        net::post(strand_, [self = shared_from_this(), room_id, token = *token, sent_at,
                            on_lost = std::move(on_lost)]() mutable {
            if (self->stopped_) return;
            self->table_.acquired(room_id, token, sent_at);
            self->handlers_.insert_or_assign(room_id, std::pair(token, std::move(on_lost)));
            self->pump();
        });
    return outcome;
}

void lease_keeper::release(const std::string& room_id, std::int64_t token) {
    net::post(strand_, [self = shared_from_this(), room_id, token] {
        self->table_.forget(room_id, token);
        if (auto it = self->handlers_.find(room_id);
            it != self->handlers_.end() && it->second.first == token)
            self->handlers_.erase(it);
        self->publish();
    });
    try {
        leases_->release(room_id, token);
    } catch (const std::exception& e) {
        log::warn("cannot release a room's lease; it lapses by itself",
                  {{"room", room_id}, {"error", e.what()}});
    }
}

void lease_keeper::fenced(const std::string& room_id, std::int64_t token, std::string why) {
    net::post(strand_, [self = shared_from_this(), room_id, token, why = std::move(why)]() mutable {
        // The room knows already: no handler to call, only the loss to count.
        if (auto it = self->handlers_.find(room_id);
            it != self->handlers_.end() && it->second.first == token)
            self->handlers_.erase(it);
        self->table_.fenced(room_id, token, std::move(why));
        self->report_lost();
        self->publish();
    });
}

void lease_keeper::stop() {
    net::post(strand_, [self = shared_from_this()] {
        self->stopped_ = true;
        self->handlers_.clear();
        self->timer_.cancel();
        // What is held lapses by itself now: not held any more, as far as
        // anyone here can act on it.
        global_metrics().room_leases_held.sub(std::exchange(self->published_, 0));
    });
}

void lease_keeper::pump() {
    if (stopped_) return;
    const auto t = now();
    table_.on_timer(t);
    report_lost();
    publish();
    if (auto r = table_.start_renewal(t)) {
        net::post(blocking_, [self = shared_from_this(), r = std::move(*r)] {
            try {
                auto result = self->leases_->renew(r.leases);
                net::post(self->strand_, [self, r, result = std::move(result)]() mutable {
                    self->renewed(r, std::move(result));
                });
            } catch (const std::exception& e) {
                net::post(self->strand_, [self, r, error = std::string(e.what())] {
                    self->renewal_failed(r, error);
                });
            }
        });
    }
    const auto at = table_.next_deadline();
    if (at == armed_for_) return;
    armed_for_ = at;
    if (!at) {
        timer_.cancel();
        return;
    }
    timer_.expires_at(clock::time_point(std::chrono::duration_cast<clock::duration>(*at)));
    timer_.async_wait([self = shared_from_this(), at](boost::system::error_code ec) {
        if (ec || self->armed_for_ != at) return; // re-armed or stopped
        self->armed_for_.reset();
        self->pump();
    });
}

void lease_keeper::renewed(const core::lease_table::renewal& r, lease_renewal result) {
    if (stopped_) return;
    global_metrics().room_lease_renewals.inc();
    table_.renewal_done(r, result.kept, now());
    // Asked for by another node: its holder decides whether and when to let go.
    for (const auto& w : result.wanted)
        if (auto it = handlers_.find(w.room); it != handlers_.end() && it->second.first == w.token)
            it->second.second(event::wanted, w.token, "another server asks for the room");
    pump();
}

void lease_keeper::renewal_failed(const core::lease_table::renewal& r, const std::string& error) {
    if (stopped_) return;
    global_metrics().room_lease_renewal_failures.inc();
    log::error("renewing room leases failed; retrying",
               {{"rooms", std::to_string(r.leases.size())}, {"error", error}});
    table_.renewal_failed(r, now());
    pump();
}

void lease_keeper::report_lost() {
    for (auto& lost : table_.take_lost()) {
        global_metrics().room_leases_lost.inc();
        auto it = handlers_.find(lost.room);
        if (it == handlers_.end() || it->second.first != lost.token) continue;
        auto handler = std::move(it->second.second);
        handlers_.erase(it);
        log::warn("room lease lost",
                  {{"room", lost.room}, {"token", std::to_string(lost.token)}, {"why", lost.why}});
        handler(event::lost, lost.token, std::move(lost.why));
    }
}

void lease_keeper::publish() {
    if (stopped_) return;
    const auto held = static_cast<std::int64_t>(table_.size());
    global_metrics().room_leases_held.add(held - std::exchange(published_, held));
}

} // namespace tlsync::server
