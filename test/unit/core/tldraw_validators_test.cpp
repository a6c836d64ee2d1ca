// Record validation against the real @tldraw/tlschema 5.4.2: every case of
// fixtures/tldraw_validator_cases.json (valid records made with the package's
// record types, and mutations of them) must get the package's verdict and
// message. Written by scripts/gen-tldraw-schema.
#include "core/tldraw_schema.hpp"
#include "core/validator.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>

using namespace tlsync;
using namespace tlsync::core;

namespace {

json::value load(const char* name) {
    auto path = std::filesystem::path(TLSYNC_SOURCE_DIR) / "test/unit/core/fixtures" / name;
    std::ifstream in(path);
    if (!in) throw std::runtime_error("cannot open " + path.string());
    std::stringstream ss;
    ss << in.rdbuf();
    return json::parse(ss.str());
}

const json::object& corpus() {
    static const json::object c = load("tldraw_validator_cases.json").as_object();
    return c;
}

const validator_library& tldraw_library() {
    static const validator_library lib(json::parse(detail::tldraw_validators_json));
    return lib;
}

json::object apply_case(const json::object& c) {
    const auto& bases = corpus().at("bases").as_array();
    json::value record = bases.at(static_cast<std::size_t>(c.at("b").as_int64()));
    const auto& path = c.at("p").as_array();
    if (path.empty()) return record.as_object();
    json::value* at = &record;
    for (std::size_t i = 0; i + 1 < path.size(); ++i)
        at = path[i].is_string() ? &at->as_object().at(path[i].as_string())
                                 : &at->as_array().at(static_cast<std::size_t>(path[i].as_int64()));
    const auto& last = path.back();
    const bool del = c.contains("del");
    if (last.is_string()) {
        if (del)
            at->as_object().erase(last.as_string());
        else
            at->as_object()[last.as_string()] = c.at("v");
    } else {
        auto& arr = at->as_array();
        auto i = static_cast<std::size_t>(last.as_int64());
        if (del)
            arr.erase(arr.begin() + static_cast<std::ptrdiff_t>(i));
        else
            arr.at(i) = c.at("v");
    }
    return record.as_object();
}

// The message validating `record` as `type` gives, or "" when accepted.
std::string verdict(const validator_library& lib, std::string_view type,
                    const json::object& record) {
    try {
        lib.find(type)->validate(record);
        return {};
    } catch (const validation_error& e) {
        return e.what();
    }
}

json::object geo() {
    return json::parse(R"({
        "id": "shape:g", "typeName": "shape", "type": "geo", "x": 0, "y": 0, "rotation": 0, "index": "a1",
        "parentId": "page:p", "isLocked": false, "opacity": 1, "meta": {},
        "props": {"w": 100, "h": 100, "geo": "rectangle", "dash": "draw", "growY": 0, "url": "", "scale": 1,
                  "flipX": false, "flipY": false, "color": "black", "labelColor": "black", "fill": "none",
                  "size": "m", "font": "draw", "align": "middle", "verticalAlign": "middle",
                  "richText": {"type": "doc", "content": [{"type": "paragraph"}]}}
    })")
        .as_object();
}

std::string schema_verdict(const json::object& record) {
    try {
        make_tldraw_schema()->validate_record(record);
        return {};
    } catch (const validation_error& e) {
        return e.what();
    }
}

validator_library compile(std::string_view text) {
    return validator_library(json::parse(text));
}

} // namespace

BOOST_AUTO_TEST_SUITE(tldraw_validators)

BOOST_AUTO_TEST_CASE(generated_description_matches_fixture) {
    auto fixture = load("tldraw_validators.json").as_object();
    auto data = json::parse(detail::tldraw_validators_json).as_object();
    BOOST_TEST(deep_equal(data.at("records"), fixture.at("records")));
    BOOST_TEST(deep_equal(data.at("defs"), fixture.at("defs")));
    for (const auto& name : fixture.at("custom").as_array()) {
        auto names = custom_validator_names();
        BOOST_TEST((std::find(names.begin(), names.end(), std::string_view(name.as_string())) !=
                    names.end()));
    }
    for (const auto& t : make_tldraw_schema()->types())
        BOOST_TEST(tldraw_library().find(t.type_name) != nullptr);
}

