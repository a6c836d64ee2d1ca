#pragma once
// A user socket (GET /app/{userId}/connect[?lsn=X/Y]): one reader coroutine
// (frames -> core::user::decode_client -> the user's actor) and one writer
// coroutine (a queue bounded in bytes and frames; a socket that falls behind
// is closed with 1008 and its user unregistered once no socket is left) on
// the connection's strand. The writer sends everything queued at a wake-up
// in one write on the connection (server/user_socket_stream.hpp). The protocol itself is core/user_protocol.hpp and
// server/user_actor.hpp; docs/REPLICATOR.md describes it.
//
// Hook: the listener runs this instead of run_websocket for upgrades whose
// connect_target has `user` set. It answers the upgrade itself: 404 without
// --postgres, 403 without --app-users-insecure (who may connect as whom
// comes with authentication, issue 5), else the websocket.

#include "server/connection_context.hpp"
#include "server/http_session.hpp"

#include <boost/asio/awaitable.hpp>

#include <string>

namespace tlsync::server {

class user_hub;

// Same contract as run_websocket; the hub is ctx->rooms->users().
[[nodiscard]] net::awaitable<void> run_user_websocket(websocket_upgrade upgrade,
                                                      std::shared_ptr<connection_context> ctx, std::string peer);

// Bounds of one user socket's outbound queue.
inline constexpr std::size_t user_socket_max_frames = 4096;

} // namespace tlsync::server
