#pragma once
// When the replicator's recorder takes what the reader has decoded, as a
// sans-io policy: the I/O layer reports the server's flushed WAL position
// and asks, with the state of its pipeline, at what time to record.
//
// Live (the stream keeps up), a batch is recorded at once (spaced, see below): every millisecond
// it waits is commit -> user lag. Catching up a backlog, the batch is left to
// grow first. What a batch costs is mostly per batch, not per row: one SQLite
// commit, one UPDATE per user whose sequence moved, one post per user actor,
// and one socket write per user however many of its transactions the batch
// holds. A few transactions per batch (what the recorder finds when it takes
// "whatever arrived meanwhile") pay that nearly per transaction.
//
// Whether the stream is behind cannot be read from the stream: a logical
// walsender sets XLogData's walEnd to the record's own LSN, and keepalives
// carry what it has sent. So the I/O layer polls pg_current_wal_flush_lsn()
// on a side connection (every ~100 ms) and reports it with on_server_flush.
// The stream starts catching up once that position is more than
// `enter_behind_bytes` past what has been received, and is live again at
// `leave_behind_bytes` or less: the high mark keeps a live lag spike (a
// burst, a busy machine) from being held up further for a batch, the low
// one keeps the batches large down to the end of a backlog. A report older
// than `flush_valid_for` (the poll stalled or failed) is not trusted: the
// policy falls back to live.
//
// Live, batches are also spaced at least `live_min_interval` apart: under a
// stream of small transactions (thousands a second) "whatever arrived
// meanwhile" is one or two transactions, and each batch pays a hand-off to
// the blocking pool and back, a SQLite commit and a write per user. The
// first batch after a quiet interval is taken at once, so a lone change is
// never held; under load a change waits at most that interval.
//
//   stream is             batch has                    take it at
//   live / unknown        >= catch_up_rows changes     now
//   live / unknown        fewer                        now, or last batch + live_min_interval
//   catching up           >= catch_up_rows changes     now
//   catching up           fewer                        oldest change + catch_up_wait

#include "core/replication_protocol.hpp"
#include "core/replication_stream.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>

namespace tlsync::core::pg {

struct batching_config {
    std::uint64_t enter_behind_bytes = 8u << 20; // server flushed this far past what was received: catching up
    std::uint64_t leave_behind_bytes = 1u << 20; // ...until it is this close again
    std::size_t catch_up_rows = 16'384;          // changes per batch while catching up
    std::chrono::milliseconds catch_up_wait{250}; // the longest a decoded change waits for its batch to fill
    std::chrono::milliseconds flush_valid_for{1'000};
    std::chrono::milliseconds live_min_interval{2}; // live: batches at most this often (0: no spacing)
};

class batching_policy {
public:
    explicit batching_policy(batching_config cfg = {}) noexcept : cfg_(cfg) {}

    // The server's flushed WAL position as read at `now`. Positions only
    // move forward: a lower reading keeps the higher position, with the
    // newer time.
    void on_server_flush(lsn flushed, stream_time now) noexcept;
    // The position can no longer be read (the side connection failed).
    void forget_server_flush() noexcept { flushed_.reset(); }

    // Whether the stream is catching up, given that everything up to
    // `received` has arrived (updates the state; see the table above).
    bool catching_up(lsn received, stream_time now) noexcept;

    // When to record a pipeline holding `pending_rows` changes (> 0), the
    // oldest decoded at `oldest`: a time <= now means at once. The caller
    // waits until then or until more arrives, and asks again.
    [[nodiscard]] stream_time take_at(std::size_t pending_rows, stream_time oldest, lsn received,
                                      stream_time now) noexcept;
    // The recorder took a batch at `now` (spacing of live batches).
    void on_taken(stream_time now) noexcept { last_taken_ = now; }

    [[nodiscard]] const batching_config& config() const noexcept { return cfg_; }

private:
    batching_config cfg_;
    struct report {
        lsn flushed;
        stream_time at;
    };
    std::optional<report> flushed_;
    std::optional<stream_time> last_taken_;
    bool catching_up_ = false;
};

} // namespace tlsync::core::pg