BOOST_AUTO_TEST_CASE(corpus_verdicts_match_package) {
    const auto& messages = corpus().at("messages").as_array();
    const auto& bases = corpus().at("bases").as_array();
    std::size_t cases = 0, verdict_mismatches = 0, message_mismatches = 0;
    for (const auto& cv : corpus().at("cases").as_array()) {
        const auto& c = cv.as_object();
        ++cases;
        const auto& base = bases.at(static_cast<std::size_t>(c.at("b").as_int64())).as_object();
        const auto e = c.at("e").as_int64();
        const std::string want =
            e < 0 ? "" : std::string(messages.at(static_cast<std::size_t>(e)).as_string());
        const std::string got =
            verdict(tldraw_library(), base.at("typeName").as_string(), apply_case(c));
        if (want.empty() != got.empty()) {
            if (++verdict_mismatches <= 25)
                BOOST_ERROR("verdict differs for " << json::serialize(c) << ": package "
                                                   << (want.empty() ? "accepts" : want) << "; we "
                                                   << (got.empty() ? "accept" : got));
        } else if (want != got) {
            if (++message_mismatches <= 25)
                BOOST_ERROR("message differs for " << json::serialize(c) << ":\n  package: " << want
                                                   << "\n  ours:    " << got);
        }
    }
    BOOST_TEST_MESSAGE(cases << " cases; " << verdict_mismatches << " verdict and "
                             << message_mismatches << " message mismatches");
    BOOST_TEST(cases > 5000u);
    BOOST_TEST(verdict_mismatches == 0u);
    BOOST_TEST(message_mismatches == 0u);
}

BOOST_AUTO_TEST_CASE(every_default_type_has_a_valid_corpus_record) {
    std::set<std::string> covered;
    for (const auto& b : corpus().at("bases").as_array()) {
        const auto& r = b.as_object();
        std::string key(r.at("typeName").as_string());
        if (const auto* t = r.if_contains("type")) key += "/" + std::string(t->as_string());
        covered.insert(key);
        BOOST_TEST(schema_verdict(r) == "");
    }
    for (const auto& t : detail::tldraw_types()) {
        if (t.type_name == "shape" || t.type_name == "binding" || t.type_name == "asset") continue;
        BOOST_TEST(covered.contains(std::string(t.type_name)), t.type_name);
    }
    for (auto s : detail::tldraw_shape_types())
        BOOST_TEST(covered.contains("shape/" + std::string(s)), s);
    for (auto s : detail::tldraw_binding_types())
        BOOST_TEST(covered.contains("binding/" + std::string(s)), s);
    for (auto s : detail::tldraw_asset_types())
        BOOST_TEST(covered.contains("asset/" + std::string(s)), s);
}

// The records integration tests found real clients crash on.
BOOST_AUTO_TEST_CASE(rejects_records_that_crash_clients) {
    BOOST_TEST(schema_verdict(geo()) == "");
    auto with_prop = [](std::string_view key, json::value v) {
        auto r = geo();
        r["props"].as_object()[key] = std::move(v);
        return r;
    };
    BOOST_TEST(schema_verdict(with_prop("w", -5)) ==
               "At shape(type = geo).props.w: Expected a non-zero positive number, got -5");
    BOOST_TEST(schema_verdict(with_prop("w", "wide")) ==
               "At shape(type = geo).props.w: Expected number, got a string");
    BOOST_TEST(
        schema_verdict(with_prop("color", "chartreuse")) ==
        "At shape(type = geo).props.color: Expected \"black\" or \"grey\" or \"light-violet\" or "
        "\"violet\" or "
        "\"blue\" or \"light-blue\" or \"yellow\" or \"orange\" or \"green\" or \"light-green\" or "
        "\"light-red\" or \"red\" or \"white\", got chartreuse");
    BOOST_TEST(schema_verdict(with_prop("extra", 1)) ==
               "At shape(type = geo).props.extra: Unexpected property");
    auto no_geo = geo();
    no_geo["props"].as_object().erase("geo");
    BOOST_TEST(schema_verdict(no_geo).starts_with(
        "At shape(type = geo).props.geo: Expected \"cloud\" or"));
    auto left = geo();
    left["x"] = "left";
    BOOST_TEST(schema_verdict(left) == "At shape(type = geo).x: Expected number, got a string");
    auto orphan = geo();
    orphan["parentId"] = "nope";
    BOOST_TEST(
        schema_verdict(orphan) ==
        "At shape(type = geo).parentId: Error: Parent ID must start with \"page:\" or \"shape:\"");
    auto unknown = geo();
    unknown["type"] = "hexagon";
    BOOST_TEST(schema_verdict(unknown).starts_with("At shape.type: Expected one of \"arrow\" or"));

    auto presence = json::parse(R"({
        "id": "instance_presence:p", "typeName": "instance_presence", "userId": "not-a-user-id", "userName": "A",
        "lastActivityTimestamp": null, "followingUserId": null, "cursor": null, "color": "#f00", "camera": null,
        "screenBounds": null, "selectedShapeIds": [], "currentPageId": "page:p", "brush": null, "scribbles": [],
        "chatMessage": "", "meta": {}
    })")
                        .as_object();
    BOOST_TEST(schema_verdict(presence) ==
               "At instance_presence.userId: Error: user ID must start with \"user:\"");
    presence["userId"] = "user:u";
    BOOST_TEST(schema_verdict(presence) == "");
}

