// The example's schema: C++ checks and migrations behave, and the code
// defines the sticker exactly as examples/schemas/sticker.json does (same
// sequences and versions, same verdicts except where the C++ check is
// stricter), so a tldraw app can use either server.
#define BOOST_TEST_MODULE tlsync_example_sticker
#include "sticker_schema.hpp"

#include "core/schema_file.hpp"

#include <boost/json/parse.hpp>
#include <boost/test/unit_test.hpp>

#include <fstream>
#include <sstream>

namespace core = tlsync::core;
namespace json = boost::json;

namespace {

json::object sticker(std::string_view props) {
    auto r = json::parse(R"({"id": "shape:s", "typeName": "shape", "type": "sticker", "x": 0, "y": 0,
                             "rotation": 0, "index": "a1", "parentId": "page:page", "isLocked": false,
                             "opacity": 1, "meta": {}})")
                 .as_object();
    r["props"] = json::parse(props);
    return r;
}

std::string verdict(const core::schema& s, const json::object& r) {
    try {
        s.validate_record(r);
        return "accepted";
    } catch (const core::validation_error& e) {
        return e.what();
    }
}

std::shared_ptr<const core::schema> file_schema() {
    std::ifstream in(TLSYNC_STICKER_JSON);
    std::stringstream text;
    text << in.rdbuf();
    core::schema_builder b;
    core::apply_schema_file(b, text.str(), TLSYNC_STICKER_JSON);
    return b.build();
}

} // namespace

BOOST_AUTO_TEST_CASE(code_and_file_define_the_same_sticker) {
    auto code = sticker_example::make_sticker_schema();
    auto file = file_schema();
    const auto& seqs = code->serialize().at("sequences").as_object();
    for (const auto& [id, v] : file->serialize().at("sequences").as_object()) BOOST_TEST(seqs.at(id) == v);
    BOOST_TEST(seqs.at("com.example.vote") == 1);

    auto ok = sticker(R"({"w": 80, "h": 80, "emoji": "⭐", "caption": "gold", "color": "yellow"})");
    BOOST_TEST(verdict(*code, ok) == "accepted");
    BOOST_TEST(verdict(*file, ok) == "accepted");
    auto no_color = sticker(R"({"w": 80, "h": 80, "emoji": "⭐", "caption": "gold"})");
    BOOST_TEST(verdict(*code, no_color) == verdict(*file, no_color));
    // Only the C++ check knows what an emoji is.
    auto text = sticker(R"({"w": 80, "h": 80, "emoji": "star", "caption": "", "color": "red"})");
    BOOST_TEST(verdict(*file, text) == "accepted");
    BOOST_TEST(verdict(*code, text) == "At shape(type = sticker).props.emoji: Expected an emoji, got text");

    // The C++ migrations match the file's declarative ones, both ways.
    json::object v0 = code->serialize();
    v0["sequences"].as_object()["com.tldraw.shape.sticker"] = 0;
    auto code_plan = code->migrations_since(v0);
    auto file_plan = file->migrations_since(v0);
    auto code_down = code->migrate_record(ok, *code_plan, core::migration_direction::down);
    auto file_down = file->migrate_record(ok, *file_plan, core::migration_direction::down);
    BOOST_TEST(*code_down.value == *file_down.value);
    BOOST_TEST(code_down.value->at("props") == json::parse(R"({"w": 80, "h": 80, "emoji": "⭐", "label": "gold"})"));
    BOOST_TEST(*code->migrate_record(*code_down.value, *code_plan, core::migration_direction::up).value ==
               *file->migrate_record(*file_down.value, *file_plan, core::migration_direction::up).value);
}

BOOST_AUTO_TEST_CASE(votes_are_checked_and_migrated_in_cpp) {
    auto s = sticker_example::make_sticker_schema();
    auto vote = json::parse(R"({"id": "vote:1", "typeName": "vote", "shapeId": "shape:s", "value": 1})").as_object();
    BOOST_TEST(verdict(*s, vote) == "accepted");
    vote["value"] = 2;
    BOOST_TEST(verdict(*s, vote) == "At vote.value: Expected 1 or -1");
    vote["value"] = true;
    json::object old = s->serialize();
    old["sequences"].as_object()["com.example.vote"] = 0;
    auto plan = s->migrations_since(old);
    auto up = s->migrate_record(vote, *plan, core::migration_direction::up);
    BOOST_TEST(up.value->at("value") == 1);
    BOOST_TEST(verdict(*s, *up.value) == "accepted");
    BOOST_TEST(s->migrate_record(*up.value, *plan, core::migration_direction::down).value->at("value") == true);
}
