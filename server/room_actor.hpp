#pragma once
// A room as an actor: one core::room confined to its own strand, with the
// timer that drives its deadlines and the write-behind persistence of its
// documents. Every public member is thread-safe: it posts to the strand.
// The header stays free of Asio so that connection code can include it
// cheaply; see room_actor.cpp.

#include "core/room.hpp"
#include "proto/messages.hpp"
#include "server/session_sink.hpp"

#include <chrono>
#include <functional>
#include <memory>
#include <string>

namespace tlsync::server {

class room_registry;

class room_actor : public std::enable_shared_from_this<room_actor> {
public:
    virtual ~room_actor() = default;

    [[nodiscard]] virtual const std::string& id() const noexcept = 0;

    // A websocket for `socket.session_id` was accepted (SR4). `sink` receives
    // what the room sends to it.
    virtual void join(core::socket_ref socket, bool is_readonly, std::weak_ptr<session_sink> sink) = 0;
    // A decoded client message from that socket.
    virtual void message(core::socket_ref socket, proto::client_message msg) = 0;
    // message() with flow control: the room drops its copies of `receipt` once
    // it has applied, forwarded or discarded the message, so a connection that
    // holds the other end (a weak_ptr, or a destructor) learns how much of
    // its input the room still has to work through. The default is message()
    // with the receipt released at once.
    virtual void submit(core::socket_ref socket, proto::client_message msg,
                        std::shared_ptr<const void> receipt) {
        (void)receipt;
        message(std::move(socket), std::move(msg));
    }
    // The socket closed or failed (SR6).
    virtual void leave(core::socket_ref socket) = 0;
    // The connection saw a protocol violation (bad JSON, bad message): the
    // room rejects the session with `reason` (a proto::close_reason), if the
    // socket is still the session's current one.
    virtual void reject(core::socket_ref socket, std::string reason) = 0;
    // Runs `f` on the room's strand once it is loaded, with the room, or with
    // nullptr when the room failed to load or has unloaded. Actions `f`
    // causes (broadcasts, closes) are carried out afterwards.
    virtual void visit(std::function<void(core::room*)> f) = 0;
};

// An actor that closes every session at once with 4099 and `reason` (a
// room of a deleted file, a socket refused by access control).
[[nodiscard]] std::shared_ptr<room_actor> make_refusing_room(std::string id, std::string reason);

} // namespace tlsync::server
