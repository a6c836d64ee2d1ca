// apply_object_diff (SPEC AD1-AD8), including diffs from untrusted peers.

#include "core/diff.hpp"
#include "diff_test_util.hpp"

#include <string>

using namespace tlsync;
using tlsync::test::arr;
using tlsync::test::check_json;
using tlsync::test::obj;

namespace {

const json::object shape = obj(R"({
    "id": "shape:1", "x": 100, "y": 200, "name": "café 😀",
    "props": {"color": "red", "w": 10, "points": [{"x":0,"y":0},{"x":1,"y":1},{"x":2,"y":2}],
              "richText": {"type":"doc","content":[{"type":"text","text":"Hi"}]}},
    "meta": {}
})");

// Applies and checks that the input is left alone whatever happens.
std::optional<json::object> apply(const json::object& input, std::string_view diff) {
    const auto before = input;
    auto result = core::apply_object_diff(input, obj(diff));
    BOOST_CHECK_MESSAGE(deep_equal(before, input), "input was mutated");
    return result;
}

std::optional<json::array> apply(const json::array& input, std::string_view diff) {
    const auto before = input;
    auto result = core::apply_object_diff(input, obj(diff));
    BOOST_CHECK_MESSAGE(deep_equal(before, input), "input was mutated");
    return result;
}

} // namespace

BOOST_AUTO_TEST_SUITE(diff)

BOOST_AUTO_TEST_CASE(AD1_returns_a_patched_copy_and_leaves_the_input_alone) {
    const auto result =
        apply(shape, R"({"x":["put",150],"props":["patch",{"color":["put","blue"]}]})");
    BOOST_REQUIRE(result);
    BOOST_TEST((*result).at("x").as_int64() == 150);
    BOOST_TEST((*result).at("props").at("color").as_string() == "blue");
    BOOST_TEST((*result).at("props").at("w").as_int64() == 10);
    BOOST_TEST(shape.at("x").as_int64() == 100);
}

BOOST_AUTO_TEST_CASE(AD1_nothing_changed_is_nullopt) {
    check_json(apply(shape, "{}"), "null");
    check_json(apply(shape, R"({"props":["patch",{"missing":["delete"]}],"gone":["delete"]})"),
               "null");
}

BOOST_AUTO_TEST_CASE(AD1_keeps_key_order) {
    const auto result =
        apply(obj(R"({"a":1,"b":2,"c":3})"), R"({"z":["put",0],"b":["delete"],"a":["put",9]})");
    BOOST_REQUIRE(result);
    std::string keys;
    for (const auto& entry : *result)
        keys += entry.key();
    BOOST_TEST(keys == "acz");
}

BOOST_AUTO_TEST_CASE(AD1_AD2_puts_of_equal_values_have_no_effect) {
    check_json(apply(shape, R"({"x":["put",100.0],"props":["patch",{"color":["put","red"]}]})"),
               "null");
    check_json(apply(shape, R"({"meta":["put",{}]})"), "null");
}

BOOST_AUTO_TEST_CASE(AD2_puts_change_values_and_add_keys) {
    check_json(apply(obj(R"({"a":1})"), R"({"a":["put",{"b":[1]}],"c":["put",null]})"),
               R"({"a":{"b":[1]},"c":null})");
}

BOOST_AUTO_TEST_CASE(AD3_string_append_offsets_are_utf16_units) {
    // "café 😀" is 7 UTF-16 units (and 10 UTF-8 bytes).
    const auto appended = apply(shape, R"({"name":["append","!",7]})");
    BOOST_REQUIRE(appended);
    BOOST_TEST(appended->at("name").as_string() == "café 😀!");
    check_json(apply(shape, R"({"name":["append","!",10]})"), "null");
    check_json(apply(obj(R"({"s":""})"), R"({"s":["append","ab",0]})"), R"({"s":"ab"})");
    check_json(apply(obj(R"({"s":"ab"})"), R"({"s":["append","c",2.0]})"), R"({"s":"abc"})");
}

BOOST_AUTO_TEST_CASE(AD3_array_appends_need_a_matching_offset) {
    check_json(apply(obj(R"({"a":[1,2]})"), R"({"a":["append",[3,[4]],2]})"),
               R"({"a":[1,2,3,[4]]})");
    check_json(apply(obj(R"({"a":[1,2]})"), R"({"a":["append",[3],1]})"), "null");
    check_json(apply(obj(R"({"a":[1,2]})"), R"({"a":["append",[3],3]})"), "null");
    check_json(apply(obj(R"({"a":[1,2]})"), R"({"a":["append",[3],-2]})"), "null");
    check_json(
        apply(obj(R"({"a":[1,2],"b":"x"})"), R"({"a":["append",[3],2],"b":["append","y",1]})"),
        R"({"a":[1,2,3],"b":"xy"})");
}

BOOST_AUTO_TEST_CASE(AD3_mismatched_types_are_ignored) {
    check_json(
        apply(
            obj(R"({"a":[1,2],"s":"ab","n":2})"),
            R"({"a":["append","x",2],"s":["append",["x"],2],"n":["append","x",2],"m":["append","x",0]})"),
        "null");
}

BOOST_AUTO_TEST_CASE(AD4_patches_nested_objects_and_arrays) {
    const auto result = apply(shape, R"({"props":["patch",{
        "points":["patch",{"1":["patch",{"x":["put",5]}],"2":["put",null]}],
        "richText":["patch",{"content":["patch",{"0":["patch",{"text":["append","!",2]}]}]}]}]})");
    BOOST_REQUIRE(result);
    const auto& props = result->at("props").as_object();
    BOOST_TEST(
        deep_equal(props.at("points"), json::parse(R"([{"x":0,"y":0},{"x":5,"y":1},null])")));
    BOOST_TEST(props.at("richText").at("content").at(0).at("text").as_string() == "Hi!");
    BOOST_TEST(props.at("points").is_array());
}

