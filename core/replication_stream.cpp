#include "core/replication_stream.hpp"

#include <algorithm>

namespace tlsync::core::pg {

replication_stream::replication_stream(lsn recorded, stream_config cfg, stream_time now)
    : cfg_(cfg), collator_(cfg.max_transaction_bytes), recorded_(recorded), last_received_(now),
      last_ping_(now), last_status_(now - cfg.ack_interval) {}

void replication_stream::on_copy_data(std::string_view bytes, stream_time now) {
    if (failed_) return;
    last_received_ = now;
    ping_outstanding_ = false;
    ++stats_.messages;
    ack_if_due(now);
    auto msg = parse_copy_data(bytes);
    if (auto* e = std::get_if<protocol_error>(&msg)) return fail(std::move(e->what));

    if (auto* k = std::get_if<primary_keepalive>(&msg)) {
        ++stats_.keepalives;
        wal_end_ = std::max(wal_end_, k->wal_end);
        // The reply carries the recorded LSN, never the keepalive's walEnd:
        // that runs ahead of commits we may not have recorded...
        if (k->reply_requested) send_status(false, now);
        // ...unless nothing is in flight: no transaction open, everything
        // handed out recorded. The walsender sends in order, so every commit
        // before walEnd has arrived; the caller records walEnd, then acks it.
        if (!collator_.in_transaction() && delivered_ <= recorded_ && k->wal_end > recorded_ &&
            k->wal_end > advance_asked_) {
            advance_asked_ = k->wal_end;
            ++stats_.advances;
            actions_.emplace_back(stream_action::advance{k->wal_end});
        }
        return;
    }

    auto& x = std::get<xlog_data>(msg);
    wal_end_ = std::max(wal_end_, x.wal_end);
    auto out = collator_.feed(x.data_start, x.payload);
    std::visit(
        [&](auto& o) {
            using T = std::decay_t<decltype(o)>;
            if constexpr (std::is_same_v<T, decode_error>) {
                fail("wal2json: " + o.what);
            } else if constexpr (std::is_same_v<T, logical_message>) {
                actions_.emplace_back(stream_action::message{std::move(o)});
            } else if constexpr (std::is_same_v<T, transaction>) {
                if (o.end_lsn <= recorded_) {
                    ++stats_.redelivered;
                    return;
                }
                ++stats_.transactions;
                delivered_ = std::max(delivered_, o.end_lsn);
                actions_.emplace_back(stream_action::deliver{std::move(o)});
            }
        },
        out);
}

void replication_stream::on_recorded(lsn end, stream_time now) {
    if (failed_ || end <= recorded_) return;
    recorded_ = end;
    ack_pending_ = true;
    ack_if_due(now);
}

void replication_stream::ack_if_due(stream_time now) {
    if (ack_pending_ && now - last_status_ >= cfg_.ack_interval) send_status(false, now);
}

void replication_stream::on_timer(stream_time now) {
    if (failed_) return;
    if (now - last_received_ >= cfg_.dead_after) {
        return fail("no message from the server for " + std::to_string(cfg_.dead_after.count()) + " ms");
    }
    ack_if_due(now);
    if (now - last_received_ >= cfg_.ping_after && (!ping_outstanding_ || now - last_ping_ >= cfg_.ping_after)) {
        send_status(true, now);
        ping_outstanding_ = true;
        last_ping_ = now;
    }
}

stream_time replication_stream::next_deadline() const noexcept {
    stream_time dead = last_received_ + cfg_.dead_after;
    stream_time ping = ping_outstanding_ ? last_ping_ + cfg_.ping_after : last_received_ + cfg_.ping_after;
    stream_time next = std::min(dead, ping);
    return ack_pending_ ? std::min(next, last_status_ + cfg_.ack_interval) : next;
}

std::vector<stream_output> replication_stream::take_actions() {
    std::vector<stream_output> out;
    out.swap(actions_);
    return out;
}

void replication_stream::send_status(bool reply_requested, stream_time now) {
    ++stats_.status_sent;
    last_status_ = now;
    ack_pending_ = false;
    actions_.emplace_back(stream_action::send_status{
        standby_status{recorded_, recorded_, recorded_, 0, reply_requested}});
}

void replication_stream::fail(std::string reason) {
    if (failed_) return;
    failed_ = true;
    collator_.reset();
    actions_.emplace_back(stream_action::fail{std::move(reason)});
}

} // namespace tlsync::core::pg
