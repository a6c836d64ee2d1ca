// Schema files (core/schema_file.hpp): the checked-in example
// (examples/schemas/sticker.json) validates and migrates custom shapes as
// tldraw would, and every kind of mistake in a file is refused with the
// JSON Pointer of the offending value and the reason.
#include "core/schema_file.hpp"
#include "core/memory_storage.hpp"
#include "core/tldraw_schema.hpp"

#include <boost/json/parse.hpp>
#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

using namespace tlsync;
using namespace tlsync::core;

BOOST_TEST_DONT_PRINT_LOG_VALUE(tlsync::core::record_scope)

namespace {

std::string read(const std::filesystem::path& p) {
    std::ifstream in(p);
    if (!in) throw std::runtime_error("cannot open " + p.string());
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::string sticker_file() {
    return read(std::filesystem::path(TLSYNC_SOURCE_DIR) / "examples/schemas/sticker.json");
}

std::shared_ptr<const schema> load(std::string_view text) {
    schema_builder b;
    apply_schema_file(b, text, "test.json");
    return b.build();
}

const schema& sticker_schema() {
    static const auto s = load(sticker_file());
    return *s;
}

json::object obj(std::string_view text) { return json::parse(text).as_object(); }

json::object sticker(std::string_view props) {
    auto r = obj(R"({"id": "shape:s1", "typeName": "shape", "type": "sticker", "x": 10, "y": 20,
                     "rotation": 0, "index": "a1", "parentId": "page:page", "isLocked": false,
                     "opacity": 1, "meta": {}})");
    r["props"] = json::parse(props);
    return r;
}

std::string rejection(const schema& s, const json::object& record) {
    try {
        s.validate_record(record);
    } catch (const validation_error& e) {
        return e.what();
    }
    return "accepted";
}

// The file's error as "<pointer>: <reason>".
std::string file_error(std::string_view text) {
    try {
        load(text);
    } catch (const schema_file_error& e) {
        BOOST_TEST(e.file == "test.json");
        return e.pointer + ": " + e.reason;
    }
    return "loaded";
}

json::object client_schema(int sticker_version) {
    json::object s = sticker_schema().serialize();
    s["sequences"].as_object()["com.tldraw.shape.sticker"] = sticker_version;
    return s;
}

} // namespace

BOOST_AUTO_TEST_SUITE(schema_file)

