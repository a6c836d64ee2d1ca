#pragma once
// The consuming side of one logical replication session (wal2json v2), as a
// sans-io state machine: the I/O layer feeds it CopyData messages and the
// time, tells it what has been durably recorded, and carries out the actions
// it returns. No sockets, no clock: tests step through it directly.
//
//   on_copy_data ──▶ transaction_collator ──▶ deliver{transaction}
//                                              │ caller records it (SQLite)
//   on_recorded(end_lsn) ◀──────────────────────┘
//        └──▶ send_status{flushed = end_lsn}    (acknowledge only what is recorded;
//                                                at most one per ack_interval)
//
// Liveness: after `ping_after` without any message it sends a status update
// asking for a reply (the server answers with a keepalive); after
// `dead_after` without any message it fails, and the caller reconnects.
// Transactions redelivered after a reconnect (ending at or before what was
// already recorded) are dropped here, so the caller never sees one twice.

#include "core/replication_protocol.hpp"
#include "core/wal2json.hpp"

#include <chrono>
#include <cstddef>
#include <string>
#include <variant>
#include <vector>

namespace tlsync::core::pg {

// Milliseconds on a monotonic clock of the caller's choosing.
using stream_time = std::chrono::milliseconds;

struct stream_config {
    // Acknowledgements closer together than this are merged into one (the
    // latest recorded LSN): Postgres only needs them to release WAL, and a
    // status update per recorded batch costs a send here and a wake-up of
    // the walsender there. Zero acknowledges every on_recorded at once.
    std::chrono::milliseconds ack_interval{100};
    std::chrono::milliseconds ping_after{5000};
    std::chrono::milliseconds dead_after{10000};
    std::size_t max_transaction_bytes = 256u << 20;
};

namespace stream_action {
// Record this transaction, then call on_recorded(t.end_lsn).
struct deliver {
    transaction t;
};
// A non-transactional logical message (nothing to acknowledge).
struct message {
    logical_message m;
};
// Idle: nothing is open or unrecorded, and the server has sent everything up
// to `to` (a keepalive's walEnd). Record `to` as the recorded position, then
// call on_recorded(to). Without this an idle slot is never acknowledged past
// the last commit: WAL is retained, and a fast shutdown of the server waits
// forever for its logical walsender to be confirmed up to the shutdown
// checkpoint.
struct advance {
    lsn to;
};
// Send as a standby status update; the I/O layer sets client_time.
struct send_status {
    standby_status status;
};
// The stream is unusable: reconnect (after a backoff) from the recorded LSN.
struct fail {
    std::string reason;
};
} // namespace stream_action

using stream_output = std::variant<stream_action::deliver, stream_action::message,
                                   stream_action::send_status, stream_action::fail, stream_action::advance>;

struct stream_stats {
    std::uint64_t messages = 0;     // CopyData messages received
    std::uint64_t keepalives = 0;
    std::uint64_t transactions = 0; // delivered
    std::uint64_t redelivered = 0;  // dropped as already recorded
    std::uint64_t status_sent = 0;
    std::uint64_t advances = 0;     // idle acknowledgements past the last commit
};

class replication_stream {
public:
    // `recorded`: everything up to this LSN is already recorded (zero: nothing).
    replication_stream(lsn recorded, stream_config cfg, stream_time now);

    void on_copy_data(std::string_view bytes, stream_time now);
    // Everything up to `end` is durably recorded. Out-of-order or repeated
    // calls are harmless: the acknowledged LSN only moves forward.
    void on_recorded(lsn end, stream_time now);
    void on_timer(stream_time now);

    // Actions in the order they arose; the caller carries them out in order.
    [[nodiscard]] std::vector<stream_output> take_actions();
    // The time at which on_timer has work; meaningless once failed().
    [[nodiscard]] stream_time next_deadline() const noexcept;

    [[nodiscard]] bool failed() const noexcept { return failed_; }
    [[nodiscard]] lsn recorded() const noexcept { return recorded_; }
    // The highest WAL end the server reported (XLogData or keepalive).
    [[nodiscard]] lsn server_wal_end() const noexcept { return wal_end_; }
    [[nodiscard]] const stream_stats& stats() const noexcept { return stats_; }

private:
    void send_status(bool reply_requested, stream_time now);
    void ack_if_due(stream_time now);
    void fail(std::string reason);

    stream_config cfg_;
    transaction_collator collator_;
    lsn recorded_;
    lsn delivered_;       // end of the last transaction handed out
    lsn advance_asked_;   // the last advance action
    lsn wal_end_;
    stream_time last_received_;
    stream_time last_ping_;
    stream_time last_status_;
    bool ack_pending_ = false; // recorded_ moved since the last status update
    bool ping_outstanding_ = false;
    bool failed_ = false;
    std::vector<stream_output> actions_;
    stream_stats stats_;
};

} // namespace tlsync::core::pg
