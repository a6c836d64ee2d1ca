// A room receiving arbitrary messages from several sessions (core/room*).
// The input is decoded into a sequence of operations on three sessions
// (open a socket, connect, push a generated diff, send any message text,
// ping, close, let time pass) plus server-side writes; a session may
// connect with an older schema, and then sees every record migrated down.
// Each session is modelled as a client would see it: the documents it was
// told about (connect, patches, and its own pushes as their results say).
// Checked:
//  * nothing crashes and nothing is sent to a closed socket;
//  * everything the room sends decodes as a server message;
//  * every push a connected session sent gets exactly one push_result, in
//    order, with its clientClock, unless its socket is closed first;
//  * once the data messages are flushed, every connected session's view of
//    the documents equals the room's storage (migrated down to its schema),
//    and of the presence records equals the room's (its own excepted).

#include "check.hpp"
#include "core/diff.hpp"
#include "core/memory_storage.hpp"
#include "core/room.hpp"
#include "proto/codec.hpp"

#include <fuzzer/FuzzedDataProvider.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <variant>

using namespace tlsync;
using namespace std::chrono_literals;

namespace {

// FUZZ_TRACE=1 prints every operation and every frame: for reading a reproducer.
const bool tracing = std::getenv("FUZZ_TRACE") != nullptr;
#define TRACE(...)                                  \
    do {                                            \
        if (tracing) std::fprintf(stderr, __VA_ARGS__); \
    } while (0)

std::string show(const json::value& v) { return proto::encode_json(v); }

// document, page and shape documents (a shape needs object props and a
// string color when it has one; anything carrying "invalid" is refused),
// a session-scoped type and presence.
std::shared_ptr<const core::schema> make_schema() {
    using core::record_scope;
    auto refuse_marked = [](const json::object& r) {
        if (r.contains("invalid")) throw core::validation_error("marked invalid");
    };
    auto shape = [](const json::object& r) {
        const auto* props = r.if_contains("props");
        if (!props || !props->is_object()) throw core::validation_error("props must be an object");
        if (const auto* c = props->as_object().if_contains("color"); c && !c->is_string())
            throw core::validation_error("color must be a string");
    };
    std::vector<core::record_type> types{
        {"document", record_scope::document, refuse_marked},
        {"page", record_scope::document, refuse_marked},
        {"shape", record_scope::document, shape},
        {"instance", record_scope::session, {}},
        {"instance_presence", record_scope::presence, {}},
    };
    // Shapes have two versions: v2 gives props a color ("black"), and down
    // removes it, so a client still on v1 gets every
    // change migrated down and its pushes migrated up (MG1, MG2).
    core::migration v1;
    v1.id = "com.test.shape/1";
    v1.up = [](json::object&) {};
    v1.down = [](json::object&) {};
    core::migration v2;
    v2.id = "com.test.shape/2";
    v2.filter = [](const json::object& r) { return r.contains("typeName") && r.at("typeName") == "shape"; };
    // As tldraw's "add a prop" migrations do, up sets the new prop whatever
    // the record had: a v1 record cannot carry a v2 prop. (Were up to keep a
    // color a v1 client sent, its push would be committed while its copy
    // kept a prop that down removes for every other v1 client; upstream
    // decides commit in the server's version the same way.)
    v2.up = [](json::object& r) {
        if (auto* props = r.if_contains("props"); props && props->is_object()) props->as_object()["color"] = "black";
    };
    v2.down = [](json::object& r) {
        if (auto* props = r.if_contains("props"); props && props->is_object()) props->as_object().erase("color");
    };
    std::vector<core::migration_sequence> sequences;
    sequences.push_back({"com.test.shape", true, {v1, v2}});
    return std::make_shared<const core::schema>(std::move(types), std::move(sequences));
}

// What a client still on shape v1 sends as its schema.
json::object v1_schema() {
    return json::object{{"schemaVersion", 2}, {"sequences", json::object{{"com.test.shape", 1}}}};
}

constexpr std::array<const char*, 5> doc_ids = {"document:document", "page:p", "shape:a", "shape:b",
                                                "instance:i"};
constexpr std::array<const char*, 5> keys = {"props", "name", "color", "list", "x"};

// Small JSON values from the input.
json::value make_value(FuzzedDataProvider& in, int depth) {
    switch (in.ConsumeIntegralInRange(0, depth > 1 ? 5 : 7)) {
    case 0: return nullptr;
    case 1: return in.ConsumeBool();
    case 2: return in.ConsumeIntegralInRange(-3, 3);
    case 3: return in.ConsumeIntegralInRange(-8, 8) / 4.0;
    case 4: {
        static constexpr std::array<const char*, 6> strings = {"", "a", "ab", "é", "\xF0\x9F\x98\x80", "red"};
        return json::string(strings[in.ConsumeIntegralInRange<std::size_t>(0, strings.size() - 1)]);
    }
    case 5: {
        // Valid UTF-8 only: what arrives is parsed JSON, which cannot hold anything else.
        std::string s = in.ConsumeRandomLengthString(6);
        for (auto& ch : s)
            if (static_cast<unsigned char>(ch) >= 0x80) ch = '?';
        return json::string(s);
    }
    case 6: {
        json::array a;
        for (int n = in.ConsumeIntegralInRange(0, 3); n > 0; --n) a.push_back(make_value(in, depth + 1));
        return a;
    }
    default: {
        json::object o;
        for (int n = in.ConsumeIntegralInRange(0, 3); n > 0; --n)
            o[keys[in.ConsumeIntegralInRange<std::size_t>(0, keys.size() - 1)]] = make_value(in, depth + 1);
        return o;
    }
    }
}

json::object make_record(FuzzedDataProvider& in, std::string_view id) {
    const auto colon = id.find(':');
    json::object r{{"id", id}, {"typeName", id.substr(0, colon)}};
    if (in.ConsumeIntegralInRange(0, 7) == 0) r["typeName"] = "page"; // not what the id says
    json::object props;
    if (in.ConsumeBool()) props["color"] = make_value(in, 1);
    if (in.ConsumeBool()) props["list"] = make_value(in, 1);
    r["props"] = in.ConsumeIntegralInRange(0, 9) == 0 ? make_value(in, 1) : json::value(std::move(props));
    if (in.ConsumeBool()) r["name"] = make_value(in, 1);
    if (in.ConsumeIntegralInRange(0, 15) == 0) r["invalid"] = true;
    return r;
}

// An ObjectDiff in wire form; may be malformed, as a peer's may.
json::object make_object_diff(FuzzedDataProvider& in, int depth) {
    json::object d;
    for (int n = in.ConsumeIntegralInRange(1, 3); n > 0; --n) {
        const char* key = keys[in.ConsumeIntegralInRange<std::size_t>(0, keys.size() - 1)];
        switch (in.ConsumeIntegralInRange(0, depth > 1 ? 3 : 4)) {
        case 0: d[key] = json::array{"put", make_value(in, 1)}; break;
        case 1: d[key] = json::array{"delete"}; break;
        case 2: d[key] = json::array{"append", make_value(in, 2), in.ConsumeIntegralInRange(0, 4)}; break;
        case 3: d[in.ConsumeBool() ? "0" : "1"] = json::array{"put", make_value(in, 2)}; break;
        default: d[key] = json::array{"patch", make_object_diff(in, depth + 1)}; break;
        }
    }
    return d;
}

struct pending_push {
    std::int64_t client_clock = 0;
    std::optional<proto::network_diff> diff;
};

// One session as its client sees it.
struct client {
    std::string id;
    core::socket_ref socket;
    bool open = false;      // the socket is open
    bool connected = false; // a connect response arrived on it
    std::int64_t known_clock = -1;
    std::int64_t next_clock = 0;
    std::map<std::string, json::object> view; // every record the client was told about
    // How the room's records look to this client: migrated down by this
    // plan when it connected with an older schema.
    std::optional<core::migration_plan> plan;
    std::deque<pending_push> pending;
    bool view_known = true; // false after a connect that claimed a copy the client did not have
};

bool same_plan(const std::optional<core::migration_plan>& a, const std::optional<core::migration_plan>& b) {
    return a.has_value() == b.has_value() && (!a || a->steps() == b->steps());
}

void apply(std::map<std::string, json::object>& view, const proto::network_diff& diff) {
    for (const auto& [id, op] : diff) {
        switch (op.type) {
        case proto::record_op_type::put: view[id] = op.value; break;
        case proto::record_op_type::remove: view.erase(id); break;
        case proto::record_op_type::patch:
            if (auto it = view.find(id); it != view.end())
                if (auto patched = core::apply_object_diff(it->second, op.value)) it->second = std::move(*patched);
            break;
        }
    }
}

bool is_presence(const json::object& record) {
    const auto* t = record.if_contains("typeName");
    return t && *t == "instance_presence";
}

class fuzz_room {
public:
    explicit fuzz_room(FuzzedDataProvider& in) : in_(in), schema_(make_schema()) {
        core::room_config cfg;
        cfg.id_seed = 7;
        cfg.max_documents = std::array<std::size_t, 3>{0, 3, 5}[in.ConsumeIntegralInRange(0, 2)];
        core::room_snapshot snap;
        snap.schema = schema_->serialize();
        snap.documents.push_back({json::object{{"id", "document:document"}, {"typeName", "document"}}, 0});
        snap.documents.push_back({json::object{{"id", "page:p"}, {"typeName", "page"}, {"name", "Page"}}, 0});
        room_ = std::make_unique<core::room>(
            schema_, std::make_unique<core::memory_storage>(std::move(snap), schema_->serialize()), cfg, now_);
        for (std::size_t i = 0; i < clients_.size(); ++i) clients_[i].id = "s" + std::to_string(i);
        drain();
    }

