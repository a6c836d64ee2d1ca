// The C++ extension API (core/schema_extension.hpp): checks, record types and
// migrations written in code, and the base fields a custom shape or binding
// gets, which must stay those of the generated tldraw variants.
#include "core/schema_extension.hpp"
#include "core/tldraw_schema.hpp"

#include <boost/json/parse.hpp>
#include <boost/test/unit_test.hpp>

using namespace tlsync;
using namespace tlsync::core;

namespace {

json::object obj(std::string_view text) { return json::parse(text).as_object(); }

std::string rejection(const schema& s, const json::object& record) {
    try {
        s.validate_record(record);
    } catch (const validation_error& e) {
        return e.what();
    }
    return "accepted";
}

const json::object& variant(const json::value& description, std::string_view record, std::string_view type) {
    return description.at("records").at(record).at("of").at("variants").at(type).as_object();
}

} // namespace

BOOST_AUTO_TEST_SUITE(schema_extension)

BOOST_AUTO_TEST_CASE(custom_base_fields_match_the_generated_tldraw_variants) {
    // Build a schema with a shape and a binding whose props equal the built-in
    // group shape's and arrow binding's, and compare verdicts on records that
    // differ only in `type`: same base checks, same messages.
    schema_builder b;
    const auto& d = detail::tldraw_validator_description();
    b.add_shape("group2", variant(d, "shape", "group").at("fields").at("props").at("fields").as_object());
    b.add_binding("arrow2", variant(d, "binding", "arrow").at("fields").at("props").at("fields").as_object());
    const auto s = b.build();
    auto group = obj(R"({"id": "shape:g", "typeName": "shape", "type": "group2", "x": 0, "y": 0, "rotation": 0,
                         "index": "a1", "parentId": "page:p", "isLocked": false, "opacity": 1, "props": {}, "meta": {}})");
    BOOST_TEST(rejection(*s, group) == "accepted");
    group["parentId"] = "binding:x";
    BOOST_TEST(rejection(*s, group) == "At shape(type = group2).parentId: Error: Parent ID must start with \"page:\" or \"shape:\"");
    group["parentId"] = "page:p";
    group["index"] = "not an index";
    BOOST_TEST(rejection(*s, group).starts_with("At shape(type = group2).index: Expected an index key"));
}

BOOST_AUTO_TEST_CASE(base_shape_fields_are_tldraws) {
    // The base fields schema_builder writes for a shape are the generated
    // geo variant's (everything but type and props), in the same order.
    schema_builder b;
    b.add_shape("probe", obj("{}"));
    (void)b.build();
    const auto& d = detail::tldraw_validator_description();
    for (auto [record, type] : {std::pair{"shape", "geo"}, std::pair{"binding", "arrow"}}) {
        std::vector<std::string> names;
        for (const auto& kv : variant(d, record, type).at("fields").as_object()) names.emplace_back(kv.key());
        const std::vector<std::string> expected =
            std::string_view(record) == "shape"
                ? std::vector<std::string>{"id", "typeName", "x", "y", "rotation", "index", "parentId", "type",
                                           "isLocked", "opacity", "props", "meta"}
                : std::vector<std::string>{"id", "typeName", "type", "fromId", "toId", "props", "meta"};
        BOOST_TEST(names == expected, boost::test_tools::per_element());
    }
}

BOOST_AUTO_TEST_CASE(cpp_checks_record_types_and_migrations) {
    schema_builder b;
    b.add_check("short_text", [](const json::value& v) {
        if (!v.is_string() || v.get_string().size() > 8) throw validation_error("Expected at most 8 characters");
    });
    b.add_shape("tag", obj(R"({"text": {"kind": "custom", "name": "short_text"}})"),
                {props_migration{.up = [](json::object& p) { p["text"] = "v1"; }, .down = {}, .depends_on = {}}});
    record_type vote{"vote", record_scope::document, [](const json::object& r) {
                         if (!r.contains("value")) throw validation_error("a vote needs a value");
                     }};
    b.add_record_type(std::move(vote));
    migration_sequence seq{"com.example.vote", true, {}};
    migration m;
    m.id = "com.example.vote/1";
    m.filter = [](const json::object& r) { return r.at("typeName") == "vote"; };
    m.up = [](json::object& r) { r["value"] = 1; };
    m.down = [](json::object& r) { r.erase("value"); };
    seq.migrations.push_back(std::move(m));
    b.add_sequence(std::move(seq));
    const auto s = b.build();

    auto tag = obj(R"({"id": "shape:t", "typeName": "shape", "type": "tag", "x": 0, "y": 0, "rotation": 0,
                       "index": "a1", "parentId": "page:p", "isLocked": false, "opacity": 1,
                       "props": {"text": "short"}, "meta": {}})");
    BOOST_TEST(rejection(*s, tag) == "accepted");
    tag["props"].as_object()["text"] = "much too long";
    BOOST_TEST(rejection(*s, tag) == "At shape(type = tag).props.text: Expected at most 8 characters");
    tag["props"].as_object().erase("text");
    BOOST_TEST(rejection(*s, tag) == "At shape(type = tag).props.text: Expected a value, got undefined");

    BOOST_TEST(rejection(*s, obj(R"({"id": "vote:1", "typeName": "vote"})")) == "a vote needs a value");
    BOOST_TEST(rejection(*s, obj(R"({"id": "vote:1", "typeName": "vote", "value": 3})")) == "accepted");

    // The props migration has no down: a client on version 0 cannot be served.
    json::object old = s->serialize();
    old["sequences"].as_object()["com.tldraw.shape.tag"] = 0;
    BOOST_TEST(!s->migrations_since(old)->can_migrate_down());
    json::object old_vote = s->serialize();
    old_vote["sequences"].as_object()["com.example.vote"] = 0;
    auto plan = s->migrations_since(old_vote);
    BOOST_TEST(plan->can_migrate_down());
    BOOST_TEST(s->migrate_record(obj(R"({"id": "vote:1", "typeName": "vote"})"), *plan, migration_direction::up)
                   .value->at("value") == 1);
}

BOOST_AUTO_TEST_CASE(collisions_and_malformed_additions_throw) {
    schema_builder b;
    BOOST_CHECK_THROW(b.add_shape("geo", obj("{}")), schema_definition_error);
    BOOST_CHECK_THROW(b.add_record_type(record_type{"shape", record_scope::document, {}}), schema_definition_error);
    BOOST_CHECK_THROW(b.add_check("parent_id", [](const json::value&) {}), schema_definition_error);
    BOOST_CHECK_THROW(b.add_sequence(migration_sequence{"com.tldraw.page", true, {}}), schema_definition_error);
    migration bad;
    bad.id = "s/2";
    bad.up = [](json::object&) {};
    BOOST_CHECK_THROW(b.add_sequence(migration_sequence{"s", true, {bad}}), schema_definition_error);
    BOOST_CHECK_THROW(b.add_shape("x", obj("{}"), {props_migration{}}), schema_definition_error);
    try {
        b.add_record_type("note_pad", record_scope::document, json::parse(R"({"kind": "object", "fields": {"a": {"kind": "?"}}})"));
        BOOST_FAIL("accepted a bad node");
    } catch (const schema_definition_error& e) {
        BOOST_TEST(e.pointer == "/fields/a");
        BOOST_TEST(e.reason == "unknown kind \"?\"");
    }
    // A failed call adds nothing.
    BOOST_TEST(!b.has_record_type("note_pad"));
    BOOST_TEST(!b.has_shape("x"));
    BOOST_TEST(b.build()->serialize() == make_tldraw_schema()->serialize());
}

BOOST_AUTO_TEST_SUITE_END()
