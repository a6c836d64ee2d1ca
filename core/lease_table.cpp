#include "core/lease_table.hpp"

#include <algorithm>
#include <stdexcept>

namespace tlsync::core {

lease_table::lease_table(duration lease_duration) : duration_(lease_duration) {
    if (duration_ < duration(3)) throw std::invalid_argument("lease_table: duration below 3 ms");
}

void lease_table::acquired(std::string room, std::int64_t token, time sent_at) {
    held_.insert_or_assign(std::move(room), entry{token, sent_at + duration_ - margin()});
    if (!next_renewal_) next_renewal_ = sent_at + renew_every();
}

bool lease_table::forget(std::string_view room, std::int64_t token) {
    const auto it = held_.find(room);
    if (it == held_.end() || it->second.token != token) return false;
    held_.erase(it);
    if (held_.empty()) next_renewal_.reset();
    return true;
}

bool lease_table::fenced(std::string_view room, std::int64_t token, std::string why) {
    const auto it = held_.find(room);
    if (it == held_.end() || it->second.token != token) return false;
    lose(it, std::move(why));
    return true;
}

bool lease_table::holds(std::string_view room, std::int64_t token, time now) const {
    const auto it = held_.find(room);
    return it != held_.end() && it->second.token == token && now < it->second.valid_until;
}

std::optional<lease_table::renewal> lease_table::start_renewal(time now) {
    if (in_flight_ || held_.empty() || !next_renewal_ || now < *next_renewal_) return std::nullopt;
    renewal r{now, {}};
    r.leases.reserve(held_.size());
    for (const auto& [room, e] : held_)
        r.leases.push_back({room, e.token});
    in_flight_ = true;
    return r;
}

void lease_table::renewal_done(const renewal& r, const std::vector<lease>& renewed, time now) {
    in_flight_ = false;
    // A lease renewed by this statement is valid for a duration from when it
    // was sent; one it did not return was taken or has lapsed in Postgres.
    for (const auto& l : r.leases) {
        const auto it = held_.find(l.room);
        if (it == held_.end() || it->second.token != l.token)
            continue; // forgotten or re-acquired meanwhile
        const bool kept = std::ranges::find(renewed, l) != renewed.end();
        if (kept)
            it->second.valid_until =
                std::max(it->second.valid_until, r.sent_at + duration_ - margin());
        else
            lose(it, "lease lost: not renewed (taken over by another node, or expired)");
    }
    next_renewal_ =
        held_.empty() ? std::nullopt : std::optional(std::max(now, r.sent_at + renew_every()));
    on_timer(now); // a renewal that came back too late renewed nothing usable
}

void lease_table::renewal_failed(const renewal& r, time now) {
    (void)r;
    in_flight_ = false;
    next_renewal_ = held_.empty() ? std::nullopt : std::optional(now + retry_after());
    on_timer(now);
}

void lease_table::on_timer(time now) {
    for (auto it = held_.begin(); it != held_.end();) {
        auto next = std::next(it);
        if (it->second.valid_until <= now) lose(it, "lease lost: not renewed in time");
        it = next;
    }
}

void lease_table::lose(std::map<std::string, entry, std::less<>>::iterator it, std::string why) {
    lost_.push_back({it->first, it->second.token, std::move(why)});
    held_.erase(it);
    if (held_.empty()) next_renewal_.reset();
}

std::vector<lease_table::lost_lease> lease_table::take_lost() {
    return std::exchange(lost_, {});
}

std::optional<lease_table::time> lease_table::next_deadline() const {
    std::optional<time> at;
    for (const auto& [room, e] : held_)
        if (!at || e.valid_until < *at) at = e.valid_until;
    if (next_renewal_ && !in_flight_ && (!at || *next_renewal_ < *at)) at = next_renewal_;
    return at;
}

} // namespace tlsync::core
