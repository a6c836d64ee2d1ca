// diff_record (SPEC D1-D7) and get_network_diff (ND1).

#include "core/diff.hpp"
#include "diff_test_util.hpp"

using namespace tlsync;
using tlsync::test::check_json;
using tlsync::test::obj;

namespace {

const json::object geo_shape = obj(R"({
    "id": "shape:1", "typeName": "shape", "type": "geo", "x": 100, "y": 200, "rotation": 0,
    "index": "a1", "parentId": "page:page", "isLocked": false, "opacity": 1,
    "props": {"geo": "rectangle", "w": 100, "h": 50, "color": "black", "fill": "none",
              "richText": {"type": "doc", "content": [
                  {"type": "paragraph", "content": [{"type": "text", "text": "Hello"}]}]}},
    "meta": {}
})");

json::object with(json::object o, std::string_view key, json::value v) {
    o[key] = std::move(v);
    return o;
}

} // namespace

BOOST_AUTO_TEST_SUITE(diff)

BOOST_AUTO_TEST_CASE(D1_identical_records_have_no_diff) {
    check_json(core::diff_record(geo_shape, geo_shape), "null");
    const auto copy = geo_shape;
    check_json(core::diff_record(geo_shape, copy), "null");
    check_json(core::diff_record(obj("{}"), obj("{}")), "null");
}

BOOST_AUTO_TEST_CASE(D1_numbers_compare_by_value) {
    check_json(core::diff_record(obj(R"({"x":1,"props":{"w":2,"pts":[3]}})"),
                                 obj(R"({"x":1.0,"props":{"w":2.0,"pts":[3.0]}})")),
               "null");
}

BOOST_AUTO_TEST_CASE(D2_missing_keys_delete_and_new_keys_put) {
    check_json(core::diff_record(obj(R"({"id":"a","x":1,"gone":null})"),
                                 obj(R"({"id":"a","x":1,"added":{"k":[1]}})")),
               R"({"gone":["delete"],"added":["put",{"k":[1]}]})");
    check_json(core::diff_record(obj(R"({"props":{"color":"red","size":"l"}})"),
                                 obj(R"({"props":{"color":"red","fill":"solid"}})")),
               R"({"props":["patch",{"size":["delete"],"fill":["put","solid"]}]})");
}

BOOST_AUTO_TEST_CASE(D3_top_level_primitives_are_put) {
    auto next = with(with(geo_shape, "x", 150), "isLocked", true);
    check_json(core::diff_record(geo_shape, next), R"({"x":["put",150],"isLocked":["put",true]})");
    check_json(core::diff_record(obj(R"({"a":null})"), obj(R"({"a":"v"})")),
               R"({"a":["put","v"]})");
    check_json(core::diff_record(obj(R"({"a":"v"})"), obj(R"({"a":null})")),
               R"({"a":["put",null]})");
}

BOOST_AUTO_TEST_CASE(D3_top_level_plain_objects_are_put_whole) {
    check_json(core::diff_record(obj(R"({"camera":{"x":1,"y":2,"z":1}})"),
                                 obj(R"({"camera":{"x":5,"y":2,"z":1}})")),
               R"({"camera":["put",{"x":5,"y":2,"z":1}]})");
    check_json(
        core::diff_record(obj(R"({"camera":{"x":1,"y":2}})"), obj(R"({"camera":{"y":2,"x":1}})")),
        "null");
    // An object turning into an array (or back) is a put too.
    check_json(core::diff_record(obj(R"({"v":{"0":1}})"), obj(R"({"v":[1]})")),
               R"({"v":["put",[1]]})");
}

BOOST_AUTO_TEST_CASE(D3_props_and_meta_are_patched) {
    auto next = geo_shape;
    next["props"].as_object()["color"] = "red";
    next["meta"].as_object()["author"] = "ann";
    check_json(
        core::diff_record(geo_shape, next),
        R"({"props":["patch",{"color":["put","red"]}],"meta":["patch",{"author":["put","ann"]}]})");
}

BOOST_AUTO_TEST_CASE(D3_D4_D5_props_holding_a_primitive_is_put_or_appended) {
    check_json(core::diff_record(obj(R"({"props":42})"), obj(R"({"props":100})")),
               R"({"props":["put",100]})");
    check_json(core::diff_record(obj(R"({"props":"hello"})"), obj(R"({"props":"world"})")),
               R"({"props":["put","world"]})");
    check_json(core::diff_record(obj(R"({"props":"hello"})"), obj(R"({"props":"hello world"})")),
               R"({"props":["append"," world",5]})");
    check_json(core::diff_record(obj(R"({"props":null})"), obj(R"({"props":{"a":1}})")),
               R"({"props":["put",{"a":1}]})");
    check_json(core::diff_record(obj(R"({"meta":{"a":1}})"), obj(R"({"meta":[1]})")),
               R"({"meta":["put",[1]]})");
}

