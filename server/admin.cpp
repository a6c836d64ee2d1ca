#include "server/admin.hpp"

#include "server/auth.hpp"

#include "core/diff.hpp"
#include "core/room.hpp"
#include "proto/codec.hpp"
#include "server/http_routes.hpp"
#include "server/log.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/serialize.hpp>

#include <openssl/crypto.h>

#include <functional>

namespace tlsync::server {

namespace {

struct admin_error {
    http::status status;
    std::string message;
};

http_response json_response(http::status status, const json::value& body, const http_request& req) {
    http_response res{status, req.version()};
    res.set(http::field::server, "tlsyncd");
    res.set(http::field::content_type, "application/json");
    res.set(http::field::cache_control, "no-store");
    res.body() = proto::encode_json(body);
    res.body().push_back('\n');
    res.keep_alive(req.keep_alive());
    res.prepare_payload();
    return res;
}

http_response error_response(const admin_error& e, const http_request& req) {
    return json_response(e.status, json::object{{"error", e.message}}, req);
}

// Constant-time: the token must not leak through timing.
bool token_matches(std::string_view header, const std::string& token) {
    constexpr std::string_view scheme = "Bearer ";
    if (token.empty() || !header.starts_with(scheme)) return false;
    const auto given = header.substr(scheme.size());
    return given.size() == token.size() && CRYPTO_memcmp(given.data(), token.data(), token.size()) == 0;
}

std::vector<std::string_view> segments(std::string_view path) {
    std::vector<std::string_view> out;
    while (!path.empty()) {
        if (path.front() == '/') {
            path.remove_prefix(1);
            continue;
        }
        const auto slash = path.find('/');
        out.push_back(path.substr(0, slash));
        path = slash == std::string_view::npos ? std::string_view{} : path.substr(slash);
    }
    return out;
}

json::object session_json(const core::session_info& s) {
    json::object o{{"sessionId", s.session_id},
                   {"state", core::to_string(s.state)},
                   {"isReadonly", s.is_readonly},
                   {"protocolVersion", s.protocol_version}};
    o["presenceId"] = s.presence_id ? json::value(*s.presence_id) : json::value(nullptr);
    return o;
}

json::object room_json(std::string_view id, const core::room& r) {
    json::array sessions;
    for (const auto& s : r.sessions()) sessions.push_back(session_json(s));
    return {{"id", id}, {"documentClock", r.document_clock()}, {"sessions", std::move(sessions)}};
}

// Runs `f(room)` on the room's strand and resumes the coroutine with its
// result (on the coroutine's executor).
template <class R, class F>
net::awaitable<R> on_room(std::shared_ptr<room_actor> actor, F f) {
    auto initiate = [actor = std::move(actor), f = std::move(f)](auto handler) mutable {
        // visit() takes a std::function, which must be copyable.
        auto shared = std::make_shared<decltype(handler)>(std::move(handler));
        actor->visit([f = std::move(f), shared](core::room* r) mutable {
            R result = f(r);
            auto ex = net::get_associated_executor(*shared);
            net::post(ex, [shared, result = std::move(result)]() mutable { (*shared)(std::move(result)); });
        });
    };
    co_return co_await net::async_initiate<decltype(net::use_awaitable), void(R)>(std::move(initiate),
                                                                                net::use_awaitable);
}

// Applies an update body to the room in one transaction (US5).
void apply_update(core::room& r, const json::object& body) {
    r.update_store([&](core::store_update& u) {
        if (const auto* puts = body.if_contains("puts")) {
            if (!puts->is_array()) throw admin_error{http::status::bad_request, "puts must be an array"};
            for (const auto& p : puts->get_array()) {
                if (!p.is_object()) throw admin_error{http::status::bad_request, "every put must be a record object"};
                u.put(p.get_object());
            }
        }
        if (const auto* dels = body.if_contains("deletes")) {
            if (!dels->is_array()) throw admin_error{http::status::bad_request, "deletes must be an array"};
            for (const auto& d : dels->get_array()) {
                if (!d.is_string()) throw admin_error{http::status::bad_request, "every delete must be an id string"};
                u.remove(d.get_string());
            }
        }
        if (const auto* diff = body.if_contains("diff")) {
            // Reuse the client codec's strict validation of a NetworkDiff.
            json::object push{{"type", "push"}, {"clientClock", 0}, {"diff", *diff}};
            auto decoded = proto::decode_client_message(json::value(std::move(push)));
            if (!decoded) throw admin_error{http::status::bad_request, "diff: " + decoded.error().detail};
            const auto& req = std::get<proto::push_request>(decoded.value());
            for (const auto& [id, op] : *req.diff) {
                switch (op.type) {
                case proto::record_op_type::put: u.put(op.value); break;
                case proto::record_op_type::remove: u.remove(id); break;
                case proto::record_op_type::patch:
                    if (auto current = u.get(id)) {
                        if (auto patched = core::apply_object_diff(*current, op.value)) u.put(std::move(*patched));
                    }
                    break;
                }
            }
        }
    });
}

class admin_api {
public:
    admin_api(std::shared_ptr<room_registry> rooms, const config& cfg, diagnostics_provider diagnostics,
              std::shared_ptr<const authenticator> auth)
        : rooms_(std::move(rooms)), cfg_(cfg), diagnostics_(std::move(diagnostics)), auth_(std::move(auth)) {}