BOOST_AUTO_TEST_CASE(grammar_optional_nullable_and_absent_keys) {
    auto lib = compile(R"({"records": {"r": {"kind": "object", "fields": {
        "o": {"kind": "optional", "of": {"kind": "number"}},
        "n": {"kind": "nullable", "of": {"kind": "string"}},
        "a": {"kind": "any"},
        "j": {"kind": "optional", "of": {"kind": "json"}}}}}})");
    auto v = [&](std::string_view text) {
        return verdict(lib, "r", json::parse(text).as_object());
    };
    BOOST_TEST(v(R"({"n": null})") == "");
    BOOST_TEST(v(R"({"n": "x", "o": 1, "a": [1], "j": {"k": [null]}})") == "");
    BOOST_TEST(v(R"({"n": null, "o": null})") ==
               "At o: Expected number, got null"); // null is not undefined
    BOOST_TEST(v(R"({})") == "At n: Expected string, got undefined");
    BOOST_TEST(v(R"({"n": null, "z": 1})") == "At z: Unexpected property");
}

BOOST_AUTO_TEST_CASE(grammar_recursion_dict_union_or_and_lengths) {
    auto lib = compile(R"({
        "defs": {"tree": {"kind": "object", "fields": {
            "v": {"kind": "positive_integer"},
            "kids": {"kind": "array_of", "of": {"kind": "ref", "name": "tree"}}}}},
        "records": {
            "tree": {"kind": "model", "name": "tree", "of": {"kind": "ref", "name": "tree"}},
            "d": {"kind": "dict", "key": {"kind": "enum", "values": ["a", "b"]}, "value": {"kind": "integer"}},
            "u": {"kind": "union", "key": "t", "number_keys": true, "variants": {
                "1": {"kind": "object", "fields": {"t": {"kind": "literal", "value": 1}}}}},
            "or": {"kind": "object", "fields": {"x": {"kind": "or", "of": [{"kind": "boolean"}, {"kind": "index_key"}]},
                                                "l": {"kind": "array_of", "of": {"kind": "any"}, "min_length": 2}}}
        }})");
    auto v = [&](std::string_view type, std::string_view text) {
        return verdict(lib, type, json::parse(text).as_object());
    };
    BOOST_TEST(v("tree", R"({"v": 1, "kids": [{"v": 2, "kids": []}]})") == "");
    BOOST_TEST(v("tree", R"({"v": 1, "kids": [{"v": 2.5, "kids": []}]})") ==
               "At tree.kids.0.v: Expected an integer, got 2.5");
    BOOST_TEST(v("tree", R"({"v": -1, "kids": []})") ==
               "At tree.v: Expected a positive integer, got -1");
    BOOST_TEST(v("d", R"({"a": 1, "b": 2})") == "");
    BOOST_TEST(v("d", R"({"a": 1, "c": 2})") == "At c: Expected \"a\" or \"b\", got c");
    BOOST_TEST(v("d", R"({"b": 1, "a": 1e21})") == "");
    BOOST_TEST(v("d", R"({"b": 1.5, "1": 0.5})") ==
               "At 1: Expected \"a\" or \"b\", got 1"); // index keys first
    BOOST_TEST(v("d", R"({"a": 1.5e-7})") == "At a: Expected an integer, got 1.5e-7");
    BOOST_TEST(v("u", R"({"t": 1})") == "");
    BOOST_TEST(v("u", R"({"t": "x"})") == "Expected a number for key \"t\", got \"x\"");
    BOOST_TEST(v("u", R"({"t": 2})") == "At t: Expected one of \"1\", got 2");
    BOOST_TEST(v("or", R"({"x": true, "l": [1, 2]})") == "");
    BOOST_TEST(v("or", R"({"x": "a1", "l": [1, 2]})") == "");
    BOOST_TEST(v("or", R"({"x": "a10", "l": [1, 2]})") ==
               "At x: Expected an index key, got \"a10\"");
    BOOST_TEST(v("or", R"({"x": true, "l": [1]})") ==
               "At l: Expected an array with length greater than 1");
}