BOOST_AUTO_TEST_CASE(AD4_patching_missing_or_primitive_values_is_ignored) {
    check_json(apply(obj(R"({"a":1,"s":"hi","n":null,"f":false})"),
                     R"({"a":["patch",{"x":["put",1]}],"s":["patch",{"x":["put",1]}],
                        "n":["patch",{"x":["put",1]}],"f":["patch",{}],"m":["patch",{"x":["put",1]}]})"),
               "null");
}

BOOST_AUTO_TEST_CASE(AD5_delete_removes_present_keys_only) {
    check_json(apply(obj(R"({"a":1,"b":2,"c":3})"), R"({"b":["delete"]})"), R"({"a":1,"c":3})");
    check_json(apply(obj(R"({"a":1})"), R"({"b":["delete"]})"), "null");
    check_json(apply(obj(R"({"a":null})"), R"({"a":["delete"]})"), "{}");
}

BOOST_AUTO_TEST_CASE(AD5_AD7_deleting_an_array_item_nulls_it_in_place) {
    check_json(apply(arr("[1,2,3]"), R"({"1":["delete"]})"), "[1,null,3]");
    check_json(apply(arr("[1,null,3]"), R"({"1":["delete"],"3":["delete"]})"), "null");
}

BOOST_AUTO_TEST_CASE(AD6_non_objects_are_never_patched) {
    const auto diff = obj(R"({"a":["put",1],"0":["put",1]})");
    for (const auto& v :
         {json::value(nullptr), json::value("hello"), json::value(42), json::value(true)})
        BOOST_TEST(!core::apply_value_diff(v, diff));
    check_json(core::apply_value_diff(json::value(json::object{}), diff), R"({"a":1,"0":1})");
    check_json(core::apply_value_diff(json::value(json::array{}), diff), "[1]");
}

BOOST_AUTO_TEST_CASE(AD7_arrays_are_patched_by_numeric_keys) {
    check_json(apply(arr("[1,2,3]"), R"({"1":["put",9]})"), "[1,9,3]");
    check_json(apply(arr("[1,2,3]"), R"({"1":["put",2.0]})"), "null");
    check_json(apply(arr(R"([{"a":1},{"b":2}])"), R"({"1":["patch",{"b":["put",20]}]})"),
               R"([{"a":1},{"b":20}])");
    check_json(apply(arr(R"([[1],"x"])"), R"({"0":["append",[2],1],"1":["append","y",1]})"),
               R"([[1,2],"xy"])");
}

BOOST_AUTO_TEST_CASE(AD7_put_at_length_appends_and_past_it_is_ignored) {
    check_json(apply(arr("[1,2]"), R"({"2":["put",3]})"), "[1,2,3]");
    check_json(apply(arr("[1,2]"), R"({"3":["put",3]})"), "null");
    check_json(apply(arr("[1,2]"), R"({"3":["put",4],"2":["put",3]})"), "[1,2,3]");
    check_json(apply(arr("[]"), R"({"0":["put",1]})"), "[1]");
    check_json(apply(arr("[1,2]"), R"({"2":["patch",{}]})"), "null");
    check_json(apply(arr("[1,2]"), R"({"2":["append",[1],0]})"), "null");
}

BOOST_AUTO_TEST_CASE(AD7_untrusted_array_keys_are_ignored) {
    const auto input = arr("[1,2,3]");
    for (const char* key :
         {"-1", "01", "1e0", "1.0", " 1", "+1", "", "length", "NaN", "__proto__", "4294967296",
          "18446744073709551615", "18446744073709551616", "99999999999999999999999999999999"}) {
        json::object diff;
        diff[key] = json::array{"put", 7};
        BOOST_TEST_CONTEXT("key '" << key << "'") {
            BOOST_TEST(!core::apply_object_diff(input, diff));
        }
    }
}

BOOST_AUTO_TEST_CASE(AD8_proto_keys_are_ignored_at_every_level) {
    check_json(apply(obj(R"({"a":1})"), R"({"__proto__":["put",{"isAdmin":true}]})"), "null");
    check_json(apply(obj(R"({"__proto__":{"x":1}})"), R"({"__proto__":["patch",{"x":["put",2]}]})"),
               "null");
    check_json(apply(obj(R"({"__proto__":1})"), R"({"__proto__":["delete"]})"), "null");
    check_json(apply(shape, R"({"props":["patch",{"__proto__":["put",{"polluted":true}]}]})"),
               "null");
}

BOOST_AUTO_TEST_CASE(AD1_malformed_ops_are_ignored) {
    const auto input = obj(R"({"a":1,"s":"ab","o":{"k":1},"l":[1]})");
    for (const char* op :
         {R"("put")", "[]", "[1,2]", R"({"0":["put",2]})", R"(["put"])", R"(["put",1,2])",
          R"(["nope",1])", R"([null,1])", R"(["patch",[["put",1]]])", R"(["patch"])",
          R"(["append","c"])", R"(["append",[2],"1"])", R"(["append",[2],null])", R"(["delete",1])",
          R"(["patch",{"y":["put",1]},3])"}) {
        for (const char* key : {"a", "s", "o", "l", "new"}) {
            json::object diff;
            diff[key] = json::parse(op);
            BOOST_TEST_CONTEXT(key << ": " << op) {
                BOOST_TEST(!core::apply_object_diff(input, diff));
            }
        }
    }
    check_json(apply(obj(R"({"o":{"k":1}})"), R"({"o":["patch",{"k":"put","j":["put",2]}]})"),
               R"({"o":{"k":1,"j":2}})");
}

BOOST_AUTO_TEST_SUITE_END()