    bool allowed(const http_request& req) const {
        if (token_matches(req[http::field::authorization], cfg_.admin_token)) return true;
        if (!auth_) return false;
        return auth_->check_admin(req, unix_seconds()).allowed;
    }

    net::awaitable<http_response> handle(const http_request& req) {
        if (!allowed(req)) {
            log::warn("admin request refused", {{"target", req.target()}, {"reason", "bad token"}});
            auto res = error_response({http::status::unauthorized, "missing or wrong bearer token"}, req);
            res.set(http::field::www_authenticate, "Bearer");
            co_return res;
        }
        try {
            co_return co_await dispatch(req);
        } catch (const admin_error& e) {
            co_return error_response(e, req);
        }
    }

private:
    using room_op = std::function<http_response(core::room&)>;

    // Works out which room operation a request is, then runs it. Operations
    // are built as named std::function values before any co_await: GCC 12
    // mishandles lambda temporaries with non-trivial captures inside co_await
    // expressions (they get destroyed twice).
    net::awaitable<http_response> dispatch(const http_request& req) {
        const auto [path, query] = split_target(req.target());
        const auto seg = segments(path); // "admin", "rooms", ...
        const auto method = req.method();
        if (path == "/replicator/diagnostics") {
            require(method == http::verb::get, req);
            if (!diagnostics_)
                throw admin_error{http::status::not_found, "no replicator: start tlsyncd with --postgres"};
            auto body = co_await diagnostics_();
            co_return json_response(http::status::ok, body, req);
        }
        if (seg.size() < 2 || seg[1] != "rooms") throw admin_error{http::status::not_found, "no such admin endpoint"};
        if (seg.size() == 2) {
            require(method == http::verb::get, req);
            co_return co_await list_rooms(req);
        }
        const std::string id(seg[2]);
        if (!valid_room_id(id)) throw admin_error{http::status::bad_request, "invalid room id"};
        const std::string_view what = seg.size() > 3 ? seg[3] : std::string_view{};
        room_op op;
        bool create = false;
        if (seg.size() == 3) {
            require(method == http::verb::get, req);
            op = [&req, id](core::room& r) { return json_response(http::status::ok, room_json(id, r), req); };
        } else if (seg.size() == 4 && what == "snapshot" && method == http::verb::get) {
            op = [&req](core::room& r) {
                return json_response(http::status::ok, core::to_json(r.get_snapshot()), req);
            };
        } else if (seg.size() == 4 && what == "snapshot" &&
                   (method == http::verb::put || method == http::verb::post)) {
            create = true;
            op = [&req, snapshot = parse_snapshot(req.body())](core::room& r) {
                r.load_snapshot(snapshot);
                return json_response(http::status::ok, json::object{{"documentClock", r.document_clock()}}, req);
            };
        } else if (seg.size() == 4 && what == "update") {
            require(method == http::verb::post, req);
            create = true;
            op = [&req, body = parse_object(req.body())](core::room& r) {
                apply_update(r, body);
                return json_response(http::status::ok, json::object{{"documentClock", r.document_clock()}}, req);
            };
        } else if (seg.size() == 6 && what == "sessions" && (seg[5] == "close" || seg[5] == "custom")) {
            require(method == http::verb::post, req);
            const std::string sid(seg[4]);
            std::function<void(core::room&)> act;
            if (seg[5] == "close") {
                std::string reason;
                if (!req.body().empty()) {
                    auto body = parse_object(req.body());
                    if (const auto* r = body.if_contains("reason"); r && r->is_string()) reason = r->get_string();
                }
                act = [sid, reason](core::room& r) { r.reject_session(sid, reason); };
            } else {
                act = [sid, data = parse_json(req.body())](core::room& r) { r.send_custom_message(sid, data); };
            }
            op = [&req, sid, act](core::room& r) {
                bool found = false;
                for (const auto& s : r.sessions()) found = found || s.session_id == sid;
                if (!found) return error_response({http::status::not_found, "no such session"}, req);
                act(r);
                return json_response(http::status::ok, json::object{{"ok", true}}, req);
            };
        } else {
            throw admin_error{http::status::not_found, "no such admin endpoint"};
        }
        co_return co_await with_room(id, req, create, std::move(op));
    }