BOOST_AUTO_TEST_CASE(D4_objects_inside_props_are_patched_recursively) {
    auto next = geo_shape;
    auto& text = next["props"]
                     .as_object()["richText"]
                     .as_object()["content"]
                     .as_array()[0]
                     .as_object()["content"]
                     .as_array()[0]
                     .as_object()["text"];
    text = "Hello, world";
    check_json(core::diff_record(geo_shape, next), R"({"props":["patch",{"richText":["patch",{
        "content":["patch",{"0":["patch",{"content":["patch",{"0":["patch",{
            "text":["append",", world",5]}]}]}]}]}]}]})");
}

BOOST_AUTO_TEST_CASE(D4_null_primitives_and_mixed_kinds_inside_props_are_put) {
    check_json(core::diff_record(obj(R"({"props":{"a":null,"b":{"c":1},"d":1,"e":{"0":1}}})"),
                                 obj(R"({"props":{"a":{"c":1},"b":null,"d":false,"e":[1]}})")),
               R"({"props":["patch",{"a":["put",{"c":1}],"b":["put",null],"d":["put",false],
                   "e":["put",[1]]}]})");
}

BOOST_AUTO_TEST_CASE(D5_string_append_counts_utf16_units) {
    // "é" is 2 UTF-8 bytes but 1 UTF-16 unit; "😀" is 4 bytes and 2 units.
    check_json(core::diff_record(obj(R"({"props":{"text":"café 😀"}})"),
                                 obj(R"({"props":{"text":"café 😀 中文"}})")),
               R"({"props":["patch",{"text":["append"," 中文",7]}]})");
    check_json(core::diff_record(obj(R"({"name":"👍🏽"})"), obj(R"({"name":"👍🏽!"})")),
               R"({"name":["append","!",4]})");
}

BOOST_AUTO_TEST_CASE(D5_top_level_strings_append_from_empty) {
    check_json(core::diff_record(obj(R"({"name":""})"), obj(R"({"name":"Page 1"})")),
               R"({"name":["append","Page 1",0]})");
}

BOOST_AUTO_TEST_CASE(D5_replaced_or_shortened_strings_are_put) {
    check_json(core::diff_record(obj(R"({"name":"hello"})"), obj(R"({"name":"help"})")),
               R"({"name":["put","help"]})");
    check_json(core::diff_record(obj(R"({"name":"hello"})"), obj(R"({"name":"hell"})")),
               R"({"name":["put","hell"]})");
    check_json(core::diff_record(obj(R"({"name":"hello"})"), obj(R"({"name":"hello"})")), "null");
}

BOOST_AUTO_TEST_CASE(D5_legacy_append_mode_turns_string_appends_into_puts) {
    check_json(core::diff_record(obj(R"({"name":"a","props":{"text":"b"}})"),
                                 obj(R"({"name":"ab","props":{"text":"bc"}})"), true),
               R"({"name":["put","ab"],"props":["patch",{"text":["put","bc"]}]})");
}

BOOST_AUTO_TEST_CASE(D5_D7_legacy_append_mode_keeps_array_appends) {
    check_json(core::diff_record(obj(R"({"props":{"points":[{"x":0,"y":0}]}})"),
                                 obj(R"({"props":{"points":[{"x":0,"y":0},{"x":1,"y":2}]}})"),
                                 true),
               R"({"props":["patch",{"points":["append",[{"x":1,"y":2}],1]}]})");
}

BOOST_AUTO_TEST_CASE(D6_unchanged_same_length_arrays_have_no_op) {
    check_json(core::diff_record(obj(R"({"tags":[1,"a",{"b":[2]}]})"),
                                 obj(R"({"tags":[1,"a",{"b":[2]}]})")),
               "null");
}

