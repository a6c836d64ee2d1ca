#pragma once
// Routing of plain HTTP requests, kept free of sockets so it is unit-tested
// directly:
//   GET /healthz                                  200 "ok"
//   GET /metrics                                  200 Prometheus text 0.0.4
//   GET /connect/{roomId}?sessionId=..&storeId=.. websocket upgrade (426 without)
//   GET /app/{userId}/connect[?lsn=X/Y]           user socket upgrade (connect_target::user);
//                                                 whether it is allowed (--postgres,
//                                                 --app-users-insecure) is decided by
//                                                 run_user_websocket, which answers 404/403
//   GET /replicator/diagnostics                   admin_call (admin token) when an admin API
//                                                 is set, else 404
//   /admin/...                                    admin_call when an admin API is set, else 404
//   GET|HEAD|PUT /uploads/{id}[?room=]            upload_call (server/uploads.hpp)
//   GET|HEAD / , /r/{room}, /<file>               static_call when the web app is on
//                                                 (server/static_files.hpp), else 404
// Every error response carries a short text body saying what is wrong.

#include "server/connection_context.hpp"
#include "server/uploads.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace tlsync::server {

// A user socket (GET /app/{userId}/connect): the replicator's user plane.
struct user_target {
    std::string user_id;
    std::optional<std::string> lsn; // "X/Y" as given (validated): what the client has seen
    bool authenticated = false;     // a verified token names this user (server/auth)
};

// A websocket upgrade to accept for a sync session, or, when `user` is set,
// for a user socket (server/user_socket.hpp); room_id is then empty.
struct connect_target {
    std::string room_id;
    std::string session_id;
    std::string store_id; // informational; tldraw sends one per client instance
    // `readonly=1|true`: the session may not change documents (RP9). Until
    // tokens exist a client can only restrict itself with it, never gain.
    bool readonly = false;
    // Accept the websocket, then close it at once with 4099 and this reason
    // (server/auth: NOT_AUTHENTICATED, FORBIDDEN): the tldraw client shows
    // the reason and does not retry, which an HTTP error would not achieve.
    std::optional<std::string> refusal;
    std::optional<user_target> user;
};

// A request for the /admin/... API, which answers asynchronously.
struct admin_call {};

// A file of the web app, relative to its root (static_file_for).
struct static_call {
    std::string file;
};

using route_result = std::variant<http_response, connect_target, admin_call, static_call, upload_call>;

// What to do with `req`: a response, or the session to open once the
// websocket handshake is accepted. `web_enabled`: the web app is served.
[[nodiscard]] route_result route_request(const http_request& req, bool admin_enabled, bool web_enabled = false);

// Requests whose body may be large (admin uploads); the rest are capped at
// small_body_limit before the body is read. Asset uploads (PUT /uploads/)
// have their own limit (--max-upload-bytes), checked by upload_service::admit.
[[nodiscard]] bool allows_large_body(std::string_view target) noexcept;
[[nodiscard]] bool is_upload_put(const http_request& header) noexcept;
inline constexpr std::size_t small_body_limit = 64 * 1024;

// A text/plain response (the body gets a trailing newline if it lacks one).
[[nodiscard]] http_response text_response(http::status status, std::string body,
                                          unsigned version, bool keep_alive);

// "/a/b?x=1" -> {"/a/b", "x=1"}; the query is empty when there is none.
[[nodiscard]] std::pair<std::string_view, std::string_view> split_target(std::string_view target) noexcept;

// %XX decoding (and '+' as space when `plus_as_space`, as URLSearchParams
// does); nullopt for a malformed escape or a decoded NUL.
[[nodiscard]] std::optional<std::string> percent_decode(std::string_view s, bool plus_as_space);

// The first value of `key` in an application/x-www-form-urlencoded query,
// decoded. nullopt when absent or undecodable.
[[nodiscard]] std::optional<std::string> query_param(std::string_view query, std::string_view key);

} // namespace tlsync::server