    void run() {
        while (in_.remaining_bytes() > 0) step();
        advance(100ms); // flushes every debounced data message
        check_views();
    }

private:
    void step() {
        client& c = clients_[in_.ConsumeIntegralInRange<std::size_t>(0, clients_.size() - 1)];
        switch (in_.ConsumeIntegralInRange(0, 10)) {
        case 0: open(c, in_.ConsumeIntegralInRange(0, 3) == 0); break;
        case 1: connect(c); break;
        case 2:
        case 3:
        case 4: push(c); break;
        case 5: send_text(c, in_.ConsumeRandomLengthString(256)); break;
        case 6:
            if (c.open) handle(c, proto::ping_request{});
            break;
        case 7:
            if (c.open) {
                c.open = c.connected = false;
                c.pending.clear();
                closed_.insert(c.socket.socket_id);
                TRACE("%s#%llu closes\n", c.id.c_str(), static_cast<unsigned long long>(c.socket.socket_id));
                room_->handle_close(c.socket, now_);
                drain();
            }
            break;
        case 8: advance(std::chrono::milliseconds(in_.ConsumeIntegralInRange(0, 2500))); break;
        default: server_write(); break;
        }
    }

    void open(client& c, bool readonly) {
        if (c.open) closed_.insert(c.socket.socket_id); // superseded: treated as gone
        c.socket = {c.id, next_socket_++};
        c.open = true;
        c.connected = false;
        c.pending.clear();
        TRACE("t=%lld %s#%llu opens%s\n", static_cast<long long>(now_.count()), c.id.c_str(),
              static_cast<unsigned long long>(c.socket.socket_id), readonly ? " (readonly)" : "");
        room_->handle_new_session(c.socket, readonly, now_);
        drain();
    }

