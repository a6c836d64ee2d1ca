#pragma once
// The room leases one node holds (--storage postgres; docs/SCALING.md), as a
// sans-io state machine: it decides when to renew, which leases a renewal
// kept, and when a lease must be taken as lost; the caller runs the SQL
// (server/lease_keeper) and passes the time in.
//
// Safety comes from Postgres: a lease row's expiry is Postgres's now() plus
// the duration, and every write is fenced on (owner, token, expiry) there.
// This table only makes a node stop *early*: a lease counts as held until
// `duration - margin` after the statement that last granted or renewed it
// was *sent* (Postgres set the expiry later than that, so the local deadline
// comes first whatever the two clocks read; only their rates are assumed
// alike). Past it without a renewal, the lease is lost here, even if the
// renewal is merely slow.
//
//   lease_table t(10s);
//   t.acquired("board", 7, now);                 // the acquisition sent at `now` returned token 7
//   if (auto r = t.start_renewal(now + 4s)) ...  // run one UPDATE for r->leases
//   t.renewal_done(*r, {{"board", 7}}, later);   // the leases it returned
//   for (auto& l : t.take_lost()) ...            // close those rooms' sessions
//   t.next_deadline();                           // when to call on_timer / start_renewal

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tlsync::core {

class lease_table {
  public:
    using time = std::chrono::milliseconds; // a monotonic clock's reading
    using duration = std::chrono::milliseconds;

    struct lease {
        std::string room;
        std::int64_t token = 0;
        friend bool operator==(const lease&, const lease&) = default;
    };
    struct lost_lease {
        std::string room;
        std::int64_t token = 0;
        std::string why; // for logs and the close reason
    };
    struct renewal {
        time sent_at{};
        std::vector<lease> leases; // what one statement renews
    };

    // `duration`: how long Postgres keeps a lease without renewal (>= 3 ms).
    explicit lease_table(duration lease_duration);

    [[nodiscard]] duration lease_duration() const noexcept { return duration_; }
    // Renewals start every duration/3; a failed one is retried after duration/10.
    [[nodiscard]] duration renew_every() const noexcept { return duration_ / 3; }
    [[nodiscard]] duration retry_after() const noexcept {
        return std::max(duration(1), duration_ / 10);
    }
    // How much earlier than Postgres this table gives a lease up.
    [[nodiscard]] duration margin() const noexcept { return duration_ / 10; }

    // The acquisition sent at `sent_at` returned `token`. Replaces what was
    // held for the room (an earlier token of this node is superseded).
    void acquired(std::string room, std::int64_t token, time sent_at);
    // The room is released or unloaded: forgets it if still held with `token`.
    bool forget(std::string_view room, std::int64_t token);
    // A write under (room, token) was refused by the fence: lost.
    bool fenced(std::string_view room, std::int64_t token, std::string why);

    // Whether `room` is held with `token` and its local deadline is ahead.
    [[nodiscard]] bool holds(std::string_view room, std::int64_t token, time now) const;
    [[nodiscard]] std::size_t size() const noexcept { return held_.size(); }

    // The leases to renew in one statement, when a renewal is due at `now`
    // and none is in flight; nullopt otherwise (also when nothing is held).
    [[nodiscard]] std::optional<renewal> start_renewal(time now);
    // The statement answered with the leases it renewed; the rest of the
    // batch is lost (taken, expired, released by hand).
    void renewal_done(const renewal& r, const std::vector<lease>& renewed, time now);
    // The statement failed (Postgres unreachable, timed out): nothing is
    // renewed; retried after retry_after(), lost at each local deadline.
    void renewal_failed(const renewal& r, time now);
    [[nodiscard]] bool renewal_in_flight() const noexcept { return in_flight_; }

    // Leases whose local deadline is at or before `now` become lost.
    void on_timer(time now);
    // The leases lost since the last call (each reported once).
    [[nodiscard]] std::vector<lost_lease> take_lost();
    // The earliest time at which on_timer or start_renewal has work.
    [[nodiscard]] std::optional<time> next_deadline() const;

  private:
    struct entry {
        std::int64_t token = 0;
        time valid_until{};
    };
    void lose(std::map<std::string, entry, std::less<>>::iterator it, std::string why);

    duration duration_;
    std::map<std::string, entry, std::less<>> held_;
    std::vector<lost_lease> lost_;
    std::optional<time> next_renewal_; // set while something is held
    bool in_flight_ = false;
};

} // namespace tlsync::core
