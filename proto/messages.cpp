#include "proto/messages.hpp"

#include <algorithm>

namespace tlsync::proto {

std::string_view to_string(incompatibility_reason r) noexcept {
    switch (r) {
    case incompatibility_reason::client_too_old: return "clientTooOld";
    case incompatibility_reason::server_too_old: return "serverTooOld";
    case incompatibility_reason::invalid_record: return "invalidRecord";
    case incompatibility_reason::invalid_operation: return "invalidOperation";
    }
    return "invalidOperation";
}

incompatibility_reason legacy_reason_for(std::string_view reason) noexcept {
    if (reason == close_reason::client_too_old) return incompatibility_reason::client_too_old;
    if (reason == close_reason::server_too_old) return incompatibility_reason::server_too_old;
    if (reason == close_reason::invalid_record) return incompatibility_reason::invalid_record;
    return incompatibility_reason::invalid_operation;
}

const record_op* network_diff::find(std::string_view id) const noexcept {
    auto it = std::find_if(entries_.begin(), entries_.end(),
                           [&](const entry& e) { return e.first == id; });
    return it == entries_.end() ? nullptr : &it->second;
}

void network_diff::set(std::string id, record_op op) {
    auto it = std::find_if(entries_.begin(), entries_.end(),
                           [&](const entry& e) { return e.first == id; });
    if (it != entries_.end())
        it->second = std::move(op);
    else
        entries_.emplace_back(std::move(id), std::move(op));
}

void network_diff::erase(std::string_view id) {
    std::erase_if(entries_, [&](const entry& e) { return e.first == id; });
}

bool operator==(const network_diff& a, const network_diff& b) noexcept {
    if (a.size() != b.size()) return false;
    for (const auto& [id, op] : a) {
        const auto* other = b.find(id);
        if (!other || !(*other == op)) return false;
    }
    return true;
}

} // namespace tlsync::proto
