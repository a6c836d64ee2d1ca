#pragma once
// Per-thread counters and histograms, and the plan every client follows.
// Counters have one writer (their thread) and are read by the progress line,
// so they are relaxed atomics written without read-modify-write. Histograms
// and maps are read only after the threads have stopped, except the
// --intervals histogram, which has a lock.

#include "test/loadtest/histogram.hpp"
#include "test/loadtest/options.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace tlsync::loadtest {

using clock_type = std::chrono::steady_clock;

class counter {
  public:
    void add(std::uint64_t n = 1) noexcept {
        v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
    }
    [[nodiscard]] std::uint64_t get() const noexcept { return v_.load(std::memory_order_relaxed); }

  private:
    std::atomic<std::uint64_t> v_{0};
};

struct thread_stats {
    counter attempts, connected, failed, closed_by_server;
    counter pushes, pushes_in_window, expected_in_window;
    counter commits, discards, rebases;
    counter patches;             // patch events (or relayed pushes) received
    counter delivered_in_window; // markers of window pushes received by peers
    counter pongs, pings, frames_in, bytes_in, bytes_out, skipped_sends;
    counter seed_pushes, seed_done;

    histogram latency_us, latency_presence_us, latency_edit_us, latency_create_us;
    histogram connect_us;   // connect message written -> connect event read
    histogram handshake_us; // TCP connect start -> websocket upgraded
    histogram send_lag_us;  // how late the generator sent scheduled pushes (window only)
    std::uint64_t connect_bytes_max = 0;
    std::map<std::string, std::uint64_t> close_codes; // "1000", "4099 ROOM_FULL", "1006"
    std::map<std::string, std::uint64_t> failures;    // "connect: Connection refused", ...
    std::string first_not_committed; // the first discard/rebase message, for diagnosis
    std::int64_t first_attempt_ns = INT64_MAX;
    std::int64_t last_connected_ns = 0;

    // --intervals: latency of the window's deliveries since the last interval
    // line. The one histogram the main thread reads while clients run, so it
    // has a lock (uncontended but for one swap per interval).
    void record_interval_latency(std::uint64_t us) {
        const std::lock_guard lock(interval_mutex);
        interval_latency_us.record(us);
    }
    // Moves the interval's latencies into `into` and starts a new interval.
    void take_interval_latency(histogram& into) {
        const std::lock_guard lock(interval_mutex);
        into.merge(interval_latency_us);
        interval_latency_us = histogram{};
    }

  private:
    std::mutex interval_mutex;
    histogram interval_latency_us;
};

// Shared, read-only once the clients start (except the atomics).
struct run_plan {
    explicit run_plan(const options& o) : opt(o), room_members(static_cast<std::size_t>(o.rooms)) {}

    const options& opt;
    clock_type::time_point t0 = clock_type::now();
    std::int64_t window_start_ns = 0;
    std::int64_t window_end_ns = 0;             // clients stop sending here
    std::int64_t drain_end_ns = 0;              // and close here
    std::vector<std::atomic<int>> room_members; // clients connected, per room
    std::atomic<int> clients_done{0};

    [[nodiscard]] std::int64_t now_ns() const noexcept {
        return std::chrono::duration_cast<std::chrono::nanoseconds>(clock_type::now() - t0).count();
    }
    [[nodiscard]] clock_type::time_point at(std::int64_t ns) const noexcept {
        return t0 + std::chrono::nanoseconds(ns);
    }
    [[nodiscard]] bool in_window(std::int64_t ns) const noexcept {
        return ns >= window_start_ns && ns < window_end_ns;
    }
};

} // namespace tlsync::loadtest
