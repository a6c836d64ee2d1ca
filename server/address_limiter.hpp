#pragma once
// New websocket connections per client address (--connection-rate-per-ip):
// a token bucket per address. Thread-safe; the table is bounded: past
// max_addresses it forgets the buckets that have refilled, and if every one
// is still in use it starts over (a flood from that many addresses is what
// --max-connections is for).

#include "core/token_bucket.hpp"

#include <cstddef>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace tlsync::server {

class address_limiter {
public:
    // `per_second` new connections per address, in bursts of up to `burst`.
    address_limiter(double per_second, double burst, std::size_t max_addresses = 100'000);

    // Whether `address` may open one more connection now.
    [[nodiscard]] bool allow(std::string_view address, core::token_bucket::duration now);
    [[nodiscard]] std::size_t tracked() const;

private:
    void make_room(core::token_bucket::duration now);

    const double per_second_;
    const double burst_;
    const std::size_t max_addresses_;
    mutable std::mutex mutex_;
    std::unordered_map<std::string, core::token_bucket> buckets_;
};

// The address part of a peer as the listener writes it ("1.2.3.4:5678",
// "[::1]:5678"): "1.2.3.4", "::1".
[[nodiscard]] std::string_view address_of_peer(std::string_view peer) noexcept;

} // namespace tlsync::server