BOOST_AUTO_TEST_CASE(grammar_numbers_are_finite_and_formatted_as_js) {
    auto lib = compile(R"({"records": {
        "n": {"kind": "object", "fields": {"v": {"kind": "number"}}},
        "p": {"kind": "object", "fields": {"v": {"kind": "positive_number"}}},
        "u": {"kind": "object", "fields": {"v": {"kind": "unit_interval"}}},
        "z": {"kind": "object", "fields": {"v": {"kind": "nonzero_number"}}}}})");
    const double inf = std::numeric_limits<double>::infinity();
    auto v = [&](std::string_view type, double d) {
        return verdict(lib, type, json::object{{"v", d}});
    };
    BOOST_TEST(v("n", inf) == "At v: Expected a finite number, got Infinity");
    BOOST_TEST(v("n", std::nan("")) == "At v: Expected a number, got NaN");
    BOOST_TEST(v("p", -inf) == "At v: Expected a positive number, got -Infinity");
    BOOST_TEST(v("p", inf) == "At v: Expected a finite number, got Infinity");
    BOOST_TEST(v("u", inf) == "At v: Expected a number between 0 and 1, got Infinity");
    BOOST_TEST(v("p", 0) == ""); // positive means >= 0
    BOOST_TEST(v("z", 0) == "At v: Expected a non-zero positive number, got 0");
    BOOST_TEST(v("p", -1e21) == "At v: Expected a positive number, got -1e+21");
    BOOST_TEST(v("p", -1e-7) == "At v: Expected a positive number, got -1e-7");
    BOOST_TEST(v("p", -0.000001) == "At v: Expected a positive number, got -0.000001");
    BOOST_TEST(v("p", -123456789012345680000.0) ==
               "At v: Expected a positive number, got -123456789012345680000");
    BOOST_TEST(v("p", -0.1) == "At v: Expected a positive number, got -0.1");
}

BOOST_AUTO_TEST_CASE(grammar_errors_are_reported_at_compile_time) {
    BOOST_CHECK_THROW(compile(R"({"records": {"r": {"kind": "nope"}}})"), std::invalid_argument);
    BOOST_CHECK_THROW(compile(R"({"records": {"r": {"kind": "ref", "name": "missing"}}})"),
                      std::invalid_argument);
    BOOST_CHECK_THROW(compile(R"({"records": {"r": {"kind": "custom", "name": "missing"}}})"),
                      std::invalid_argument);
    BOOST_CHECK_THROW(compile(R"({"records": {"r": {"kind": "object"}}})"), std::invalid_argument);
    BOOST_CHECK_THROW(
        compile(R"({"defs": {"a": {"kind": "ref", "name": "b"}, "b": {"kind": "ref", "name": "a"}},
                                  "records": {"r": {"kind": "ref", "name": "a"}}})"),
        std::invalid_argument);
    BOOST_CHECK_THROW(compile(R"({"defs": {}})"), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(index_keys_follow_validate_order_key) {
    using detail::is_valid_index_key;
    BOOST_TEST(is_valid_index_key("a0"));
    BOOST_TEST(is_valid_index_key("a1V"));
    BOOST_TEST(is_valid_index_key("Zz"));
    BOOST_TEST(is_valid_index_key("b0Z"));
    BOOST_TEST(is_valid_index_key("a!")); // digits are not checked upstream either
    BOOST_TEST(!is_valid_index_key(""));
    BOOST_TEST(!is_valid_index_key("a"));
    BOOST_TEST(!is_valid_index_key("a10"));
    BOOST_TEST(!is_valid_index_key("b0"));
    BOOST_TEST(!is_valid_index_key("A00000000000000000000000000"));
    BOOST_TEST(!is_valid_index_key("0a"));
    BOOST_TEST(!is_valid_index_key("b\xC3\xA9")); // one UTF-16 unit after the head: too short
    BOOST_TEST(is_valid_index_key("a\xC3\xA9"));
}

BOOST_AUTO_TEST_SUITE_END()
