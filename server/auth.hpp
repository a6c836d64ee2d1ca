#pragma once
// Who may open what: the access-token check between routing and the
// websocket. Sans-io apart from reading the key file once at startup.
//
// The token comes as `?token=...` (what a browser's WebSocket can send) or an
// `Authorization: Bearer ...` header. With --auth none there is no
// authenticator and everything is allowed, as before.
//
//   room sockets (/connect/{room}): a missing or bad token -> 4099
//     NOT_AUTHENTICATED; a room the token does not list -> 4099 FORBIDDEN;
//     "access":"read" -> a readonly session.
//   user sockets (/app/{userId}/connect): the token's `sub` must be the user
//     id; otherwise HTTP 401 (no or bad token) or 403 (another user).
//   the admin API: the admin token (--admin-token), or a token with
//     "admin": true.

#include "server/http_routes.hpp"
#include "server/jwt.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace tlsync::server {

struct config;

struct auth_decision {
    bool allowed = false;
    bool readonly = false;      // allowed, but only to read
    std::string reason;         // refused: NOT_AUTHENTICATED or FORBIDDEN (a TLSync close reason)
    std::string detail;         // why, for the log (never sent: it would help an attacker)
    std::string subject;        // the token's user, when it verified
};

class authenticator {
public:
    struct made {
        std::shared_ptr<const authenticator> auth; // null with --auth none
        std::string error;                         // names the flag
    };
    // Reads the key file named by the config.
    [[nodiscard]] static made from_config(const config& cfg);
    explicit authenticator(jwt_verifier v) : verifier_(std::move(v)) {}

    [[nodiscard]] auth_decision check_room(const http_request& req, std::string_view room_id,
                                           std::int64_t now_seconds) const;
    [[nodiscard]] auth_decision check_user(const http_request& req, std::string_view user_id,
                                           std::int64_t now_seconds) const;
    // The admin API: a token with "admin": true.
    [[nodiscard]] auth_decision check_admin(const http_request& req, std::int64_t now_seconds) const;
    [[nodiscard]] const jwt_verifier& verifier() const noexcept { return verifier_; }

private:
    [[nodiscard]] jwt_result verify(const http_request& req, std::int64_t now_seconds) const;
    jwt_verifier verifier_;
};

// Seconds since the epoch: the `now` of the checks below.
[[nodiscard]] std::int64_t unix_seconds() noexcept;

// The token a request carries: `?token=` first, then `Authorization: Bearer`.
[[nodiscard]] std::optional<std::string> request_token(const http_request& req);

// Applies `auth` (null: allow) to a routed websocket target: sets the room
// session's readonly flag or refusal, or turns a refused user socket into an
// HTTP 401/403 response. Returns the response when the request is refused.
[[nodiscard]] std::optional<http_response> authorize(const authenticator* auth, const http_request& req,
                                                     connect_target& target, std::int64_t now_seconds);

} // namespace tlsync::server