BOOST_AUTO_TEST_CASE(sticker_joins_the_shape_union_with_its_own_sequence) {
    const auto& s = sticker_schema();
    BOOST_TEST(s.serialize().at("sequences").at("com.tldraw.shape.sticker") == 2);
    // Everything built in is still there, at its version.
    for (const auto& [id, v] : make_tldraw_schema()->serialize().at("sequences").as_object())
        BOOST_TEST(s.serialize().at("sequences").at(id) == v);
    BOOST_TEST(rejection(s, sticker(R"({"w": 80, "h": 80, "emoji": "⭐", "caption": "hi", "color": "red"})")) ==
               "accepted");
    BOOST_TEST(rejection(s, sticker(R"({"w": 80, "h": 80, "emoji": "⭐", "caption": "", "color": "red",
                                        "rating": 5})")) == "accepted");
}

BOOST_AUTO_TEST_CASE(invalid_sticker_props_are_rejected_with_upstream_messages) {
    const auto& s = sticker_schema();
    BOOST_TEST(rejection(s, sticker(R"({"w": -1, "h": 80, "emoji": "x", "caption": "", "color": "red"})")) ==
               "At shape(type = sticker).props.w: Expected a non-zero positive number, got -1");
    BOOST_TEST(rejection(s, sticker(R"({"w": 1, "h": 80, "emoji": 7, "caption": "", "color": "red"})")) ==
               "At shape(type = sticker).props.emoji: Expected string, got a number");
    BOOST_TEST(rejection(s, sticker(R"({"w": 1, "h": 80, "emoji": "x", "color": "red"})")) ==
               "At shape(type = sticker).props.caption: Expected string, got undefined");
    BOOST_TEST(rejection(s, sticker(R"({"w": 1, "h": 80, "emoji": "x", "caption": "", "color": "red", "z": 1})")) ==
               "At shape(type = sticker).props.z: Unexpected property");
    BOOST_TEST(rejection(s, sticker(R"({"w": 1, "h": 80, "emoji": "x", "caption": "", "color": "pink"})"))
                   .starts_with("At shape(type = sticker).props.color: Expected \"black\" or"));
    BOOST_TEST(rejection(s, sticker(R"({"w": 1, "h": 1, "emoji": "x", "caption": "", "color": "red", "rating": 6})"))
                   .starts_with("At shape(type = sticker).props.rating: Expected 1 or 2"));
    auto bad_base = sticker(R"({"w": 1, "h": 1, "emoji": "x", "caption": "", "color": "red"})");
    bad_base["opacity"] = 2;
    BOOST_TEST(rejection(s, bad_base) == "At shape(type = sticker).opacity: Expected a number between 0 and 1, got 2");
    // The built-in schema does not know stickers at all.
    BOOST_TEST(rejection(*make_tldraw_schema(), sticker("{}")).starts_with("At shape.type: Expected one of"));
}

BOOST_AUTO_TEST_CASE(mg1_mg2_rename_and_add_migrate_per_client_version) {
    const auto& s = sticker_schema();
    const auto v2 = sticker(R"({"w": 1, "h": 1, "emoji": "x", "caption": "hello", "color": "red"})");

    auto v1_plan = s.migrations_since(client_schema(1));
    BOOST_REQUIRE(v1_plan);
    BOOST_TEST(v1_plan->steps().size() == 1u);
    BOOST_TEST(v1_plan->can_migrate_down());
    auto down = s.migrate_record(v2, *v1_plan, migration_direction::down);
    BOOST_REQUIRE(down);
    BOOST_TEST(down.value->at("props") == json::parse(R"({"w": 1, "h": 1, "emoji": "x", "label": "hello", "color": "red"})"));
    auto up = s.migrate_record(*down.value, *v1_plan, migration_direction::up);
    BOOST_REQUIRE(up);
    BOOST_TEST(*up.value == v2);

    auto v0_plan = s.migrations_since(client_schema(0));
    BOOST_REQUIRE(v0_plan);
    auto v0 = s.migrate_record(v2, *v0_plan, migration_direction::down);
    BOOST_REQUIRE(v0);
    BOOST_TEST(v0.value->at("props") == json::parse(R"({"w": 1, "h": 1, "emoji": "x", "label": "hello"})"));
    // "add" fills the default only when absent.
    auto v0_up = s.migrate_record(*v0.value, *v0_plan, migration_direction::up);
    BOOST_TEST(v0_up.value->at("props").at("color") == "black");

    // Other shapes are not touched by the sticker's steps.
    auto geo = obj(R"({"id": "shape:g", "typeName": "shape", "type": "geo", "props": {"label": 1}})");
    BOOST_TEST(*s.migrate_record(geo, *v0_plan, migration_direction::up).value == geo);

    // A client ahead of the server (HS2/SERVER_TOO_OLD) has no plan.
    BOOST_TEST(!s.migrations_since(client_schema(3)));
}

BOOST_AUTO_TEST_CASE(sl4_rc3_stored_stickers_migrate_up) {
    const auto& s = sticker_schema();
    room_snapshot snap = default_initial_snapshot();
    snap.schema = client_schema(0);
    snap.documents.push_back({sticker(R"({"w": 1, "h": 1, "emoji": "x", "label": "old"})"), 0});
    memory_storage storage(std::move(snap));
    storage.transaction([&](storage_txn& txn) { s.migrate_storage(txn); });
    auto out = storage.get_snapshot();
    BOOST_TEST(out.schema->at("sequences").at("com.tldraw.shape.sticker") == 2);
    for (const auto& d : out.documents)
        if (d.state.at("id") == "shape:s1") {
            BOOST_TEST(d.state.at("props") ==
                       json::parse(R"({"w": 1, "h": 1, "emoji": "x", "caption": "old", "color": "black"})"));
            BOOST_TEST(rejection(s, d.state) == "accepted");
        }
}

BOOST_AUTO_TEST_CASE(sl4_rc3_new_sequences_are_recorded_without_migrating) {
    // A room created before the sticker existed (tldraw's schema only, plus a
    // sequence this server does not know) gets the sticker's sequence recorded
    // at its current version, so a later sticker migration applies to stickers
    // written from now on; the unknown sequence is kept.
    const auto& s = sticker_schema();
    room_snapshot snap = default_initial_snapshot();
    snap.schema->at("sequences").as_object()["com.example.elsewhere"] = 4;
    memory_storage storage(std::move(snap));
    auto r = storage.transaction([&](storage_txn& txn) { s.migrate_storage(txn); });
    BOOST_TEST(!r.did_change); // no record touched
    auto out = storage.get_snapshot();
    BOOST_TEST(out.schema->at("sequences").at("com.tldraw.shape.sticker") == 2);
    BOOST_TEST(out.schema->at("sequences").at("com.example.elsewhere") == 4);
    BOOST_TEST(!s.with_missing_sequences(*out.schema)); // idempotent
}

BOOST_AUTO_TEST_CASE(bindings_records_and_sequences) {
    const auto s = load(R"({
      "tlsyncSchema": 1,
      "bindings": {"pin": {"props": {"offset": {"kind": "ref", "name": "vecModelValidator"}}}},
      "records": {
        "comment": {"scope": "document",
                    "validator": {"kind": "object", "fields": {
                        "id": {"kind": "id", "prefix": "comment"}, "typeName": {"kind": "literal", "value": "comment"},
                        "shapeId": {"kind": "ref", "name": "shapeIdValidator"}, "text": {"kind": "string"},
                        "status": {"kind": "enum", "values": ["open", "resolved"]}}}},
        "cursor_trail": {"scope": "session", "validator": {"kind": "unknown_object"}}
      },
      "migrations": [{"sequenceId": "com.example.comment", "versions": [
        {"filter": {"typeName": "comment"}, "up": [{"op": "map", "path": "status", "values": {"done": "resolved"}}]},
        {"filter": {"typeName": "comment"}, "up": [{"op": "set", "path": "meta.v", "value": 2}, {"op": "remove", "path": "meta"}],
         "down": [{"op": "add", "path": "meta", "value": {}}]}
      ]}]
    })");
    BOOST_TEST(s->find_type("comment")->scope == record_scope::document);
    BOOST_TEST(s->find_type("cursor_trail")->scope == record_scope::session);
    BOOST_TEST(s->serialize().at("sequences").at("com.tldraw.binding.pin") == 0);
    BOOST_TEST(s->serialize().at("sequences").at("com.example.comment") == 2);

    auto pin = obj(R"({"id": "binding:b", "typeName": "binding", "type": "pin", "fromId": "shape:a",
                       "toId": "shape:b", "props": {"offset": {"x": 1, "y": 2}}, "meta": {}})");
    BOOST_TEST(rejection(*s, pin) == "accepted");
    pin["toId"] = "page:x";
    BOOST_TEST(rejection(*s, pin) == "At binding(type = pin).toId: Error: shape ID must start with \"shape:\"");

    auto comment = obj(R"({"id": "comment:c", "typeName": "comment", "shapeId": "shape:a", "text": "hi", "status": "open"})");
    BOOST_TEST(rejection(*s, comment) == "accepted");
    comment["status"] = "done";
    BOOST_TEST(rejection(*s, comment) == "At comment.status: Expected \"open\" or \"resolved\", got done");
    comment["id"] = "shape:c";
    BOOST_TEST(rejection(*s, comment).find("expected an id starting with \"comment:\"") != std::string::npos);

    // The map step, filtered to comments.
    json::object old_schema = s->serialize();
    old_schema["sequences"].as_object()["com.example.comment"] = 0;
    auto plan = s->migrations_since(old_schema);
    BOOST_REQUIRE(plan);
    BOOST_TEST(!plan->can_migrate_down()); // version 1 has no down
    auto done = obj(R"({"id": "comment:c", "typeName": "comment", "status": "done", "meta": {}})");
    BOOST_TEST(s->migrate_record(done, *plan, migration_direction::up).value->at("status") == "resolved");
    auto other = obj(R"({"id": "x:c", "typeName": "x", "status": "done"})");
    BOOST_TEST(*s->migrate_record(other, *plan, migration_direction::up).value == other);
}

