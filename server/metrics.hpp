#pragma once
// Process-wide counters for GET /metrics (Prometheus text format 0.0.4).
// Lock-free: hot paths only touch relaxed atomics. server/metrics.cpp renders.

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace tlsync::server {

class counter {
public:
    void inc(std::uint64_t n = 1) noexcept { v_.fetch_add(n, std::memory_order_relaxed); }
    [[nodiscard]] std::uint64_t value() const noexcept { return v_.load(std::memory_order_relaxed); }

private:
    std::atomic<std::uint64_t> v_{0};
};

class gauge {
public:
    void add(std::int64_t n = 1) noexcept { v_.fetch_add(n, std::memory_order_relaxed); }
    void sub(std::int64_t n = 1) noexcept { v_.fetch_sub(n, std::memory_order_relaxed); }
    void set(std::int64_t n) noexcept { v_.store(n, std::memory_order_relaxed); }
    [[nodiscard]] std::int64_t value() const noexcept { return v_.load(std::memory_order_relaxed); }

private:
    std::atomic<std::int64_t> v_{0};
};

// Fixed exponential buckets from 50 us to ~26 s (seconds).
class histogram {
public:
    static constexpr std::size_t bucket_count = 20;
    static constexpr double first_bound = 0.00005;
    void observe(double seconds) noexcept;
    [[nodiscard]] static double bound(std::size_t i) noexcept; // upper bound of bucket i
    [[nodiscard]] std::uint64_t bucket(std::size_t i) const noexcept { return buckets_[i].load(std::memory_order_relaxed); }
    [[nodiscard]] std::uint64_t count() const noexcept { return count_.load(std::memory_order_relaxed); }
    [[nodiscard]] double sum() const noexcept;

private:
    std::array<std::atomic<std::uint64_t>, bucket_count> buckets_{};
    std::atomic<std::uint64_t> count_{0};
    std::atomic<std::uint64_t> sum_micros_{0};
};

// Message types, for the per-type in/out counters.
enum class msg_type : std::size_t { connect, push, ping, data, pong, custom, incompatibility_error, other, count_ };
[[nodiscard]] std::string_view to_string(msg_type t) noexcept;

// Rejection reasons: the 4099 close reasons plus transport-level ones.
enum class reject_reason : std::size_t {
    not_found, forbidden, not_authenticated, unknown_error, client_too_old, server_too_old,
    invalid_record, rate_limited, room_full, bad_request, message_too_large, slow_consumer,
    too_many_connections, connection_rate, handshake_timeout, idle_timeout, storage_unavailable,
    room_owned_elsewhere, lease_lost, other,
    count_
};
[[nodiscard]] std::string_view to_string(reject_reason r) noexcept;
[[nodiscard]] reject_reason reject_reason_from_close_reason(std::string_view close_reason) noexcept;

struct metrics {
    static constexpr std::size_t n_types = static_cast<std::size_t>(msg_type::count_);
    static constexpr std::size_t n_reasons = static_cast<std::size_t>(reject_reason::count_);

    gauge rooms_loaded;
    gauge connections_open;
    counter connections_total;
    gauge sessions_awaiting_connect;
    gauge sessions_connected;
    gauge sessions_awaiting_removal;
    std::array<counter, n_types> messages_in{};
    std::array<counter, n_types> bytes_in{};
    std::array<counter, n_types> messages_out{};
    std::array<counter, n_types> bytes_out{};
    std::array<counter, n_reasons> rejections{};
    histogram push_seconds;  // handling one push on the room's strand
    histogram flush_seconds; // one write-behind flush to SQLite (blocking pool)
    histogram flush_strand_seconds; // the part of a flush on the room's strand (delta copy)
    gauge outbound_queue_bytes;
    counter http_requests;
    counter flushes_failed;
    // Replicator and user sockets (zero without --postgres).
    counter replicator_transactions;   // recorded transactions
    counter replicator_reboots;        // streaming sessions that ended
    counter replicator_sequence_breaks;
    gauge user_sockets_open;
    gauge users_connected;
    counter user_events;               // changes events handed to user sockets
    counter user_slow_closes;          // user sockets closed for falling behind
    counter user_mutations_committed;
    counter user_mutations_rejected;
    counter rooms_deleted_with_file;   // rooms closed and removed because their file went
    // Room leases (--storage postgres, several nodes; server/lease_keeper.hpp).
    gauge room_leases_held;
    counter room_lease_renewals;         // renewal statements that succeeded
    counter room_lease_renewal_failures; // ... and that failed (retried)
    counter room_leases_lost;            // taken by another node or expired under us
    counter room_handovers;              // rooms handed over on another node's request
    // Uploads (PUT /uploads/{id}, server/uploads.hpp).
    counter uploads;          // stored
    counter upload_bytes;     // bytes stored
    counter uploads_refused;  // answered 4xx/5xx (size, type, token, capacity, bad id)

    void count_in(msg_type t, std::size_t bytes) noexcept {
        messages_in[static_cast<std::size_t>(t)].inc();
        bytes_in[static_cast<std::size_t>(t)].inc(bytes);
    }
    void count_out(msg_type t, std::size_t bytes) noexcept {
        messages_out[static_cast<std::size_t>(t)].inc();
        bytes_out[static_cast<std::size_t>(t)].inc(bytes);
    }
    void count_rejection(reject_reason r) noexcept { rejections[static_cast<std::size_t>(r)].inc(); }

    // Prometheus text exposition, every metric prefixed `tlsync_`.
    [[nodiscard]] std::string render() const;
};

// The process's metrics.
[[nodiscard]] metrics& global_metrics() noexcept;

} // namespace tlsync::server
