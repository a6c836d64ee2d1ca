#pragma once
// One connected user: the user's registration with the replicator's history,
// the sockets of that user, and their mutations, confined to one strand.
//
// A socket starts `waiting`. The first registration serves it: with an LSN
// history reaches back to, `hello` and the replayed `changes`; otherwise
// (`reload` first if it gave an LSN) a snapshot (`initial_data`) registered
// at the snapshot's LSN, so everything committed after it is replayed on
// top. A socket joining a registered user is `loading` while its own
// snapshot is read: the changes meanwhile are buffered and those already in
// the snapshot dropped, so its numbering stays contiguous too. A gap in the
// numbers or the replicator's sequence break sends `reload` to every socket
// and starts over. The last socket leaving unregisters the user (routing
// stops) and ends the actor.

#include "core/user_protocol.hpp"
#include "server/user_hub.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/strand.hpp>

#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace tlsync::server {

struct user_actor_info {
    std::string user_id;
    std::size_t sockets = 0;
    std::size_t queued_frames = 0;
    std::size_t queued_bytes = 0;
    std::string sequence_id;
    std::int64_t sequence_number = 0;
    std::size_t pending_mutations = 0;
};

class user_actor : public std::enable_shared_from_this<user_actor> {
public:
    user_actor(std::string user_id, std::weak_ptr<user_hub> hub, net::any_io_executor io);

    [[nodiscard]] const std::string& id() const noexcept { return user_id_; }

    // All thread-safe (they post to the strand).
    void join(std::uint64_t socket_id, std::weak_ptr<user_sink> sink, std::optional<core::pg::lsn> seen);
    void message(std::uint64_t socket_id, core::user::client_message m);
    void leave(std::uint64_t socket_id);
    void deliver(std::vector<core::pg::user_delivery> d);
    void sequence_break();
    void stop(std::uint16_t code, std::string reason);

    [[nodiscard]] user_actor_info info() const;

private:
    enum class phase { waiting, loading, live };
    struct buffered {
        core::pg::lsn at;
        std::int64_t number = 0;
        std::vector<std::shared_ptr<const std::string>> frames;
    };
    struct socket_entry {
        std::uint64_t id = 0;
        std::weak_ptr<user_sink> sink;
        std::optional<core::pg::lsn> seen;
        phase state = phase::waiting;
        std::uint64_t load_generation = 0;
        std::int64_t load_from = 0; // the stream's number when its snapshot was asked for
        std::vector<buffered> buffer;
    };
    enum class reg_state { none, registering, registered };

    net::awaitable<void> bootstrap();
    net::awaitable<bool> register_once();
    net::awaitable<void> load_socket(std::uint64_t socket_id, std::uint64_t generation);
    net::awaitable<void> run_mutations();
    net::awaitable<bool> wait_ready();

    void on_deliveries(std::vector<core::pg::user_delivery>& d);
    // Applies deliveries in order; false on a gap in the numbering.
    bool apply(std::vector<core::pg::user_delivery>& d);
    void restart(std::string_view reason);
    void start_bootstrap();
    void start_load(socket_entry& s);
    void send(const socket_entry& s, const std::shared_ptr<const std::string>& frame) const;
    void send_live(std::vector<std::shared_ptr<const std::string>> frames);
    void close_socket(std::uint64_t socket_id, std::uint16_t code, std::string reason);
    void close_waiting(std::uint16_t code, const std::string& reason);
    socket_entry* find(std::uint64_t socket_id);
    void unregister(std::string suffix);
    void publish_info();
    template <class F> void spawn(F&& f, const char* what);

    const std::string user_id_;
    std::weak_ptr<user_hub> hub_;
    net::strand<net::any_io_executor> strand_;

    // On the strand:
    std::vector<socket_entry> sockets_;
    core::user::user_stream stream_;
    reg_state reg_ = reg_state::none;
    bool rebootstrap_ = false;
    bool stopping_ = false;
    bool gone_ = false;
    std::uint64_t generation_ = 0; // bumped by every (re)registration
    std::string suffix_;           // of the current registration, for unregistering it
    std::deque<std::pair<std::uint64_t, core::user::mutate>> mutations_;
    bool mutating_ = false;

    mutable std::mutex info_mutex_;
    user_actor_info info_;
    std::vector<std::weak_ptr<user_sink>> info_sinks_;
};

} // namespace tlsync::server
