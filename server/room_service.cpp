// The room registry: id -> actor, created on first use, forgotten when the
// actor has unloaded itself. The map is the only state shared between
// threads and the one place a mutex guards anything; rooms themselves live
// on their strands.

#include "server/room_service.hpp"

#include "server/log.hpp"
#include "server/room_actor_impl.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <map>
#include <mutex>

namespace tlsync::server {

bool valid_room_id(std::string_view id) noexcept {
    if (id.empty() || id.size() > 128) return false;
    for (char c : id) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                        c == '_' || c == '-';
        if (!ok) return false;
    }
    return true;
}

namespace {

class service_impl final : public room_service,
                           public detail::room_owner,
                           public std::enable_shared_from_this<service_impl> {
public:
    service_impl(net::any_io_executor io, net::any_io_executor blocking, const config& cfg,
                 std::shared_ptr<const core::schema> schema)
        : io_(std::move(io)), blocking_(std::move(blocking)), cfg_(cfg), schema_(std::move(schema)) {
        room_store::prepare_data_dir(cfg_);
    }

    std::shared_ptr<room_actor> acquire(std::string_view room_id) override {
        if (!valid_room_id(room_id)) return nullptr;
        std::lock_guard lock(mutex_);
        if (stopping_) return nullptr;
        auto it = rooms_.find(room_id);
        if (it != rooms_.end()) return it->second;
        auto actor = std::make_shared<detail::room_actor_impl>(std::string(room_id), io_, blocking_,
                                                               cfg_, schema_, weak_from_this());
        rooms_.emplace(std::string(room_id), actor);
        actor->start();
        return actor;
    }

    std::vector<std::shared_ptr<room_actor>> rooms() const override {
        std::lock_guard lock(mutex_);
        std::vector<std::shared_ptr<room_actor>> out;
        out.reserve(rooms_.size());
        for (const auto& [id, a] : rooms_) out.push_back(a);
        return out;
    }

    void unloaded(const std::string& id, const room_actor* actor) override {
        std::lock_guard lock(mutex_);
        if (auto it = rooms_.find(id); it != rooms_.end() && it->second.get() == actor) rooms_.erase(it);
    }

    std::shared_ptr<room_actor> reacquire(const std::string& id) override { return acquire(id); }

    void shutdown(std::uint16_t close_code, std::function<void()> done) override {
        std::vector<std::shared_ptr<detail::room_actor_impl>> actors;
        {
            std::lock_guard lock(mutex_);
            stopping_ = true;
            for (const auto& [id, a] : rooms_) actors.push_back(a);
        }
        // `done` runs exactly once: when every room has flushed, or at the
        // deadline, whichever comes first.
        struct state {
            std::atomic<std::size_t> remaining;
            std::atomic<bool> fired{false};
            std::function<void()> done;
            std::shared_ptr<net::steady_timer> deadline;
            void finish(bool timed_out) {
                if (fired.exchange(true)) return;
                if (timed_out) log::error("shutdown deadline passed before every room flushed");
                if (deadline) net::post(deadline->get_executor(), [t = deadline] { t->cancel(); });
                done();
            }
        };
        auto st = std::make_shared<state>();
        st->remaining = actors.size();
        st->done = std::move(done);
        if (actors.empty()) {
            st->finish(false);
            return;
        }
        st->deadline = std::make_shared<net::steady_timer>(io_, cfg_.shutdown_timeout);
        st->deadline->async_wait([st](boost::system::error_code ec) {
            if (!ec) st->finish(true);
        });
        log::info("flushing rooms", {{"rooms", std::to_string(actors.size())}});
        for (auto& a : actors)
            a->stop(close_code, [st] {
                if (--st->remaining == 0) st->finish(false);
            });
    }

private:
    net::any_io_executor io_;
    net::any_io_executor blocking_;
    const config& cfg_;
    std::shared_ptr<const core::schema> schema_;
    mutable std::mutex mutex_;
    std::map<std::string, std::shared_ptr<detail::room_actor_impl>, std::less<>> rooms_;
    bool stopping_ = false;
};

} // namespace

std::shared_ptr<room_service> make_room_service(net::any_io_executor io, net::any_io_executor blocking,
                                                const config& cfg,
                                                std::shared_ptr<const core::schema> schema) {
    return std::make_shared<service_impl>(std::move(io), std::move(blocking), cfg, std::move(schema));
}

} // namespace tlsync::server
