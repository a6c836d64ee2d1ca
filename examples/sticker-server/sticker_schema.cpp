#include "sticker_schema.hpp"

#include "core/schema_extension.hpp"

#include <boost/json/parse.hpp>

namespace sticker_example {

namespace core = tlsync::core;
namespace json = boost::json;

namespace {

// A sticker shows one symbol: at most 16 bytes of UTF-8 (an emoji with its
// modifiers) and no ASCII letters or digits, so "⭐" passes and "star" fails.
void check_emoji(const json::value& v) {
    if (!v.is_string()) throw core::validation_error("Expected an emoji string");
    const auto& s = v.get_string();
    if (s.empty() || s.size() > 16) throw core::validation_error("Expected one emoji, got " + std::to_string(s.size()) + " bytes");
    for (unsigned char c : s)
        if (c < 0x80 && std::isalnum(c)) throw core::validation_error("Expected an emoji, got text");
}

// A vote: {"id": "vote:…", "typeName": "vote", "shapeId": "shape:…", "value": -1 | 1}.
void check_vote(const json::object& r) {
    for (const auto& [key, value] : r)
        if (key != "id" && key != "typeName" && key != "shapeId" && key != "value")
            throw core::validation_error("At vote." + std::string(key) + ": Unexpected property");
    const auto* shape = r.if_contains("shapeId");
    if (!shape || !shape->is_string() || !shape->get_string().starts_with("shape:"))
        throw core::validation_error("At vote.shapeId: Expected a shape id");
    const auto* value = r.if_contains("value");
    if (!value || !value->is_int64() || (value->get_int64() != 1 && value->get_int64() != -1))
        throw core::validation_error("At vote.value: Expected 1 or -1");
}

} // namespace

std::shared_ptr<const core::schema> make_sticker_schema() {
    core::schema_builder b;
    b.add_check("sticker_emoji", check_emoji);
    b.add_shape("sticker", json::parse(R"({
        "w": {"kind": "nonzero_number"},
        "h": {"kind": "nonzero_number"},
        "emoji": {"kind": "custom", "name": "sticker_emoji"},
        "caption": {"kind": "string"},
        "color": {"kind": "ref", "name": "style:tldraw:color"},
        "rating": {"kind": "optional", "of": {"kind": "enum", "values": [1, 2, 3, 4, 5]}}
    })").as_object(),
                {
                    // 1: stickers got a color.
                    core::props_migration{.up = [](json::object& p) { p.emplace("color", "black"); },
                                          .down = [](json::object& p) { p.erase("color"); }},
                    // 2: label was renamed caption.
                    core::props_migration{.up = [](json::object& p) {
                                              if (auto* v = p.if_contains("label")) {
                                                  json::value moved = std::move(*v);
                                                  p.erase("label");
                                                  p["caption"] = std::move(moved);
                                              }
                                          },
                                          .down = [](json::object& p) {
                                              if (auto* v = p.if_contains("caption")) {
                                                  json::value moved = std::move(*v);
                                                  p.erase("caption");
                                                  p["label"] = std::move(moved);
                                              }
                                          }},
                });

    b.add_record_type(core::record_type{"vote", core::record_scope::document, check_vote});
    core::migration_sequence votes{"com.example.vote", /*retroactive=*/false, {}};
    core::migration booleans_to_numbers;
    booleans_to_numbers.id = "com.example.vote/1"; // votes were true/false
    booleans_to_numbers.filter = [](const json::object& r) { return r.at("typeName") == "vote"; };
    booleans_to_numbers.up = [](json::object& r) {
        if (auto* v = r.if_contains("value"); v && v->is_bool()) *v = v->get_bool() ? 1 : -1;
    };
    booleans_to_numbers.down = [](json::object& r) {
        if (auto* v = r.if_contains("value"); v && v->is_int64()) *v = v->get_int64() > 0;
    };
    votes.migrations.push_back(std::move(booleans_to_numbers));
    b.add_sequence(std::move(votes));
    return b.build();
}

} // namespace sticker_example
