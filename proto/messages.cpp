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

std::ptrdiff_t network_diff::position(std::string_view id) const noexcept {
    if (!index_.empty()) {
        auto it = index_.find(std::string(id));
        return it == index_.end() ? -1 : static_cast<std::ptrdiff_t>(it->second);
    }
    for (std::size_t i = 0; i < entries_.size(); ++i)
        if (entries_[i].first == id) return static_cast<std::ptrdiff_t>(i);
    return -1;
}

const record_op* network_diff::find(std::string_view id) const noexcept {
    const auto i = position(id);
    return i < 0 ? nullptr : &entries_[static_cast<std::size_t>(i)].second;
}

void network_diff::set(std::string id, record_op op) {
    if (const auto i = position(id); i >= 0) {
        entries_[static_cast<std::size_t>(i)].second = std::move(op);
        return;
    }
    if (index_.empty() && entries_.size() >= index_threshold) {
        index_.reserve(entries_.size() * 2);
        for (std::size_t i = 0; i < entries_.size(); ++i) index_.emplace(entries_[i].first, i);
    }
    if (!index_.empty()) index_.emplace(id, entries_.size());
    entries_.emplace_back(std::move(id), std::move(op));
}

void network_diff::erase(std::string_view id) {
    const auto i = position(id);
    if (i < 0) return;
    entries_.erase(entries_.begin() + i);
    if (!index_.empty()) { // positions after i moved: rebuild
        index_.clear();
        for (std::size_t j = 0; j < entries_.size(); ++j) index_.emplace(entries_[j].first, j);
    }
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
