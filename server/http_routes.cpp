#include "server/http_routes.hpp"

#include "server/metrics.hpp"
#include "server/static_files.hpp"

#include <boost/beast/websocket/rfc6455.hpp>

namespace tlsync::server {

namespace {

constexpr std::string_view connect_prefix = "/connect/";
constexpr std::string_view admin_prefix = "/admin/";
constexpr std::string_view app_prefix = "/app/";
constexpr std::string_view diagnostics_path = "/replicator/diagnostics";

int hex_value(char c) noexcept {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

http_response method_not_allowed(const http_request& req) {
    auto res = text_response(http::status::method_not_allowed,
                             "method " + std::string(req.method_string()) + " not allowed; use GET",
                             req.version(), req.keep_alive());
    res.set(http::field::allow, "GET");
    return res;
}

route_result route_connect(const http_request& req, std::string_view path, std::string_view query) {
    const auto segment = path.substr(connect_prefix.size());
    const auto room_id = percent_decode(segment, false);
    if (!room_id || !valid_room_id(*room_id))
        return text_response(http::status::bad_request,
                             "invalid room id: expected 1-128 characters of A-Z a-z 0-9 _ -",
                             req.version(), req.keep_alive());
    auto session_id = query_param(query, "sessionId");
    if (!session_id || session_id->empty())
        return text_response(http::status::bad_request, "missing sessionId query parameter",
                             req.version(), req.keep_alive());
    if (!beast::websocket::is_upgrade(req)) {
        auto res = text_response(http::status::upgrade_required,
                                 "this endpoint only accepts websocket connections",
                                 req.version(), req.keep_alive());
        res.set(http::field::upgrade, "websocket");
        res.set(http::field::connection, "Upgrade");
        return res;
    }
    const auto readonly = query_param(query, "readonly");
    return connect_target{*room_id, std::move(*session_id),
                          query_param(query, "storeId").value_or(std::string{}),
                          readonly && (*readonly == "1" || *readonly == "true")};
}

bool valid_lsn_text(std::string_view s) noexcept {
    const auto slash = s.find('/');
    if (slash == std::string_view::npos || slash == 0 || slash > 8 || s.size() - slash - 1 == 0 ||
        s.size() - slash - 1 > 8)
        return false;
    for (std::size_t i = 0; i < s.size(); ++i)
        if (i != slash && hex_value(s[i]) < 0) return false;
    return true;
}

// /app/{userId}/connect: user ids follow the room id rules (they are file
// names nowhere, but they are log fields and SQL parameters; keep them tame).
route_result route_app(const http_request& req, std::string_view path, std::string_view query) {
    auto rest = path.substr(app_prefix.size());
    const auto slash = rest.find('/');
    if (slash == std::string_view::npos || rest.substr(slash) != "/connect")
        return text_response(http::status::not_found, "not found: expected /app/{userId}/connect", req.version(),
                             req.keep_alive());
    const auto user_id = percent_decode(rest.substr(0, slash), false);
    if (!user_id || !valid_room_id(*user_id))
        return text_response(http::status::bad_request,
                             "invalid user id: expected 1-128 characters of A-Z a-z 0-9 _ -", req.version(),
                             req.keep_alive());
    user_target user{*user_id, std::nullopt};
    if (auto lsn = query_param(query, "lsn"); lsn && !lsn->empty()) {
        if (!valid_lsn_text(*lsn))
            return text_response(http::status::bad_request, "invalid lsn: expected X/Y in hexadecimal",
                                 req.version(), req.keep_alive());
        user.lsn = std::move(*lsn);
    }
    if (!beast::websocket::is_upgrade(req)) {
        auto res = text_response(http::status::upgrade_required, "this endpoint only accepts websocket connections",
                                 req.version(), req.keep_alive());
        res.set(http::field::upgrade, "websocket");
        res.set(http::field::connection, "Upgrade");
        return res;
    }
    connect_target t;
    t.user = std::move(user);
    return t;
}

} // namespace

std::pair<std::string_view, std::string_view> split_target(std::string_view target) noexcept {
    const auto q = target.find('?');
    if (q == std::string_view::npos) return {target, {}};
    auto query = target.substr(q + 1);
    if (const auto hash = query.find('#'); hash != std::string_view::npos) query = query.substr(0, hash);
    return {target.substr(0, q), query};
}

std::optional<std::string> percent_decode(std::string_view s, bool plus_as_space) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        char c = s[i];
        if (c == '%') {
            if (i + 2 >= s.size()) return std::nullopt;
            const int hi = hex_value(s[i + 1]);
            const int lo = hex_value(s[i + 2]);
            if (hi < 0 || lo < 0) return std::nullopt;
            c = static_cast<char>(hi * 16 + lo);
            i += 2;
        } else if (c == '+' && plus_as_space) {
            c = ' ';
        }
        if (c == '\0') return std::nullopt;
        out.push_back(c);
    }
    return out;
}