// Every validator kind issue 4 lists, written in a file: one record type
// holding one field of each, then each field broken in turn.
BOOST_AUTO_TEST_CASE(every_listed_validator_kind_is_expressible_in_a_file) {
    const auto s = load(R"({
      "tlsyncSchema": 1,
      "records": {"gauge": {"scope": "document", "validator": {"kind": "object", "fields": {
        "id": {"kind": "id", "prefix": "gauge"}, "typeName": {"kind": "literal", "value": "gauge"},
        "label": {"kind": "string"}, "on": {"kind": "boolean"},
        "reading": {"kind": "number"}, "size": {"kind": "positive_number"},
        "count": {"kind": "integer"}, "level": {"kind": "integer", "min": 1, "max": 10},
        "ratio": {"kind": "number", "min": -0.5}, "cap": {"kind": "positive_number", "max": 100},
        "unit": {"kind": "enum", "values": ["mm", "in"]},
        "note": {"kind": "nullable", "of": {"kind": "string"}},
        "hint": {"kind": "optional", "of": {"kind": "string"}},
        "ticks": {"kind": "array_of", "of": {"kind": "number"}},
        "tags": {"kind": "dict", "key": {"kind": "string"}, "value": {"kind": "boolean"}},
        "face": {"kind": "union", "key": "type", "variants": {
            "dial": {"kind": "object", "fields": {"type": {"kind": "literal", "value": "dial"}, "r": {"kind": "number"}}},
            "bar": {"kind": "object", "fields": {"type": {"kind": "literal", "value": "bar"}}}}},
        "extra": {"kind": "json"}, "index": {"kind": "index_key"}}}}}
    })");
    const auto good = obj(R"({"id": "gauge:g", "typeName": "gauge", "label": "p", "on": true, "reading": -3.5,
        "size": 0, "count": -2, "level": 10, "ratio": -0.5, "cap": 100, "unit": "mm", "note": null,
        "ticks": [1, 2.5], "tags": {"a": true}, "face": {"type": "dial", "r": 2}, "extra": {"any": [1, null]},
        "index": "a1"})");
    BOOST_TEST(rejection(*s, good) == "accepted");
    const auto broken = [&](std::string_view key, json::value v) {
        auto r = good;
        r[key] = std::move(v);
        return rejection(*s, r);
    };
    BOOST_TEST(broken("label", 1) == "At gauge.label: Expected string, got a number");
    BOOST_TEST(broken("on", "yes") == "At gauge.on: Expected boolean, got a string");
    BOOST_TEST(broken("size", -1) == "At gauge.size: Expected a positive number, got -1");
    BOOST_TEST(broken("count", 1.5) == "At gauge.count: Expected an integer, got 1.5");
    BOOST_TEST(broken("level", 0) == "At gauge.level: Expected a number between 1 and 10, got 0");
    BOOST_TEST(broken("level", 11) == "At gauge.level: Expected a number between 1 and 10, got 11");
    BOOST_TEST(broken("level", 2.5) == "At gauge.level: Expected an integer, got 2.5");
    BOOST_TEST(broken("ratio", -1) == "At gauge.ratio: Expected a number >= -0.5, got -1");
    BOOST_TEST(broken("cap", 101) == "At gauge.cap: Expected a number <= 100, got 101");
    BOOST_TEST(broken("unit", "cm") == "At gauge.unit: Expected \"mm\" or \"in\", got cm");
    BOOST_TEST(broken("note", 3) == "At gauge.note: Expected string, got a number");
    BOOST_TEST(broken("hint", json::value(nullptr)) == "At gauge.hint: Expected string, got null");
    BOOST_TEST(broken("ticks", json::array{1, "x"}) == "At gauge.ticks.1: Expected number, got a string");
    BOOST_TEST(broken("tags", json::object{{"a", 1}}) == "At gauge.tags.a: Expected boolean, got a number");
    BOOST_TEST(broken("face", json::object{{"type", "pie"}}).starts_with("At gauge.face.type: Expected one of"));
    BOOST_TEST(broken("face", json::object{{"type", "bar"}, {"r", 1}}) ==
               "At gauge.face(type = bar).r: Unexpected property");
    BOOST_TEST(broken("index", "0") != "accepted");
    BOOST_TEST(broken("id", "shape:g").find("expected an id starting with \"gauge:\"") != std::string::npos);
    auto missing = good;
    missing.erase("extra");
    BOOST_TEST(rejection(*s, missing) == "At gauge.extra: Expected json serializable value, got undefined");
    auto extra = good;
    extra["z"] = 1;
    BOOST_TEST(rejection(*s, extra) == "At gauge.z: Unexpected property");

    // Bounds belong to the number kinds and must make sense.
    BOOST_TEST(file_error(R"({"tlsyncSchema": 1, "defs": {"a": {"kind": "string", "min": 1}}})") ==
               "/defs/a/min: unknown key \"min\" for kind \"string\"");
    BOOST_TEST(file_error(R"({"tlsyncSchema": 1, "defs": {"a": {"kind": "number", "max": "9"}}})") ==
               "/defs/a/max: \"max\" must be a number");
    BOOST_TEST(file_error(R"({"tlsyncSchema": 1, "defs": {"a": {"kind": "integer", "min": 5, "max": 1}}})") ==
               "/defs/a: \"min\" is greater than \"max\"");
}

