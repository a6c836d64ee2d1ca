// The room registry: id -> actor, created on first use, forgotten when the
// actor has unloaded itself. The map is the only state shared between
// threads and the one place a mutex guards anything; rooms themselves live
// on their strands.

#include "server/room_service.hpp"

#include "server/log.hpp"
#include "server/metrics.hpp"
#include "server/room_actor_impl.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>

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

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr std::uint16_t close_rejected = 4099;
constexpr std::string_view deleted_marker = ".deleted";
// A room whose file is view-only: new non-owner sessions are readonly. Kept
// on disk so a restart does not open the room for writing until the next
// update of the file comes through replication.
constexpr std::string_view readonly_marker = ".readonly";

fs::path rooms_dir(const config& cfg) { return fs::path(cfg.data_dir) / "rooms"; }

// The room of a deleted file: every session that arrives is refused with
// 4099 and the reason (NOT_FOUND), as upstream refuses a room that does not
// exist. Holds no storage.
class gone_room final : public room_actor {
public:
    gone_room(std::string id, std::string reason) : id_(std::move(id)), reason_(std::move(reason)) {}
    const std::string& id() const noexcept override { return id_; }
    void join(core::socket_ref, bool, std::weak_ptr<session_sink> sink) override {
        if (auto s = sink.lock()) s->close(close_rejected, reason_);
    }
    void message(core::socket_ref, proto::client_message) override {}
    void leave(core::socket_ref) override {}
    void reject(core::socket_ref, std::string) override {}
    void visit(std::function<void(core::room*)> f) override { f(nullptr); }

private:
    std::string id_;
    std::string reason_;
};

} // namespace

std::shared_ptr<room_actor> make_refusing_room(std::string id, std::string reason) {
    return std::make_shared<gone_room>(std::move(id), std::move(reason));
}

