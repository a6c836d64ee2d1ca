#pragma once
// Drives a core::room with a fake clock and records what it sends, as the
// server's I/O layer would, so room tests read like a protocol transcript.

#include "core/memory_storage.hpp"
#include "core/room.hpp"
#include "core/schema.hpp"
#include "proto/codec.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/test/unit_test.hpp>

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace tlsync::test {

using namespace std::chrono_literals;

inline json::object jobj(std::string_view text) { return json::parse(text).as_object(); }

// A small schema: document/page/shape documents, a session-scoped type and
// instance_presence. The shape sequence has two versions: v2 adds
// props.color (down removes it), so a v1 client exercises MG1/MG2.
inline std::shared_ptr<const core::schema> make_test_schema(bool shape_v2_has_down = true) {
    using namespace core;
    auto base_validator = [](const json::object& r) {
        if (r.contains("invalid")) throw validation_error("record is marked invalid");
    };
    std::vector<record_type> types{
        {"document", record_scope::document, base_validator},
        {"page", record_scope::document, base_validator},
        {"shape", record_scope::document,
         [](const json::object& r) {
             const auto* props = r.if_contains("props");
             if (!props || !props->is_object()) throw validation_error("shape.props must be an object");
             if (const auto* c = props->as_object().if_contains("color"); c && !c->is_string())
                 throw validation_error("shape.props.color must be a string");
         }},
        {"instance", record_scope::session, {}},
        {"instance_presence", record_scope::presence, {}},
    };
    migration add_color;
    add_color.id = "com.test.shape/2";
    add_color.filter = [](const json::object& r) { return r.at("typeName") == "shape"; };
    add_color.up = [](json::object& r) { r["props"].as_object()["color"] = "black"; };
    if (shape_v2_has_down)
        add_color.down = [](json::object& r) { r["props"].as_object().erase("color"); };
    migration v1;
    v1.id = "com.test.shape/1";
    v1.up = [](json::object&) {};
    v1.down = [](json::object&) {};
    std::vector<migration_sequence> seqs;
    seqs.push_back({"com.test.shape", true, {v1, add_color}});
    return std::make_shared<const schema>(std::move(types), std::move(seqs));
}

struct closed_socket {
    std::optional<std::uint16_t> code;
    std::string reason;
};

class room_harness {
public:
    explicit room_harness(std::shared_ptr<const core::schema> s = make_test_schema(),
                          core::room_config cfg = {}, std::optional<core::room_snapshot> snap = {})
        : schema_(std::move(s)) {
        cfg.id_seed = cfg.id_seed ? cfg.id_seed : 42;
        if (!snap) snap = initial_snapshot();
        room_ = std::make_unique<core::room>(
            schema_, std::make_unique<core::memory_storage>(std::move(snap), schema_->serialize()),
            cfg, now_);
        drain();
    }

    core::room_snapshot initial_snapshot() const {
        core::room_snapshot s;
        s.schema = schema_->serialize();
        s.documents.push_back({jobj(R"({"id":"document:document","typeName":"document","name":""})"), 0});
        s.documents.push_back({jobj(R"({"id":"page:page","typeName":"page","name":"Page 1"})"), 0});
        return s;
    }

    core::room& room() { return *room_; }
    const core::schema& schema() const { return *schema_; }
    core::timestamp now() const { return now_; }

    core::socket_ref open(const std::string& session_id, bool readonly = false) {
        core::socket_ref ref{session_id, next_socket_++};
        current_[session_id] = ref;
        room_->handle_new_session(ref, readonly, now_);
        drain();
        return ref;
    }

    void send(const core::socket_ref& ref, const proto::client_message& m) {
        room_->handle_message(ref, m, now_);
        drain();
    }

    void send_text(const core::socket_ref& ref, std::string_view text) {
        auto decoded = proto::decode_client_message(text);
        if (!decoded) BOOST_FAIL("bad test message: " << decoded.error().detail);
        send(ref, decoded.value());
    }

    // A protocol-8 connect with the room's own schema unless told otherwise.
    core::socket_ref connect(const std::string& session_id, std::int64_t last_server_clock = -1,
                             bool readonly = false, std::optional<json::object> schema = {},
                             std::int64_t protocol = proto::protocol_version) {
        auto ref = open(session_id, readonly);
        proto::connect_request c;
        c.connect_request_id = "req-" + session_id;
        c.last_server_clock = last_server_clock;
        c.protocol_version = protocol;
        c.schema = schema ? *schema : schema_->serialize();
        send(ref, c);
        return ref;
    }

    void push(const core::socket_ref& ref, std::int64_t client_clock, std::string_view diff_json,
              std::string_view presence_json = {}) {
        std::string text = R"({"type":"push","clientClock":)" + std::to_string(client_clock);
        if (!diff_json.empty()) text += R"(,"diff":)" + std::string(diff_json);
        if (!presence_json.empty()) text += R"(,"presence":)" + std::string(presence_json);
        text += "}";
        send_text(ref, text);
    }

    void close_socket(const core::socket_ref& ref) {
        room_->handle_close(ref, now_);
        drain();
    }

    // Advances the fake clock, firing every deadline on the way.
    void advance(std::chrono::milliseconds d) {
        const auto until = now_ + d;
        while (auto at = room_->next_deadline()) {
            if (*at > until) break;
            now_ = std::max(now_, *at);
            room_->on_timer(now_);
            drain();
        }
        now_ = until;
        drain();
    }

    // Every frame sent to a session, parsed.
    std::vector<json::value>& frames(const std::string& sid) { return frames_[sid]; }
    // The events of every data frame plus every non-data frame, in order.
    std::vector<json::value> events(const std::string& sid) {
        std::vector<json::value> out;
        for (const auto& f : frames_[sid]) {
            const auto& o = f.as_object();
            if (o.at("type") == "data")
                for (const auto& e : o.at("data").as_array()) out.push_back(e);
            else
                out.push_back(f);
        }
        return out;
    }
    std::vector<json::value> take_events(const std::string& sid) {
        auto e = events(sid);
        frames_[sid].clear();
        return e;
    }
    const json::value* last_event(const std::string& sid, std::string_view type) {
        last_ = events(sid);
        for (auto it = last_.rbegin(); it != last_.rend(); ++it)
            if (it->as_object().at("type") == json::value(json::string(type))) return &*it;
        return nullptr;
    }
    std::optional<closed_socket> closed(const core::socket_ref& ref) const {
        auto it = closed_.find(ref.socket_id);
        if (it == closed_.end()) return std::nullopt;
        return it->second;
    }
    std::vector<std::string> removed;
    int became_empty = 0;
    int presence_changes = 0;
    std::size_t send_count = 0;

    // Collects the actions of calls made directly on room().
    void drain() {
        for (auto& a : room_->take_actions()) {
            if (auto* s = std::get_if<core::send_action>(&a)) {
                BOOST_REQUIRE_MESSAGE(!closed_.contains(s->to.socket_id),
                                      "sent to a closed socket of " << s->to.session_id);
                ++send_count;
                frames_[s->to.session_id].push_back(json::parse(s->message.text()));
            } else if (auto* c = std::get_if<core::close_action>(&a)) {
                closed_[c->to.socket_id] = {c->code, c->reason};
            } else if (auto* r = std::get_if<core::session_removed_event>(&a)) {
                removed.push_back(r->session_id);
            } else if (std::holds_alternative<core::room_became_empty_event>(a)) {
                ++became_empty;
            } else if (std::holds_alternative<core::presence_changed_event>(a)) {
                ++presence_changes;
            }
        }
    }

private:
    std::shared_ptr<const core::schema> schema_;
    std::unique_ptr<core::room> room_;
    core::timestamp now_{1'000'000};
    std::uint64_t next_socket_ = 1;
    std::map<std::string, core::socket_ref> current_;
    std::map<std::string, std::vector<json::value>> frames_;
    std::map<std::uint64_t, closed_socket> closed_;
    std::vector<json::value> last_;
};

} // namespace tlsync::test
