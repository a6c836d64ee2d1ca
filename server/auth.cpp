#include "server/auth.hpp"

#include "proto/messages.hpp"
#include "server/config.hpp"
#include "server/log.hpp"

#include <fstream>
#include <sstream>

namespace tlsync::server {

namespace {

std::optional<std::string> read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return std::nullopt;
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

auth_decision refused(std::string reason, std::string detail) {
    auth_decision d;
    d.reason = std::move(reason);
    d.detail = std::move(detail);
    return d;
}

} // namespace

std::int64_t unix_seconds() noexcept {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::optional<std::string> request_token(const http_request& req) {
    if (auto t = query_param(split_target(req.target()).second, "token"); t && !t->empty()) return t;
    const auto h = req[http::field::authorization];
    constexpr std::string_view bearer = "Bearer ";
    if (h.size() > bearer.size() && h.substr(0, bearer.size()) == bearer)
        return std::string(h.substr(bearer.size()));
    return std::nullopt;
}

authenticator::made authenticator::from_config(const config& cfg) {
    if (cfg.auth != "jwt") return {};
    if (!cfg.jwt_secret_file.empty()) {
        auto secret = read_file(cfg.jwt_secret_file);
        if (!secret) return {nullptr, "--jwt-secret-file: cannot read " + cfg.jwt_secret_file};
        // Files written with `echo` end in a newline that is not part of the secret.
        while (!secret->empty() && (secret->back() == '\n' || secret->back() == '\r')) secret->pop_back();
        auto v = jwt_verifier::hs256(std::move(*secret));
        if (!v.verifier) return {nullptr, "--jwt-secret-file: " + v.error};
        return {std::make_shared<authenticator>(std::move(*v.verifier)), {}};
    }
    auto pem = read_file(cfg.jwt_public_key);
    if (!pem) return {nullptr, "--jwt-public-key: cannot read " + cfg.jwt_public_key};
    auto v = jwt_verifier::from_public_key_pem(*pem);
    if (!v.verifier) return {nullptr, "--jwt-public-key: " + v.error};
    return {std::make_shared<authenticator>(std::move(*v.verifier)), {}};
}

jwt_result authenticator::verify(const http_request& req, std::int64_t now) const {
    auto token = request_token(req);
    if (!token) return jwt_result{std::nullopt, "no token (?token= or Authorization: Bearer)"};
    return verifier_.verify(*token, now);
}

auth_decision authenticator::check_room(const http_request& req, std::string_view room_id, std::int64_t now) const {
    auto r = verify(req, now);
    if (!r.claims) return refused(std::string(proto::close_reason::not_authenticated), std::move(r.error));
    const auto access = room_access(*r.claims, room_id);
    if (access == token_access::none)
        return refused(std::string(proto::close_reason::forbidden), "the token of " + r.claims->subject + " does not list this room");
    auth_decision d;
    d.allowed = true;
    d.readonly = access == token_access::read;
    d.subject = r.claims->subject;
    return d;
}

auth_decision authenticator::check_user(const http_request& req, std::string_view user_id, std::int64_t now) const {
    auto r = verify(req, now);
    if (!r.claims) return refused(std::string(proto::close_reason::not_authenticated), std::move(r.error));
    if (r.claims->subject != user_id)
        return refused(std::string(proto::close_reason::forbidden), "the token is for " + r.claims->subject + ", not this user");
    auth_decision d;
    d.allowed = true;
    d.subject = r.claims->subject;
    return d;
}

auth_decision authenticator::check_admin(const http_request& req, std::int64_t now) const {
    auto r = verify(req, now);
    if (!r.claims) return refused(std::string(proto::close_reason::not_authenticated), std::move(r.error));
    if (!r.claims->admin) return refused(std::string(proto::close_reason::forbidden), "the token of " + r.claims->subject + " is not an admin token");
    auth_decision d;
    d.allowed = true;
    d.subject = r.claims->subject;
    return d;
}

std::optional<http_response> authorize(const authenticator* auth, const http_request& req, connect_target& target,
                                       std::int64_t now) {
    if (!auth) return std::nullopt;
    if (target.user) {
        auto d = auth->check_user(req, target.user->user_id, now);
        if (d.allowed) {
            target.user->authenticated = true;
            return std::nullopt;
        }
        log::info("user socket refused", {{"user", target.user->user_id}, {"reason", d.reason}, {"why", d.detail}});
        auto res = d.reason == proto::close_reason::forbidden
                       ? text_response(http::status::forbidden, "this token is for another user", req.version(), false)
                       : text_response(http::status::unauthorized, "a valid access token is required", req.version(),
                                       false);
        if (d.reason != proto::close_reason::forbidden) res.set(http::field::www_authenticate, "Bearer");
        return res;
    }
    auto d = auth->check_room(req, target.room_id, now);
    if (!d.allowed) {
        log::info("room socket refused", {{"room", target.room_id}, {"session", target.session_id},
                                          {"reason", d.reason}, {"why", d.detail}});
        target.refusal = d.reason;
    }
    // A read token narrows the session; `readonly=1` from the client still can.
    target.readonly = target.readonly || d.readonly;
    return std::nullopt;
}

} // namespace tlsync::server
