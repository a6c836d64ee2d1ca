#pragma once
// The admin HTTP API, guarded by `Authorization: Bearer <--admin-token>`.
// Everything is JSON; errors are {"error": "..."} with a 4xx/5xx status.
//
//   GET    /admin/rooms                               loaded rooms with their sessions
//   GET    /admin/rooms/{id}                          one room (loads it if stored)
//   GET    /admin/rooms/{id}/snapshot                 RoomSnapshot JSON
//   PUT    /admin/rooms/{id}/snapshot                 replace contents (RoomSnapshot or
//                                                     tldraw StoreSnapshot); clients get the
//                                                     changes or are made to reconnect
//   POST   /admin/rooms/{id}/update                   server-side update in one transaction:
//                                                     {"puts":[records], "deletes":[ids]} and/or
//                                                     {"diff": NetworkDiff}; invalid records: 400
//   POST   /admin/rooms/{id}/sessions/{sid}/close     {"reason": "FORBIDDEN"} (optional): 4099
//                                                     close with that reason, else a plain close
//   POST   /admin/rooms/{id}/sessions/{sid}/custom    body = any JSON: sent as a custom message
//   GET    /replicator/diagnostics                    replicator, history, pool and user
//                                                     sockets (404 without --postgres)

#include "server/connection_context.hpp"

#include <boost/json/object.hpp>

#include <functional>
#include <memory>

namespace tlsync::server {

// The body of GET /replicator/diagnostics; empty when there is no replicator.
using diagnostics_provider = std::function<net::awaitable<boost::json::object>()>;

class authenticator;

// Requests need `Authorization: Bearer <--admin-token>`, or, when `auth` is
// set (--auth jwt), a token with "admin": true.
[[nodiscard]] admin_handler make_admin_handler(std::shared_ptr<room_registry> rooms, const config& cfg,
                                               diagnostics_provider diagnostics = {},
                                               std::shared_ptr<const authenticator> auth = {});

} // namespace tlsync::server