namespace {

// A room whose new sessions join readonly (a view-only or unshared file).
// Everything else goes to the room itself.
class readonly_room final : public room_actor {
public:
    explicit readonly_room(std::shared_ptr<room_actor> inner) : inner_(std::move(inner)) {}
    const std::string& id() const noexcept override { return inner_->id(); }
    void join(core::socket_ref socket, bool, std::weak_ptr<session_sink> sink) override {
        inner_->join(std::move(socket), true, std::move(sink));
    }
    void message(core::socket_ref socket, proto::client_message msg) override {
        inner_->message(std::move(socket), std::move(msg));
    }
    void submit(core::socket_ref socket, proto::client_message msg, std::shared_ptr<const void> receipt) override {
        inner_->submit(std::move(socket), std::move(msg), std::move(receipt));
    }
    void leave(core::socket_ref socket) override { inner_->leave(std::move(socket)); }
    void reject(core::socket_ref socket, std::string reason) override {
        inner_->reject(std::move(socket), std::move(reason));
    }
    void visit(std::function<void(core::room*)> f) override { inner_->visit(std::move(f)); }

private:
    std::shared_ptr<room_actor> inner_;
};

// Blocking: the marker that refuses a deleted room's id, written before its
// storage goes, so a crash halfway still refuses the id.
void write_deleted_marker(const fs::path& dir, const std::string& id) {
    if (std::FILE* f = std::fopen((dir / (id + std::string(deleted_marker))).c_str(), "w")) std::fclose(f);
    else log::warn("cannot write deleted-room marker", {{"room", id}});
}

class service_impl final : public room_service,
                           public detail::room_owner,
                           public std::enable_shared_from_this<service_impl> {
public:
    service_impl(net::any_io_executor io, net::any_io_executor blocking, const config& cfg,
                 std::shared_ptr<const core::schema> schema)
        : io_(std::move(io)), blocking_(std::move(blocking)), cfg_(cfg), schema_(std::move(schema)) {
        // The markers below live in <data-dir>/rooms whatever stores the rooms.
        sqlite_room_store::prepare_data_dir(cfg_);
        backend_ = make_room_backend(cfg_);
        if (auto leases = backend_->leases()) {
            // Rooms in shared storage: one node at a time serves each.
            leases_ = std::make_shared<lease_keeper>(io_, blocking_, std::move(leases));
            log::info("rooms stored in PostgreSQL, served under leases",
                      {{"node", node_id(cfg_)}, {"lease_ms", std::to_string(cfg_.lease_duration.count())}});
        }
        // Rooms of files deleted before a restart stay refused.
        std::error_code ec;
        for (fs::directory_iterator it(rooms_dir(cfg_), ec), end; !ec && it != end; it.increment(ec)) {
            const auto name = it->path().filename().string();
            if (name.ends_with(deleted_marker)) deleted_.insert(name.substr(0, name.size() - deleted_marker.size()));
            if (name.ends_with(readonly_marker))
                readonly_.insert(name.substr(0, name.size() - readonly_marker.size()));
        }
    }

    // Without shutdown() (a test's crash): renewals stop, nothing is released.
    ~service_impl() override {
        if (leases_) leases_->stop();
    }

    std::shared_ptr<room_actor> acquire(std::string_view room_id) override {
        if (!valid_room_id(room_id)) return nullptr;
        std::lock_guard lock(mutex_);
        if (stopping_) return nullptr;
        if (deleted_.contains(room_id)) return std::make_shared<gone_room>(std::string(room_id), "NOT_FOUND");
        std::shared_ptr<room_actor> actor;
        if (auto it = rooms_.find(room_id); it != rooms_.end()) {
            actor = it->second;
        } else {
            auto a = std::make_shared<detail::room_actor_impl>(std::string(room_id), io_, blocking_, cfg_, schema_,
                                                               weak_from_this(), backend_, leases_);
            rooms_.emplace(std::string(room_id), a);
            a->start();
            actor = std::move(a);
        }
        if (readonly_.contains(room_id)) return std::make_shared<readonly_room>(std::move(actor));
        return actor;
    }

    void close_and_delete(const std::string& room_id, const std::string& reason,
                          std::function<void()> done) override {
        if (!valid_room_id(room_id)) {
            if (done) done();
            return;
        }
        std::shared_ptr<detail::room_actor_impl> actor;
        {
            std::lock_guard lock(mutex_);
            deleted_.insert(room_id);
            readonly_.erase(room_id);
            if (auto it = rooms_.find(room_id); it != rooms_.end()) {
                actor = it->second;
                rooms_.erase(it);
            }
        }
        log::info("room closed: its file was deleted", {{"room", room_id}, {"reason", reason}});
        global_metrics().rooms_deleted_with_file.inc();
        auto remove = [self = shared_from_this(), room_id, done = std::move(done)]() mutable {
            net::post(self->blocking_, [self, room_id, done = std::move(done)]() mutable {
                write_deleted_marker(rooms_dir(self->cfg_), room_id);
                self->remove_stored(room_id);
                std::error_code ec;
                fs::remove(rooms_dir(self->cfg_) / (room_id + std::string(readonly_marker)), ec);
                // The store is closed on the blocking pool after the last
                // flush and may still be open right now; closing an unlinked
                // SQLite file can leave a -wal/-shm behind: sweep again
                // later, unless the room came back meanwhile.
                // (Weak: a pending timer must not keep the service, and its
                // rooms' timers, alive until the io_context is destroyed.)
                auto t = std::make_shared<net::steady_timer>(self->io_, 2s);
                t->async_wait([t, weak = self->weak_from_this(), room_id](boost::system::error_code) {
                    auto self = weak.lock();
                    if (!self || !self->room_deleted(room_id)) return;
                    net::post(self->blocking_, [self, room_id] { self->remove_stored(room_id); });
                });
                if (done) done();
            });
        };
        if (!actor) {
            remove();
            return;
        }
        // Sessions first get 4099 + reason (the client shows "not found" and
        // does not retry), then the actor flushes and closes its store.
        actor->visit([reason](core::room* r) {
            if (!r) return;
            std::vector<std::string> ids;
            for (const auto& s : r->sessions()) ids.push_back(s.session_id);
            for (const auto& id : ids) r->reject_session(id, reason);
        });
        actor->stop(close_rejected, std::move(remove));
    }

    void restore_room(const std::string& room_id) override {
        {
            std::lock_guard lock(mutex_);
            if (deleted_.erase(room_id) == 0) return;
        }
        log::info("room accepted again: its file is back", {{"room", room_id}});
        net::post(blocking_, [dir = rooms_dir(cfg_), room_id] {
            std::error_code ec;
            fs::remove(dir / (room_id + std::string(deleted_marker)), ec);
        });
    }

    void set_room_readonly(const std::string& room_id, bool readonly) override {
        if (!valid_room_id(room_id)) return;
        {
            std::lock_guard lock(mutex_);
            const bool changed = readonly ? readonly_.insert(room_id).second : readonly_.erase(room_id) > 0;
            if (!changed) return;
        }
        // The marker follows on the blocking pool. Two writes for one room
        // may run in either order on its two threads, so each writes the
        // state it finds under the lock, not the one it was posted with:
        // whichever runs last leaves the latest state on disk.
        net::post(blocking_, [self = shared_from_this(), room_id] {
            std::lock_guard write(self->marker_mutex_);
            bool now;
            {
                std::lock_guard lock(self->mutex_);
                now = self->readonly_.contains(room_id);
            }
            const auto path = rooms_dir(self->cfg_) / (room_id + std::string(readonly_marker));
            std::error_code ec;
            if (!now) {
                fs::remove(path, ec);
            } else if (std::FILE* f = std::fopen(path.c_str(), "w")) {
                std::fclose(f);
            } else {
                log::warn("cannot write view-only room marker", {{"room", room_id}});
            }
        });
    }

    void find_stored(std::string room_id, std::function<void(std::optional<bool>)> done) const override {
        net::post(blocking_, [backend = backend_, room_id = std::move(room_id), done = std::move(done)] {
            std::optional<bool> stored;
            try {
                stored = backend->exists(room_id);
            } catch (const std::exception& e) {
                log::error("cannot tell whether a room is stored", {{"room", room_id}, {"error", e.what()}});
            }
            done(stored);
        });
    }

    bool room_deleted(const std::string& room_id) const override {
        std::lock_guard lock(mutex_);
        return deleted_.contains(room_id);
    }

    void set_users(std::shared_ptr<user_hub> hub) override {
        std::lock_guard lock(mutex_);
        users_ = std::move(hub);
    }

    std::shared_ptr<user_hub> users() const override {
        std::lock_guard lock(mutex_);
        return users_;
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
            std::shared_ptr<lease_keeper> leases;
            void finish(bool timed_out) {
                if (fired.exchange(true)) return;
                if (timed_out) log::error("shutdown deadline passed before every room flushed");
                // Leases not released by now (a flush that failed) lapse by themselves.
                if (leases) leases->stop();
                if (deadline) net::post(deadline->get_executor(), [t = deadline] { t->cancel(); });
                done();
            }
        };
        auto st = std::make_shared<state>();
        st->remaining = actors.size();
        st->done = std::move(done);
        st->leases = leases_;
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
    // Blocking. A failure leaves the rows or files; the id stays refused.
    void remove_stored(const std::string& room_id) {
        try {
            backend_->remove(room_id);
        } catch (const std::exception& e) {
            log::error("cannot remove a deleted room's storage", {{"room", room_id}, {"error", e.what()}});
        }
    }

    net::any_io_executor io_;
    net::any_io_executor blocking_;
    const config& cfg_;
    std::shared_ptr<const core::schema> schema_;
    std::shared_ptr<room_backend> backend_;
    std::shared_ptr<lease_keeper> leases_; // null unless rooms are leased (--storage postgres)
    mutable std::mutex mutex_;
    std::map<std::string, std::shared_ptr<detail::room_actor_impl>, std::less<>> rooms_;
    std::set<std::string, std::less<>> deleted_;  // rooms of deleted files: refused
    std::set<std::string, std::less<>> readonly_; // rooms of view-only files
    std::mutex marker_mutex_;                     // one marker write at a time
    std::shared_ptr<user_hub> users_;
    bool stopping_ = false;
};

} // namespace

std::shared_ptr<room_service> make_room_service(net::any_io_executor io, net::any_io_executor blocking,
                                                const config& cfg,
                                                std::shared_ptr<const core::schema> schema) {
    return std::make_shared<service_impl>(std::move(io), std::move(blocking), cfg, std::move(schema));
}

} // namespace tlsync::server