BOOST_AUTO_TEST_CASE(D6_patch_threshold_is_max_of_length_over_5_and_1) {
    // 10 items: up to 2 changes patch, 3 put.
    check_json(core::diff_record(obj(R"({"a":[0,1,2,3,4,5,6,7,8,9]})"),
                                 obj(R"({"a":[0,1,2,3,4,5,6,7,80,90]})")),
               R"({"a":["patch",{"8":["put",80],"9":["put",90]}]})");
    check_json(core::diff_record(obj(R"({"a":[0,1,2,3,4,5,6,7,8,9]})"),
                                 obj(R"({"a":[0,1,2,3,4,5,6,70,80,90]})")),
               R"({"a":["put",[0,1,2,3,4,5,6,70,80,90]]})");
    // 7 items: 7/5 = 1.4 is a real division, so 2 changes already put.
    check_json(core::diff_record(obj(R"({"a":[0,1,2,3,4,5,6]})"), obj(R"({"a":[0,1,2,3,4,5,60]})")),
               R"({"a":["patch",{"6":["put",60]}]})");
    check_json(
        core::diff_record(obj(R"({"a":[0,1,2,3,4,5,6]})"), obj(R"({"a":[0,1,2,3,4,50,60]})")),
        R"({"a":["put",[0,1,2,3,4,50,60]]})");
    // 12 items: 2.4 allows 2 changes.
    check_json(core::diff_record(obj(R"({"a":[0,1,2,3,4,5,6,7,8,9,10,11]})"),
                                 obj(R"({"a":[0,10,2,3,4,5,6,7,8,9,10,110]})")),
               R"({"a":["patch",{"1":["put",10],"11":["put",110]}]})");
    // Short arrays: one change patches, two put.
    check_json(core::diff_record(obj(R"({"a":[1,2]})"), obj(R"({"a":[1,3]})")),
               R"({"a":["patch",{"1":["put",3]}]})");
    check_json(core::diff_record(obj(R"({"a":[1,2]})"), obj(R"({"a":[4,3]})")),
               R"({"a":["put",[4,3]]})");
}

BOOST_AUTO_TEST_CASE(D6_changed_object_items_are_diffed_recursively) {
    check_json(core::diff_record(
                   obj(R"({"props":{"points":[{"id":"a","x":0,"y":0},{"id":"b","x":5,"y":5}]}})"),
                   obj(R"({"props":{"points":[{"id":"a","x":0,"y":0},{"id":"b","x":7,"y":5}]}})")),
               R"({"props":["patch",{"points":["patch",{"1":["patch",{"x":["put",7]}]}]}]})");
    // Nested arrays: the inner array grows, so the item gets an append.
    check_json(
        core::diff_record(obj(R"({"segments":[[1,2],[3]]})"), obj(R"({"segments":[[1,2],[3,4]]})")),
        R"({"segments":["patch",{"1":["append",[4],1]}]})");
}

BOOST_AUTO_TEST_CASE(D6_falsy_primitive_and_mixed_kind_items_are_put) {
    check_json(core::diff_record(obj(R"({"a":[null,{"a":1},{"b":2},{"c":3},{"d":4}]})"),
                                 obj(R"({"a":[{"z":9},{"a":1},{"b":2},{"c":3},{"d":4}]})")),
               R"({"a":["patch",{"0":["put",{"z":9}]}]})");
    check_json(core::diff_record(obj(R"({"a":[{"z":9},1]})"), obj(R"({"a":[null,1]})")),
               R"({"a":["patch",{"0":["put",null]}]})");
    // Strings inside arrays are items, not appended to.
    check_json(core::diff_record(obj(R"({"a":["ab","c"]})"), obj(R"({"a":["abc","c"]})")),
               R"({"a":["patch",{"0":["put","abc"]}]})");
    check_json(core::diff_record(obj(R"({"a":[{"0":1},"c"]})"), obj(R"({"a":[[1],"c"]})")),
               R"({"a":["patch",{"0":["put",[1]]}]})");
}

BOOST_AUTO_TEST_CASE(D7_grown_arrays_append) {
    check_json(core::diff_record(obj(R"({"a":[1,2]})"), obj(R"({"a":[1.0,2,3,{"x":4}]})")),
               R"({"a":["append",[3,{"x":4}],2]})");
    check_json(core::diff_record(obj(R"({"a":[]})"), obj(R"({"a":["x"]})")),
               R"({"a":["append",["x"],0]})");
}

BOOST_AUTO_TEST_CASE(D7_truncated_or_changed_prefix_puts_whole_array) {
    check_json(core::diff_record(obj(R"({"a":[1,2,3]})"), obj(R"({"a":[1,2]})")),
               R"({"a":["put",[1,2]]})");
    check_json(core::diff_record(obj(R"({"a":[1,2,3]})"), obj(R"({"a":[]})")),
               R"({"a":["put",[]]})");
    check_json(core::diff_record(obj(R"({"a":[1,2]})"), obj(R"({"a":[1,5,3]})")),
               R"({"a":["put",[1,5,3]]})");
}

