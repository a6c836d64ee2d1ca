#include "core/storage.hpp"

#include <algorithm>

namespace tlsync::core {

std::uint64_t sync_storage::on_change(change_listener l) {
    const auto token = next_token_++;
    listeners_.emplace_back(token, std::move(l));
    return token;
}

void sync_storage::unsubscribe(std::uint64_t token) {
    std::erase_if(listeners_, [&](const auto& p) { return p.first == token; });
}

void sync_storage::notify_change(const change_event& e) {
    // Copy: a listener may unsubscribe itself or others while we iterate.
    const auto listeners = listeners_;
    for (const auto& [token, l] : listeners) l(e);
}

} // namespace tlsync::core