    void connect(client& c) {
        if (!c.open) return;
        proto::connect_request m;
        m.connect_request_id = "req";
        m.last_server_clock = in_.ConsumeBool() ? c.known_clock : -1;
        m.protocol_version = in_.ConsumeIntegralInRange(0, 3) == 0 ? 7 : 8;
        m.schema = in_.ConsumeIntegralInRange(0, 3) == 0 ? v1_schema() : schema_->serialize();
        // A client on another schema than before has no copy to resume from.
        if (!same_plan(c.plan, schema_->migrations_since(json::value(*m.schema)))) m.last_server_clock = -1;
        handle(c, m);
    }

    void push(client& c) {
        if (!c.open) return;
        json::object msg{{"type", "push"}, {"clientClock", c.next_clock + 1}};
        if (in_.ConsumeIntegralInRange(0, 3) != 0) {
            json::object diff;
            for (int n = in_.ConsumeIntegralInRange(1, 3); n > 0; --n) {
                const char* id = doc_ids[in_.ConsumeIntegralInRange<std::size_t>(0, doc_ids.size() - 1)];
                switch (in_.ConsumeIntegralInRange(0, 2)) {
                case 0: diff[id] = json::array{"put", make_record(in_, id)}; break;
                case 1: diff[id] = json::array{"patch", make_object_diff(in_, 0)}; break;
                default: diff[id] = json::array{"remove"}; break;
                }
            }
            msg["diff"] = std::move(diff);
        }
        if (in_.ConsumeIntegralInRange(0, 2) == 0) {
            const std::string pid = "instance_presence:" + c.id;
            if (in_.ConsumeBool()) {
                json::object p{{"id", pid}, {"typeName", "instance_presence"}, {"cursor", make_value(in_, 1)}};
                msg["presence"] = json::array{"put", std::move(p)};
            } else {
                msg["presence"] = json::array{"patch", make_object_diff(in_, 1)};
            }
        }
        auto decoded = proto::decode_client_message(json::value(std::move(msg)));
        if (!decoded) return;
        handle(c, decoded.value());
    }