    static void require(bool ok, const http_request&) {
        if (!ok) throw admin_error{http::status::method_not_allowed, "method not allowed"};
    }

    static json::value parse_json(const std::string& body) {
        auto v = proto::parse_json(body);
        if (!v) throw admin_error{http::status::bad_request, "invalid JSON: " + v.error().detail};
        return std::move(v.value());
    }
    static json::object parse_object(const std::string& body) {
        auto v = parse_json(body);
        if (!v.is_object()) throw admin_error{http::status::bad_request, "expected a JSON object"};
        return std::move(v.get_object());
    }
    static core::room_snapshot parse_snapshot(const std::string& body) {
        try {
            return core::room_snapshot_from_json(parse_json(body));
        } catch (const std::invalid_argument& e) {
            throw admin_error{http::status::bad_request, std::string("invalid snapshot: ") + e.what()};
        }
    }

    net::awaitable<http_response> list_rooms(const http_request& req) {
        json::array out;
        for (auto& actor : rooms_->rooms()) {
            std::function<std::optional<json::object>(core::room*)> describe =
                [id = actor->id()](core::room* r) -> std::optional<json::object> {
                if (!r) return std::nullopt; // unloaded meanwhile
                return room_json(id, *r);
            };
            auto room = co_await on_room<std::optional<json::object>>(actor, std::move(describe));
            if (room) out.push_back(std::move(*room));
        }
        co_return json_response(http::status::ok, json::object{{"rooms", std::move(out)}}, req);
    }

    // Runs `op` on the room; an unknown room is 404 unless `create` (writes).
    net::awaitable<http_response> with_room(const std::string& id, const http_request& req, bool create,
                                            room_op op) {
        if (!create) {
            bool loaded = false;
            for (const auto& a : rooms_->rooms()) loaded = loaded || a->id() == id;
            if (!loaded) {
                const auto stored = co_await find_stored(id);
                if (!stored) throw admin_error{http::status::service_unavailable, "room storage unavailable, retry"};
                if (!*stored) throw admin_error{http::status::not_found, "no such room"};
            }
        }
        auto actor = rooms_->acquire(id);
        if (!actor) throw admin_error{http::status::service_unavailable, "server shutting down"};
        std::function<http_response(core::room*)> run = [&req, op = std::move(op)](core::room* r) -> http_response {
            if (!r) return error_response({http::status::service_unavailable, "room unavailable, retry"}, req);
            try {
                return op(*r);
            } catch (const admin_error& e) {
                return error_response(e, req);
            } catch (const core::validation_error& e) {
                return error_response({http::status::bad_request, std::string("invalid record: ") + e.what()}, req);
            } catch (const std::exception& e) {
                return error_response({http::status::bad_request, e.what()}, req);
            }
        };
        co_return co_await on_room<http_response>(std::move(actor), std::move(run));
    }

    // room_registry::find_stored, resumed on the coroutine's executor.
    net::awaitable<std::optional<bool>> find_stored(const std::string& id) {
        auto initiate = [rooms = rooms_, id](auto handler) {
            auto shared = std::make_shared<decltype(handler)>(std::move(handler));
            rooms->find_stored(id, [shared](std::optional<bool> stored) {
                auto ex = net::get_associated_executor(*shared);
                net::post(ex, [shared, stored] { (*shared)(stored); });
            });
        };
        co_return co_await net::async_initiate<decltype(net::use_awaitable), void(std::optional<bool>)>(
            std::move(initiate), net::use_awaitable);
    }

    std::shared_ptr<room_registry> rooms_;
    const config& cfg_;
    diagnostics_provider diagnostics_;
    std::shared_ptr<const authenticator> auth_; // null: the admin token only
};

} // namespace

admin_handler make_admin_handler(std::shared_ptr<room_registry> rooms, const config& cfg,
                                 diagnostics_provider diagnostics, std::shared_ptr<const authenticator> auth) {
    auto api = std::make_shared<admin_api>(std::move(rooms), cfg, std::move(diagnostics), std::move(auth));
    return [api](const http_request& req) { return api->handle(req); };
}

} // namespace tlsync::server