BOOST_AUTO_TEST_CASE(steps_add_set_remove_rename_map) {
    auto run = [](std::string_view steps, std::string_view record) {
        json::object r = obj(record);
        compile_migration_steps(json::parse(steps))(r);
        return json::value(r);
    };
    BOOST_TEST(run(R"([{"op": "add", "path": "a", "value": 1}])", R"({"a": 0})") == json::parse(R"({"a": 0})"));
    BOOST_TEST(run(R"([{"op": "set", "path": "a", "value": 1}])", R"({"a": 0})") == json::parse(R"({"a": 1})"));
    BOOST_TEST(run(R"([{"op": "add", "path": "a.b.c", "value": [1]}])", "{}") == json::parse(R"({"a": {"b": {"c": [1]}}})"));
    BOOST_TEST(run(R"([{"op": "remove", "path": "a.b"}])", R"({"a": {"b": 1, "c": 2}})") == json::parse(R"({"a": {"c": 2}})"));
    BOOST_TEST(run(R"([{"op": "remove", "path": "x.y"}])", R"({"a": 1})") == json::parse(R"({"a": 1})"));
    BOOST_TEST(run(R"([{"op": "rename", "from": "a.b", "to": "c"}])", R"({"a": {"b": 1}})") ==
               json::parse(R"({"a": {}, "c": 1})"));
    BOOST_TEST(run(R"([{"op": "rename", "from": "nope", "to": "c"}])", R"({"c": 5})") == json::parse(R"({"c": 5})"));
    BOOST_TEST(run(R"([{"op": "map", "path": "s", "values": {"small": "s", "large": "l"}}])", R"({"s": "large"})") ==
               json::parse(R"({"s": "l"})"));
    BOOST_TEST(run(R"([{"op": "map", "path": "s", "values": {"small": "s"}}])", R"({"s": "medium"})") ==
               json::parse(R"({"s": "medium"})"));
    // A parent that is not an object fails the step (a migration error, never a crash).
    BOOST_CHECK_THROW(run(R"([{"op": "set", "path": "a.b", "value": 1}])", R"({"a": 3})"), std::runtime_error);
}