std::optional<std::string> query_param(std::string_view query, std::string_view key) {
    while (!query.empty()) {
        const auto amp = query.find('&');
        const auto pair = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
        const auto eq = pair.find('=');
        const auto raw_key = pair.substr(0, eq);
        const auto name = percent_decode(raw_key, true);
        if (!name || *name != key) continue;
        return percent_decode(eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1),
                              true);
    }
    return std::nullopt;
}

bool is_upload_put(const http_request& header) noexcept {
    return header.method() == http::verb::put && split_target(header.target()).first.starts_with(uploads_prefix);
}

bool allows_large_body(std::string_view target) noexcept {
    // (Mutations travel over the user socket, not as request bodies.)
    return split_target(target).first.starts_with(admin_prefix);
}

http_response text_response(http::status status, std::string body, unsigned version,
                            bool keep_alive) {
    http_response res{status, version};
    res.set(http::field::server, "tlsyncd");
    res.set(http::field::content_type, "text/plain; charset=utf-8");
    res.set(http::field::cache_control, "no-store");
    if (body.empty() || body.back() != '\n') body.push_back('\n');
    res.body() = std::move(body);
    res.keep_alive(keep_alive);
    res.prepare_payload();
    return res;
}

route_result route_request(const http_request& req, bool admin_enabled, bool web_enabled) {
    const auto [path, query] = split_target(req.target());
    const bool keep_alive = req.keep_alive();

    if (path.starts_with(admin_prefix)) {
        if (admin_enabled) return admin_call{};
        return text_response(http::status::not_found, "no such admin endpoint", req.version(),
                             keep_alive);
    }
    if (path == diagnostics_path) {
        if (req.method() != http::verb::get) return method_not_allowed(req);
        if (admin_enabled) return admin_call{};
        return text_response(http::status::not_found, "no such endpoint", req.version(), keep_alive);
    }
    if (path.starts_with(app_prefix)) {
        if (req.method() != http::verb::get) return method_not_allowed(req);
        return route_app(req, path, query);
    }
    if (path == "/healthz") {
        if (req.method() != http::verb::get) return method_not_allowed(req);
        return text_response(http::status::ok, "ok", req.version(), keep_alive);
    }
    if (path == "/metrics") {
        if (req.method() != http::verb::get) return method_not_allowed(req);
        auto res = text_response(http::status::ok, global_metrics().render(), req.version(), keep_alive);
        res.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
        return res;
    }
    if (path.starts_with(connect_prefix)) {
        if (req.method() != http::verb::get) return method_not_allowed(req);
        return route_connect(req, path, query);
    }
    if (path.starts_with(uploads_prefix)) {
        auto routed = route_upload(req);
        if (auto* call = std::get_if<upload_call>(&routed)) return std::move(*call);
        return std::get<http_response>(std::move(routed));
    }
    if (web_enabled && (req.method() == http::verb::get || req.method() == http::verb::head)) {
        if (auto file = static_file_for(path)) return static_call{std::move(*file)};
    }
    if (!web_enabled && (path == "/" || path.starts_with("/r/")))
        return text_response(http::status::not_found,
                             "no web app here: build it (scripts/setup) or point --web-root at one",
                             req.version(), keep_alive);
    // Echo at most a bounded prefix of the path: it is untrusted input.
    return text_response(http::status::not_found, "not found: " + std::string(path.substr(0, 200)),
                         req.version(), keep_alive);
}

} // namespace tlsync::server
