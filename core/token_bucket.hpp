#pragma once
// A token bucket: refills at `rate` tokens a second up to `burst`, and each
// admitted event takes one. Sans-io: the caller passes the time, so tests
// drive it with a fake clock.

#include <algorithm>
#include <chrono>

namespace tlsync::core {

class token_bucket {
public:
    using duration = std::chrono::nanoseconds; // a monotonic clock's time since its epoch

    // The steady clock's reading in this unit, for callers with a real clock.
    [[nodiscard]] static duration steady_now() noexcept {
        return std::chrono::duration_cast<duration>(std::chrono::steady_clock::now().time_since_epoch());
    }

    // Starts full.
    token_bucket(double rate_per_second, double burst, duration now) noexcept
        : rate_(rate_per_second), burst_(std::max(1.0, burst)), tokens_(burst_), last_(now) {}

    // Takes a token when there is one.
    [[nodiscard]] bool try_take(duration now) noexcept {
        refill(now);
        if (tokens_ < 1.0) return false;
        tokens_ -= 1.0;
        return true;
    }

    // Whether it would be full at `now`: nothing distinguishes it from a new
    // bucket any more, so its owner may forget it.
    [[nodiscard]] bool full_at(duration now) const noexcept {
        return tokens_ + rate_ * seconds(now - last_) >= burst_;
    }

private:
    static double seconds(duration d) noexcept { return std::chrono::duration<double>(d).count(); }

    void refill(duration now) noexcept {
        if (now <= last_) return; // the clock is monotonic; never refill backwards
        tokens_ = std::min(burst_, tokens_ + rate_ * seconds(now - last_));
        last_ = now;
    }

    double rate_;
    double burst_;
    double tokens_;
    duration last_;
};

} // namespace tlsync::core