BOOST_AUTO_TEST_CASE(file_errors_name_the_path_and_the_reason) {
    // Not JSON, not an object, no or an unknown format version, unknown keys.
    BOOST_TEST(file_error("{\n  \"tlsyncSchema\": 1,\n  oops\n}").starts_with(": invalid JSON at line 3, column 3"));
    BOOST_TEST(file_error("{} {}").starts_with(": invalid JSON at line 1, column 4"));
    BOOST_TEST(file_error("[]") == ": a schema file must be a JSON object");
    BOOST_TEST(file_error("{}") == ": missing \"tlsyncSchema\"");
    BOOST_TEST(file_error(R"({"tlsyncSchema": 2})") == "/tlsyncSchema: unsupported format version 2 (this server reads 1)");
    BOOST_TEST(file_error(R"({"tlsyncSchema": 1, "shape": {}})")
                   .starts_with("/shape: unknown key \"shape\" (expected tlsyncSchema, defs, shapes"));
    // Shapes and bindings.
    BOOST_TEST(file_error(R"({"tlsyncSchema": 1, "shapes": []})") == "/shapes: \"shapes\" must be an object");
    BOOST_TEST(file_error(R"({"tlsyncSchema": 1, "shapes": {"s": {}}})") == "/shapes/s: missing \"props\"");
    BOOST_TEST(file_error(R"({"tlsyncSchema": 1, "shapes": {"geo": {"props": {}}}})") ==
               "/shapes/geo: shape type \"geo\" already exists");
    BOOST_TEST(file_error(R"({"tlsyncSchema": 1, "bindings": {"arrow": {"props": {}}}})") ==
               "/bindings/arrow: binding type \"arrow\" already exists");
    BOOST_TEST(file_error(R"({"tlsyncSchema": 1, "shapes": {"a:b": {"props": {}}}})") ==
               "/shapes/a:b/props: shape type \"a:b\" must be non-empty, without ':' or '/'");
    BOOST_TEST(file_error(R"({"tlsyncSchema": 1, "shapes": {"s": {"props": {"w": {"kind": "nmber"}}}}})") ==
               "/shapes/s/props/w: unknown kind \"nmber\"");
    BOOST_TEST(file_error(R"({"tlsyncSchema": 1, "shapes": {"s": {"props": {"w": {"kind": "optional", "of": {"kind": "ref", "name": "nope"}}}}}})") ==
               "/shapes/s/props/w/of: unknown ref \"nope\"");
    BOOST_TEST(file_error(R"({"tlsyncSchema": 1, "shapes": {"s": {"props": {"o": {"kind": "object", "fields": {}, "allow_unknwon": true}}}}})") ==
               "/shapes/s/props/o/allow_unknwon: unknown key \"allow_unknwon\" for kind \"object\"");
    BOOST_TEST(file_error(R"({"tlsyncSchema": 1, "shapes": {"s": {"props": {"c": {"kind": "custom", "name": "emoji"}}}}})") ==
               "/shapes/s/props/c: unknown custom check \"emoji\"");
    BOOST_TEST(file_error(R"({"tlsyncSchema": 1, "shapes": {"s": {"props": {}, "color": 1}}})")
                   .starts_with("/shapes/s/color: unknown key \"color\""));
    // Defs.
    BOOST_TEST(file_error(R"({"tlsyncSchema": 1, "defs": {"a": {"kind": "array_of", "of": {"kind": "strin"}}}})") ==
               "/defs/a/of: unknown kind \"strin\"");
    BOOST_TEST(file_error(R"({"tlsyncSchema": 1, "defs": {"style:tldraw:color": {"kind": "string"}}})") ==
               "/defs/style:tldraw:color: def \"style:tldraw:color\" already exists");
    // Records.
    BOOST_TEST(file_error(R"({"tlsyncSchema": 1, "records": {"c": {"scope": "global", "validator": {"kind": "any"}}}})") ==
               "/records/c/scope: unknown scope \"global\" (expected document, session or presence)");
    BOOST_TEST(file_error(R"({"tlsyncSchema": 1, "records": {"page": {"scope": "document", "validator": {"kind": "any"}}}})") ==
               "/records/page: record type \"page\" already exists");
    BOOST_TEST(file_error(R"({"tlsyncSchema": 1, "records": {"c": {"scope": "document"}}})") ==
               "/records/c: missing \"validator\"");
    // Migrations: versions, steps, paths, filters, ids, dependencies.
    BOOST_TEST(file_error(R"({"tlsyncSchema": 1, "shapes": {"s": {"props": {}, "migrations": [{"down": []}]}}})") ==
               "/shapes/s/migrations/0: missing \"up\"");
    BOOST_TEST(file_error(R"({"tlsyncSchema": 1, "shapes": {"s": {"props": {}, "migrations": [{"up": [{"op": "move"}]}]}}})") ==
               "/shapes/s/migrations/0/up/0/op: unknown op \"move\" (expected add, set, remove, rename or map)");
    BOOST_TEST(file_error(R"({"tlsyncSchema": 1, "shapes": {"s": {"props": {}, "migrations": [{"up": [{"op": "add", "path": "a..b", "value": 1}]}]}}})") ==
               "/shapes/s/migrations/0/up/0/path: path \"a..b\" has an empty key");
    BOOST_TEST(file_error(R"({"tlsyncSchema": 1, "shapes": {"s": {"props": {}, "migrations": [{"up": [{"op": "add", "path": "a"}]}]}}})") ==
               "/shapes/s/migrations/0/up/0: missing \"value\"");
    BOOST_TEST(file_error(R"({"tlsyncSchema": 1, "shapes": {"s": {"props": {}, "migrations": [{"up": [{"op": "rename", "from": "a", "to": "a"}]}]}}})") ==
               "/shapes/s/migrations/0/up/0: \"from\" and \"to\" are the same path");
    BOOST_TEST(file_error(R"({"tlsyncSchema": 1, "migrations": [{"sequenceId": "x", "versions": [{"up": [], "filter": {"a": []}}]}]})") ==
               "/migrations/0/versions/0/filter/a: filter values must be strings, numbers, booleans or null");
    BOOST_TEST(file_error(R"({"tlsyncSchema": 1, "migrations": [{"sequenceId": "a/b", "versions": []}]})") ==
               "/migrations/0/sequenceId: \"sequenceId\" cannot contain '/'");
    BOOST_TEST(file_error(R"({"tlsyncSchema": 1, "migrations": [{"sequenceId": "com.tldraw.shape.geo", "versions": []}]})") ==
               "/migrations/0/sequenceId: migration sequence \"com.tldraw.shape.geo\" already exists");
    BOOST_TEST(file_error(R"({"tlsyncSchema": 1, "migrations": [{"sequenceId": "x", "versions": [{"up": [], "dependsOn": [3]}]}]})") ==
               "/migrations/0/versions/0/dependsOn/0: a migration id must be a non-empty string");
}

