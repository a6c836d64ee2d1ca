// RoomSnapshot <-> JSON, the default room, and TLSyncForwardDiff -> NetworkDiff.

#include "core/diff.hpp"
#include "core/storage.hpp"

#include <boost/json/parse.hpp>

#include <cmath>

namespace tlsync::core {
namespace detail {
namespace {

// tldraw 5.4.2 createTLSchema().serialize(), generated with the npm packages.
constexpr std::string_view tldraw_current_schema_json =
    R"({"schemaVersion":2,"sequences":{"com.tldraw.store":5,"com.tldraw.asset":1,)"
    R"("com.tldraw.camera":1,"com.tldraw.document":2,"com.tldraw.instance":26,)"
    R"("com.tldraw.instance_page_state":5,"com.tldraw.page":1,"com.tldraw.instance_presence":6,)"
    R"("com.tldraw.pointer":1,"com.tldraw.shape":4,"com.tldraw.user":1,"com.tldraw.asset.image":6,)"
    R"("com.tldraw.asset.video":5,"com.tldraw.asset.bookmark":2,"com.tldraw.shape.arrow":8,)"
    R"("com.tldraw.shape.bookmark":2,"com.tldraw.shape.draw":5,"com.tldraw.shape.embed":4,)"
    R"("com.tldraw.shape.frame":1,"com.tldraw.shape.geo":12,"com.tldraw.shape.group":0,)"
    R"("com.tldraw.shape.highlight":4,"com.tldraw.shape.image":5,"com.tldraw.shape.line":5,)"
    R"("com.tldraw.shape.note":13,"com.tldraw.shape.text":4,"com.tldraw.shape.video":4,)"
    R"("com.tldraw.binding.arrow":1}})";

// Only what a JSON number can hold exactly as a clock: integral values. A
// clock written by JavaScript may come back as 5.0 after a round trip.
std::int64_t to_clock(const json::value& v, std::string_view field) {
    if (v.is_int64()) return v.get_int64();
    if (v.is_uint64() && v.get_uint64() <= static_cast<std::uint64_t>(INT64_MAX))
        return static_cast<std::int64_t>(v.get_uint64());
    if (v.is_double()) {
        const double d = v.get_double();
        if (std::isfinite(d) && d == std::trunc(d) && std::fabs(d) < 9.007199254740992e15)
            return static_cast<std::int64_t>(d);
    }
    throw std::invalid_argument("snapshot: '" + std::string(field) + "' is not an integer clock");
}

// JavaScript `??`: null counts as absent.
const json::value* present(const json::object& o, std::string_view key) {
    const auto* v = o.if_contains(key);
    return v && !v->is_null() ? v : nullptr;
}

const json::object& as_object(const json::value& v, std::string_view field) {
    if (!v.is_object())
        throw std::invalid_argument("snapshot: '" + std::string(field) + "' is not an object");
    return v.get_object();
}

std::optional<json::object> schema_of(const json::object& o) {
    if (const auto* s = present(o, "schema")) return as_object(*s, "schema");
    return std::nullopt;
}

void check_has_id(const json::object& state, std::string_view field) {
    const auto* id = state.if_contains("id");
    if (!id || !id->is_string())
        throw std::invalid_argument("snapshot: '" + std::string(field) + "' has no string id");
}

room_snapshot from_store_snapshot(const json::object& o) {
    room_snapshot s; // SL1: clock 0, every lastChangedClock 0, no tombstones
    for (const auto& [key, record] : as_object(o.at("store"), "store")) {
        const auto& state = as_object(record, "store." + std::string(key));
        check_has_id(state, "store." + std::string(key));
        s.documents.push_back({state, 0});
    }
    s.schema = schema_of(o);
    return s;
}

} // namespace

json::object tldraw_earliest_schema() {
    auto schema = json::parse(tldraw_current_schema_json).as_object();
    for (auto& [id, version] : schema["sequences"].as_object())
        version = 0;
    return schema;
}

} // namespace detail

room_snapshot room_snapshot_from_json(const json::value& v) {
    const auto& o = detail::as_object(v, "snapshot");
    const auto* documents = o.if_contains("documents");
    if (!documents) {
        if (o.contains("store")) return detail::from_store_snapshot(o);
        throw std::invalid_argument("snapshot: neither 'documents' nor 'store'");
    }
    if (!documents->is_array())
        throw std::invalid_argument("snapshot: 'documents' is not an array");

    room_snapshot s;
    // SS17
    if (const auto* c = detail::present(o, "documentClock"))
        s.document_clock = detail::to_clock(*c, "documentClock");
    else if (const auto* c = detail::present(o, "clock"))
        s.document_clock = detail::to_clock(*c, "clock");
    if (const auto* c = detail::present(o, "tombstoneHistoryStartsAtClock"))
        s.tombstone_history_starts_at_clock = detail::to_clock(*c, "tombstoneHistoryStartsAtClock");
    else
        s.tombstone_history_starts_at_clock = s.document_clock;

    s.documents.reserve(documents->get_array().size());
    for (const auto& d : documents->get_array()) {
        const auto& entry = detail::as_object(d, "documents[]");
        const auto* state = entry.if_contains("state");
        if (!state) throw std::invalid_argument("snapshot: 'documents[].state' is missing");
        const auto& st = detail::as_object(*state, "documents[].state");
        detail::check_has_id(st, "documents[].state");
        std::int64_t clock = 0;
        if (const auto* c = detail::present(entry, "lastChangedClock"))
            clock = detail::to_clock(*c, "documents[].lastChangedClock");
        s.documents.push_back({st, clock});
    }
    if (const auto* t = detail::present(o, "tombstones")) {
        for (const auto& [id, clock] : detail::as_object(*t, "tombstones"))
            s.tombstones[std::string(id)] =
                detail::to_clock(clock, "tombstones." + std::string(id));
    }
    s.schema = detail::schema_of(o);
    return s;
}

json::object to_json(const room_snapshot& s) {
    json::object o;
    o["documentClock"] = s.document_clock;
    o["tombstoneHistoryStartsAtClock"] = s.tombstone_history_starts_at_clock;
    json::array docs;
    docs.reserve(s.documents.size());
    for (const auto& d : s.documents)
        docs.push_back(
            json::object{{"state", d.state}, {"lastChangedClock", d.last_changed_clock}});
    o["documents"] = std::move(docs);
    json::object tombstones;
    for (const auto& [id, clock] : s.tombstones)
        tombstones[id] = clock;
    o["tombstones"] = std::move(tombstones);
    if (s.schema) o["schema"] = *s.schema;
    return o;
}

room_snapshot default_initial_snapshot() {
    room_snapshot s;
    // Field order as tldraw's RecordType.create produces it (defaults, id, props, typeName).
    s.documents.push_back({json::object{{"gridSize", 10},
                                        {"name", ""},
                                        {"meta", json::object{}},
                                        {"id", "document:document"},
                                        {"typeName", "document"}},
                           0});
    s.documents.push_back({json::object{{"meta", json::object{}},
                                        {"id", "page:page"},
                                        {"name", "Page 1"},
                                        {"index", "a1"},
                                        {"typeName", "page"}},
                           0});
    s.schema = json::parse(detail::tldraw_current_schema_json).as_object();
    return s;
}

proto::network_diff to_network_diff(const forward_diff& d) {
    proto::network_diff out;
    out.reserve(d.puts.size() + d.deletes.size());
    for (const auto& [id, put] : d.puts) {
        if (put.before) {
            // ND2: an unchanged record is left out rather than sent as an empty patch.
            if (auto patch = diff_record(*put.before, put.after))
                out.set(id, proto::record_op::patch(std::move(*patch)));
        } else {
            out.set(id, proto::record_op::put(put.after));
        }
    }
    for (const auto& id : d.deletes)
        out.set(id, proto::record_op::remove());
    return out;
}

} // namespace tlsync::core
