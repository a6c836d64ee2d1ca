#pragma once
// The Postgres replicator: one actor on its own strand that streams the app
// tables' row changes from a logical replication slot (wal2json v2), records
// them in its local SQLite state (core::pg::replication_history, on the
// blocking pool, or inline when it has a thread of its own), and only then
// acknowledges them to Postgres and hands the per-user deliveries on.
// Decoding, acknowledgement and liveness are the sans-io
// core::pg::replication_stream; this file is the I/O around it.
//
// Boot: connect, apply the app migrations (once per process), terminate a
// stale walsender still holding our slot, IDENTIFY_SYSTEM, create the slot
// if missing, check continuity with what was recorded (a new epoch when it
// broke), START_REPLICATION from the recorded LSN. Any error or 10 s without
// a message ends the session; the actor reboots after a backoff (doubling,
// capped), for as long as it runs.
//
// While streaming, three coroutines share the strand: the reader decodes
// into a pipeline, the recorder records what it holds (as one batch, when
// core::pg::batching_policy says so) and hands deliveries on, and a poller
// reads pg_current_wal_flush_lsn() on the session's SQL connection, which
// tells the policy whether the stream is catching up.

#include "core/replication_batching.hpp"
#include "core/replication_history.hpp"
#include "core/replication_stream.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace tlsync::server {

namespace net = boost::asio;

struct replicator_config {
    std::string conninfo;                       // key=value or postgresql:// URI
    std::string slot_name = "tlsync_replicator";
    std::string state_path;                     // the SQLite file, e.g. <data-dir>/replicator.sqlite
    std::vector<std::string> tables = {"public.user", "public.file", "public.file_state",
                                       "public.user_mutation_number"};
    bool apply_migrations = true;               // server/sql, before the first stream
    bool fsync = false;                         // SQLite synchronous=FULL
    core::pg::stream_config stream;             // ping after 5 s, dead after 10 s
    core::pg::history_config history;
    std::chrono::milliseconds connect_timeout{10'000};
    std::chrono::milliseconds query_timeout{30'000};
    std::chrono::milliseconds backoff_initial{500};
    std::chrono::milliseconds backoff_max{10'000};
    std::chrono::milliseconds prune_interval{600'000};
    std::chrono::milliseconds user_idle{600'000};
    std::size_t max_batch = 1000;               // CopyData messages decoded per turn on the strand
    std::size_t max_pending_rows = 50'000;      // decoded, unrecorded changes before reading pauses
    // Batches grow while the stream catches up (see core/replication_batching.hpp);
    // the server's flushed WAL position is read this often on a side connection.
    core::pg::batching_config batching;
    std::chrono::milliseconds flush_poll_interval{100};
    // Record on the strand instead of the blocking pool: for a replicator
    // whose executor is a thread of its own (tlsyncd's plane thread), where
    // a SQLite commit blocks nothing else of the server and the two thread
    // hops per batch cost more than the commit (docs/BENCHMARKS.md).
    bool record_inline = false;
    // The slot registry (server/sql/002_replicator_slots.sql, docs/SCALING.md):
    // this node's slot is registered under `node_id` when it streams and
    // marked seen every `slot_heartbeat`; on the same beat, another node's
    // slot unseen for `slot_ttl` that nobody streams from is dropped
    // (0: never drop other nodes' slots).
    std::string node_id;
    std::chrono::milliseconds slot_heartbeat{60'000};
    std::chrono::milliseconds slot_ttl{900'000};
};

struct replicator_stats {
    std::string state;    // "starting", "streaming", "backoff", "stopped"
    std::string recorded; // LSN text
    std::string server_wal_end;
    std::string epoch;
    std::uint64_t sessions = 0; // streaming sessions started
    std::uint64_t transactions = 0;
    std::uint64_t batches = 0;           // recorded batches (SQLite commits of transactions)
    std::uint64_t catch_up_batches = 0;  // of which taken while catching up
    std::uint64_t redelivered = 0;
    std::uint64_t sequence_breaks = 0;
    std::string last_error;
};

class replicator {
public:
    // Called on the replicator's strand, in WAL order, after recording.
    struct handlers {
        // Every recorded transaction (rooms follow files; tests observe).
        std::function<void(const core::pg::transaction&)> on_transaction;
        // Deliveries for active users, in order.
        std::function<void(std::vector<core::pg::user_delivery>)> on_deliveries;
        // Continuity broke (slot recreated, state lost): every user must reload.
        std::function<void()> on_sequence_break;
    };

    virtual ~replicator() = default;
    virtual void start() = 0;
    // Ends the stream (and any wait), then calls `done` on an executor
    // thread. Idempotent.
    virtual void stop(std::function<void()> done) = 0;
    // Thread-safe snapshot.
    [[nodiscard]] virtual replicator_stats stats() const = 0;
    // Runs `f` on the blocking pool with the local state (nullptr until it
    // is open), serialized with the replicator's own use of it.
    virtual void with_history(std::function<void(core::pg::replication_history*)> f) = 0;
};

// `io` runs the strand; `blocking` runs SQLite. Opening the state file is
// deferred to start(), on the blocking pool.
[[nodiscard]] std::shared_ptr<replicator> make_replicator(net::any_io_executor io, net::any_io_executor blocking,
                                                          replicator_config cfg, replicator::handlers h);

} // namespace tlsync::server