BOOST_AUTO_TEST_CASE(depends_on_is_checked_when_the_file_is_in) {
    // Missing: reported where it was written.
    BOOST_TEST(file_error(R"({"tlsyncSchema": 1, "migrations": [{"sequenceId": "x", "versions": [{"up": [], "dependsOn": ["y/1"]}]}]})") ==
               "/migrations/0/versions/0/dependsOn/0: depends on missing migration \"y/1\"");
    BOOST_TEST(file_error(R"({"tlsyncSchema": 1, "shapes": {"s": {"props": {}, "migrations": [{"up": [], "dependsOn": ["x/2"]}]}},
                             "migrations": [{"sequenceId": "x", "versions": [{"up": []}]}]})") ==
               "/shapes/s/migrations/0/dependsOn/0: depends on missing migration \"x/2\"");
    // Present: in the built-in schema, or anywhere in the same file (order of keys aside).
    const auto s = load(R"({"tlsyncSchema": 1,
        "shapes": {"s": {"props": {}, "migrations": [{"up": [], "dependsOn": ["x/1", "com.tldraw.shape.geo/1"]}]}},
        "migrations": [{"sequenceId": "x", "versions": [{"up": []}]}]})");
    BOOST_TEST(s->serialize().at("sequences").at("com.tldraw.shape.s") == 1);
}

BOOST_AUTO_TEST_CASE(whole_schema_errors_surface_at_build) {
    schema_builder p;
    apply_schema_file(p, R"({"tlsyncSchema": 1, "records": {"cursor": {"scope": "presence", "validator": {"kind": "any"}}}})",
                      "test.json");
    BOOST_CHECK_EXCEPTION(p.build(), schema_definition_error, [](const schema_definition_error& e) {
        return std::string_view(e.what()).find("presence type") != std::string_view::npos;
    });
}

BOOST_AUTO_TEST_SUITE_END()