BOOST_AUTO_TEST_CASE(D3_D4_D5_D6_shape_update_round_trips) {
    auto next = geo_shape;
    next["x"] = 150.5;
    next["index"] = "a1V";
    next["props"].as_object()["w"] = 120;
    next["meta"].as_object()["tags"] = json::array{"x"};
    const auto diff = core::diff_record(geo_shape, next);
    check_json(diff, R"({"x":["put",150.5],"index":["append","V",2],
        "props":["patch",{"w":["put",120]}],"meta":["patch",{"tags":["put",["x"]]}]})");
    auto applied = core::apply_object_diff(geo_shape, *diff);
    BOOST_REQUIRE(applied);
    BOOST_TEST(deep_equal(*applied, next));
}

BOOST_AUTO_TEST_CASE(ND1_empty_records_diff_is_nullopt) {
    BOOST_TEST(!core::get_network_diff({}));
    core::records_diff unchanged;
    unchanged.updated.push_back({"shape:1", geo_shape, geo_shape});
    BOOST_TEST(!core::get_network_diff(std::move(unchanged)));
}

BOOST_AUTO_TEST_CASE(ND1_maps_added_updated_and_removed) {
    core::records_diff changes;
    changes.added.emplace_back("shape:2", geo_shape);
    changes.updated.push_back({"shape:1", geo_shape, with(geo_shape, "x", 1)});
    changes.updated.push_back({"shape:3", geo_shape, geo_shape});
    changes.removed.emplace_back("shape:4");
    const auto result = core::get_network_diff(std::move(changes));
    BOOST_REQUIRE(result);
    proto::network_diff expected;
    expected.set("shape:2", proto::record_op::put(geo_shape));
    expected.set("shape:1", proto::record_op::patch(obj(R"({"x":["put",1]})")));
    expected.set("shape:4", proto::record_op::remove());
    BOOST_TEST((*result == expected));
}

BOOST_AUTO_TEST_CASE(ND1_D5_legacy_mode_reaches_updates) {
    core::records_diff changes;
    changes.updated.push_back(
        {"shape:1", obj(R"({"text":"Hello"})"), obj(R"({"text":"Hello world"})")});
    const auto result = core::get_network_diff(changes, true);
    BOOST_REQUIRE(result);
    BOOST_TEST((*result->find("shape:1") ==
                proto::record_op::patch(obj(R"({"text":["put","Hello world"]})"))));
    const auto modern = core::get_network_diff(std::move(changes));
    BOOST_TEST((*modern->find("shape:1") ==
                proto::record_op::patch(obj(R"({"text":["append"," world",5]})"))));
}

// diff_record_guided: the request's form where it can express the change.
BOOST_AUTO_TEST_CASE(guided_diff_follows_puts_and_patches_of_the_request) {
    auto next = geo_shape;
    auto& props = next["props"].as_object();
    props["richText"] = json::parse(R"({"type":"doc","content":[{"type":"paragraph","content":[{"type":"text","text":"Bye"}]}]})");
    props["w"] = 120;
    // D4: richText is patched deep down
    const auto plain = core::diff_record(geo_shape, next);
    BOOST_TEST_REQUIRE(plain.has_value());
    BOOST_TEST(plain->at("props").as_array().at(1).as_object().at("richText").as_array().at(0) == "patch");
    // a 5.4.2-style request puts it: the guided diff puts it too
    const auto put_request = obj(R"({"props":["patch",{"w":["put",120],"richText":["put",
        {"type":"doc","content":[{"type":"paragraph","content":[{"type":"text","text":"Bye"}]}]}]}]})");
    const auto shaped = core::diff_record_guided(geo_shape, next, put_request);
    BOOST_TEST_REQUIRE(shaped.has_value());
    BOOST_TEST((*shaped == put_request));
    // keys the request does not mention follow the D rules; a put of an
    // unchanged value is dropped; malformed guide ops fall back
    const auto partial = obj(R"({"props":["patch",{"h":["put",50],"richText":["bogus"]}]})");
    const auto mixed = core::diff_record_guided(geo_shape, next, partial);
    BOOST_TEST_REQUIRE(mixed.has_value());
    BOOST_TEST((*mixed == *plain));
}

BOOST_AUTO_TEST_SUITE_END()
