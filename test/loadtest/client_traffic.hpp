#pragma once
// The sender's schedules: what a client sends once connected (included by
// client.hpp).

#include <algorithm>

namespace tlsync::loadtest {

namespace detail {

constexpr std::int64_t never = INT64_MAX;

inline std::int64_t period_ns(double hz) {
    return hz > 0 ? static_cast<std::int64_t>(1e9 / hz) : never;
}

} // namespace detail

// Presence put, the client's own shape, then presence moves, edits, creates
// and pings on their schedules until the window ends; then it stays
// connected until the drain ends so results and peers' patches still arrive.
// A client that falls more than one period behind skips sends instead of
// bursting (counted as skipped_sends).
template <class Stream> net::awaitable<void> client<Stream>::traffic() {
    using detail::never;
    auto& plan = env_.plan;
    const auto& opt = env_.opt;
    const auto& msgs = env_.msgs;
    auto& st = env_.st;
    const std::int64_t p_presence = detail::period_ns(opt.presence_hz);
    const std::int64_t p_edit = detail::period_ns(opt.edit_hz);
    const std::int64_t p_create = detail::period_ns(opt.create_hz);
    const std::int64_t p_ping = static_cast<std::int64_t>(opt.ping_s * 1e9);

    std::int64_t now = plan.now_ns();
    // Spread clients over each period so they do not send in lockstep.
    const std::int64_t spread = (id_ * 2654435761u) % 1000;
    auto first = [&](std::int64_t p) { return p == never ? never : now + spread * p / 1000; };
    auto advance = [&](std::int64_t next, std::int64_t p) {
        next += p;
        if (next < now - p) {
            st.skipped_sends.add(static_cast<std::uint64_t>((now - next) / p));
            next = now;
        }
        return next;
    };

    std::uint64_t k = 0;
    std::uint64_t shapes = 0;
    std::string own_shape;
    if (opt.presence_hz > 0) {
        msgs.presence_put(out_, ++clock_, id_);
        {
            const bool ok = co_await send_push(now);
            if (!ok) co_return;
        }
    }
    if (opt.edit_hz > 0 || opt.create_hz > 0) {
        own_shape = message_builder::shape_id(id_, shapes);
        msgs.create(out_, ++clock_, own_shape, static_cast<int>(id_ + shapes), id_, now);
        ++shapes;
        {
            const bool ok = co_await send_push(now);
            if (!ok) co_return;
        }
    }

    std::int64_t next_presence = first(p_presence);
    std::int64_t next_edit = first(p_edit);
    std::int64_t next_create = p_create == never ? never : now + p_create;
    std::int64_t next_ping = now + p_ping;
    std::string shape;
    while (!closed_) {
        now = plan.now_ns();
        if (now >= plan.window_end_ns) break;
        const std::int64_t due = std::min({next_presence, next_edit, next_create, next_ping});
        if (due > now) {
            co_await wait_until(std::min(due, plan.window_end_ns));
            continue;
        }
        if (plan.in_window(now))
            st.send_lag_us.record(static_cast<std::uint64_t>((now - due) / 1000));
        if (due == next_ping) {
            message_builder::ping(out_);
            next_ping = advance(next_ping, p_ping);
            {
                const bool ok = co_await send();
                if (!ok) break;
            }
            st.pings.add();
            continue;
        }
        if (due == next_presence) {
            msgs.presence_move(out_, ++clock_, id_, k++, now);
            next_presence = advance(next_presence, p_presence);
        } else if (due == next_edit) {
            msgs.edit(out_, ++clock_, own_shape, k++, id_, now);
            next_edit = advance(next_edit, p_edit);
        } else {
            shape = message_builder::shape_id(id_, shapes);
            msgs.create(out_, ++clock_, shape, static_cast<int>(id_ * 7 + shapes), id_, now);
            ++shapes;
            next_create = advance(next_create, p_create);
        }
        {
            const bool ok = co_await send_push(now);
            if (!ok) break;
        }
    }
    while (!closed_ && plan.now_ns() < plan.drain_end_ns)
        co_await wait_until(plan.drain_end_ns);
}

// Pushes the room's seed shapes, 100 a push, up to 4 pushes in flight.
template <class Stream> net::awaitable<void> client<Stream>::seed() {
    constexpr int batch = 100;
    constexpr int in_flight = 4;
    auto& st = env_.st;
    const int total = env_.opt.seed_shapes;
    int sent = 0;
    while (sent < total || outstanding_ > 0) {
        if (closed_) co_return;
        if (sent < total && outstanding_ < in_flight) {
            const int n = std::min(batch, total - sent);
            env_.msgs.seed(out_, ++clock_, room_, sent, n);
            sent += n;
            {
                const bool ok = co_await send();
                if (!ok) co_return;
            }
            ++outstanding_;
            st.seed_pushes.add();
            continue;
        }
        const auto deadline = env_.plan.now_ns() + 60'000'000'000LL;
        const auto before = outstanding_;
        co_await wait_until(deadline);
        if (outstanding_ == before && env_.plan.now_ns() >= deadline) {
            fail("seed", {}, "no push_result within 60 s");
            co_return;
        }
    }
    if (st.discards.get() == 0 && st.rebases.get() == 0)
        st.seed_done.add();
    else
        fail("seed", {}, "pushes were not committed");
}

} // namespace tlsync::loadtest
