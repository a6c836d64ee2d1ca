#include "server/address_limiter.hpp"

#include <iterator>

namespace tlsync::server {

address_limiter::address_limiter(double per_second, double burst, std::size_t max_addresses)
    : per_second_(per_second), burst_(burst), max_addresses_(max_addresses) {}

bool address_limiter::allow(std::string_view address, core::token_bucket::duration now) {
    const std::lock_guard lock(mutex_);
    auto it = buckets_.find(std::string(address));
    if (it == buckets_.end()) {
        if (buckets_.size() >= max_addresses_) make_room(now);
        it = buckets_.emplace(std::string(address), core::token_bucket(per_second_, burst_, now)).first;
    }
    return it->second.try_take(now);
}

std::size_t address_limiter::tracked() const {
    const std::lock_guard lock(mutex_);
    return buckets_.size();
}

void address_limiter::make_room(core::token_bucket::duration now) {
    std::erase_if(buckets_, [&](const auto& entry) { return entry.second.full_at(now); });
    if (buckets_.size() >= max_addresses_) buckets_.clear();
}

std::string_view address_of_peer(std::string_view peer) noexcept {
    if (!peer.empty() && peer.front() == '[') {
        const auto close = peer.find(']');
        return close == std::string_view::npos ? peer : peer.substr(1, close - 1);
    }
    const auto colon = peer.rfind(':');
    // Two colons or more and no brackets: an IPv6 address without a port.
    if (colon == std::string_view::npos || peer.find(':') != colon) return peer;
    return peer.substr(0, colon);
}

} // namespace tlsync::server
