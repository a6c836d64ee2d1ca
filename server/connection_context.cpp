#include "server/connection_context.hpp"

#include <boost/asio/post.hpp>

#include <vector>

namespace tlsync::server {

std::shared_ptr<connection_tracker::entry> connection_tracker::add(net::any_io_executor executor) {
    auto e = std::make_shared<entry>();
    e->executor = std::move(executor);
    std::lock_guard lock(mutex_);
    e->id = next_id_++;
    entries_.emplace(e->id, e);
    return e;
}

void connection_tracker::remove(std::uint64_t id) {
    std::function<void()> f;
    {
        std::lock_guard lock(mutex_);
        entries_.erase(id);
        if (entries_.empty()) f = std::exchange(on_empty_, nullptr);
    }
    // Outside the lock: the callback may stop the io_context or add work.
    if (f) f();
}

std::size_t connection_tracker::size() const {
    std::lock_guard lock(mutex_);
    return entries_.size();
}

void connection_tracker::cancel_all(net::cancellation_type type) {
    std::vector<std::shared_ptr<entry>> all;
    {
        std::lock_guard lock(mutex_);
        all.reserve(entries_.size());
        for (auto& [id, e] : entries_) all.push_back(e);
    }
    for (auto& e : all) net::post(e->executor, [e, type] { e->signal.emit(type); });
}

void connection_tracker::when_empty(std::function<void()> f) {
    {
        std::lock_guard lock(mutex_);
        if (!entries_.empty()) {
            on_empty_ = std::move(f);
            return;
        }
    }
    f();
}

} // namespace tlsync::server