    void send_text(client& c, const std::string& text) {
        if (!c.open) return;
        auto decoded = proto::decode_client_message(text);
        if (!decoded) return;
        handle(c, decoded.value());
    }

    void handle(client& c, const proto::client_message& m) {
        // A connect starts the session afresh: as upstream, results still
        // waiting for the debounce are dropped, and the client forgets the
        // pushes it had in flight (the connect response supersedes them).
        if (const auto* connect = std::get_if<proto::connect_request>(&m)) {
            c.pending.clear();
            std::optional<core::migration_plan> plan;
            if (connect->schema) plan = schema_->migrations_since(json::value(*connect->schema));
            if (connect->last_server_clock < 0) {
                c.view.clear(); // no copy: the response holds everything
            } else if (connect->last_server_clock != c.known_clock || !same_plan(c.plan, plan)) {
                // A raw connect claiming a copy the model does not have: the
                // room may rightly send only changes, so the view cannot be
                // checked until a full (wipe_all) response.
                c.view.clear();
                c.view_known = false;
            }
            c.plan = std::move(plan);
        }
        if (const auto* p = std::get_if<proto::push_request>(&m)) {
            c.next_clock = std::max(c.next_clock, p->client_clock);
            if (c.connected) c.pending.push_back({p->client_clock, p->diff}); // RP1: else ignored
        }
        TRACE("t=%lld %s#%llu sends %s\n", static_cast<long long>(now_.count()), c.id.c_str(),
              static_cast<unsigned long long>(c.socket.socket_id), proto::encode(m).c_str());
        room_->handle_message(c.socket, m, now_);
        drain();
    }

    void server_write() {
        const char* id = doc_ids[in_.ConsumeIntegralInRange<std::size_t>(0, 3)];
        const bool remove = in_.ConsumeBool();
        json::object record = make_record(in_, id);
        TRACE("server %s %s\n", remove ? "removes" : "puts", show(record).c_str());
        try {
            room_->update_store([&](core::store_update& u) {
                if (remove) u.remove(id);
                else u.put(record);
            });
        } catch (const std::exception&) {
            // an invalid record: nothing was written
        }
        drain();
    }

    void advance(std::chrono::milliseconds d) {
        TRACE("t=%lld +%lld ms\n", static_cast<long long>(now_.count()), static_cast<long long>(d.count()));
        const auto until = now_ + d;
        while (auto at = room_->next_deadline()) {
            if (*at > until) break;
            now_ = std::max(now_, *at);
            room_->on_timer(now_);
            drain();
        }
        now_ = until;
    }

    client* owner(const core::socket_ref& s) {
        for (auto& c : clients_)
            if (c.open && c.socket.socket_id == s.socket_id) return &c;
        return nullptr;
    }

    void drain() {
        for (auto& a : room_->take_actions()) {
            if (auto* s = std::get_if<core::send_action>(&a)) {
                FUZZ_CHECK(!closed_.contains(s->to.socket_id), "sent to closed socket %llu of %s",
                           static_cast<unsigned long long>(s->to.socket_id), s->to.session_id.c_str());
                const std::string text = s->message.text();
                TRACE("  -> %s#%llu %s\n", s->to.session_id.c_str(),
                      static_cast<unsigned long long>(s->to.socket_id), text.c_str());
                auto decoded = proto::decode_server_message(text);
                FUZZ_CHECK(decoded.has_value(), "the room sent what does not decode (%s): %s",
                           decoded.error().detail.c_str(), text.c_str());
                client* c = owner(s->to);
                FUZZ_CHECK(c != nullptr, "sent to unknown socket %llu", static_cast<unsigned long long>(s->to.socket_id));
                receive(*c, decoded.value());
            } else if (auto* cl = std::get_if<core::close_action>(&a)) {
                TRACE("  -> %s#%llu closed %d %s\n", cl->to.session_id.c_str(),
                      static_cast<unsigned long long>(cl->to.socket_id), cl->code.value_or(1000), cl->reason.c_str());
                closed_.insert(cl->to.socket_id);
                if (client* c = owner(cl->to)) {
                    c->open = c->connected = false;
                    c->pending.clear();
                }
            }
        }
    }

    void receive(client& c, const proto::server_message& m) {
        std::visit(
            [&](const auto& e) {
                using T = std::decay_t<decltype(e)>;
                if constexpr (std::is_same_v<T, proto::data_message>) {
                    for (const auto& inner : e.data)
                        std::visit([&](const auto& ev) { receive(c, proto::server_message(ev)); }, inner);
                } else if constexpr (std::is_same_v<T, proto::connect_event>) {
                    if (e.hydration == proto::hydration_type::wipe_all) {
                        c.view.clear();
                        c.view_known = true;
                    }
                    else std::erase_if(c.view, [](const auto& kv) { return is_presence(kv.second); });
                    apply(c.view, e.diff);
                    c.known_clock = e.server_clock;
                    c.connected = true;
                } else if constexpr (std::is_same_v<T, proto::patch_event>) {
                    FUZZ_CHECK(c.connected, "%s: a patch before the connect response", c.id.c_str());
                    apply(c.view, e.diff);
                    c.known_clock = e.server_clock;
                } else if constexpr (std::is_same_v<T, proto::push_result_event>) {
                    FUZZ_CHECK(!c.pending.empty(), "%s: push_result for clientClock %lld without a push",
                               c.id.c_str(), static_cast<long long>(e.client_clock));
                    const pending_push p = std::move(c.pending.front());
                    c.pending.pop_front();
                    FUZZ_CHECK(p.client_clock == e.client_clock, "%s: push_result for clientClock %lld, expected %lld",
                               c.id.c_str(), static_cast<long long>(e.client_clock),
                               static_cast<long long>(p.client_clock));
                    if (e.action == proto::push_action::commit && p.diff) apply(c.view, *p.diff);
                    if (e.action == proto::push_action::rebase_with_diff) apply(c.view, e.rebase_diff);
                    c.known_clock = e.server_clock;
                }
            },
            m);
    }

    json::object as_seen_by(const client& c, const json::object& stored) const {
        if (!c.plan || c.plan->empty()) return stored;
        auto down = schema_->migrate_record(stored, *c.plan, core::migration_direction::down);
        FUZZ_CHECK(down.value.has_value(), "%s cannot be migrated down", show(stored).c_str());
        return std::move(*down.value);
    }

    void check_views() {
        const auto snapshot = room_->get_snapshot();
        std::map<std::string, const json::object*> docs;
        for (const auto& d : snapshot.documents) docs[std::string(d.state.at("id").as_string())] = &d.state;
        const auto presence = room_->presence_records();
        std::map<std::string, std::optional<std::string>> own_presence;
        for (const auto& s : room_->sessions()) own_presence[s.session_id] = s.presence_id;

        for (const auto& c : clients_) {
            if (!c.open || !c.connected) continue;
            FUZZ_CHECK(c.pending.empty(), "%s: %zu push(es) never got a push_result (first clientClock %lld)",
                       c.id.c_str(), c.pending.size(), static_cast<long long>(c.pending.front().client_clock));
            if (!c.view_known) continue;
            const auto& own = own_presence[c.id];
            for (const auto& [id, record] : c.view) {
                if (presence.contains(id) || is_presence(record)) {
                    if (own && *own == id) continue;
                    auto it = presence.find(id);
                    FUZZ_CHECK(it != presence.end() && deep_equal(it->second, record),
                               "%s: presence %s is %s, the room has %s", c.id.c_str(), id.c_str(),
                               show(record).c_str(), it == presence.end() ? "nothing" : show(it->second).c_str());
                    continue;
                }
                auto it = docs.find(id);
                FUZZ_CHECK(it != docs.end(), "%s: %s is %s, storage has nothing", c.id.c_str(), id.c_str(),
                           show(record).c_str());
                const json::object expected = as_seen_by(c, *it->second);
                FUZZ_CHECK(deep_equal(expected, record), "%s: %s is %s, storage has %s (%s for this client)",
                           c.id.c_str(), id.c_str(), show(record).c_str(), show(*it->second).c_str(),
                           show(expected).c_str());
            }
            for (const auto& [id, record] : docs)
                FUZZ_CHECK(c.view.contains(id), "%s: storage has %s, the session was never told",
                           c.id.c_str(), id.c_str());
            for (const auto& [id, record] : presence)
                FUZZ_CHECK(c.view.contains(id) || (own && *own == id), "%s: presence %s is unknown to the session",
                           c.id.c_str(), id.c_str());
        }
    }

    FuzzedDataProvider& in_;
    std::shared_ptr<const core::schema> schema_;
    std::unique_ptr<core::room> room_;
    core::timestamp now_{1'000'000};
    std::uint64_t next_socket_ = 1;
    std::array<client, 3> clients_;
    std::set<std::uint64_t> closed_;
};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    FuzzedDataProvider in(data, size);
    fuzz_room(in).run();
    return 0;
}
