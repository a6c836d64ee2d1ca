// Encoding: golden strings as a tldraw server (JSON.stringify) writes them.

#include "proto/codec.hpp"

#include <boost/json/parse.hpp>
#include <boost/test/unit_test.hpp>

#include <string>
#include <vector>

using namespace tlsync;
using namespace tlsync::proto;

namespace {

json::object obj(std::string_view text) { return json::parse(text).as_object(); }

network_diff sample_diff() {
    network_diff d;
    d.set("shape:a", record_op::put(obj(R"({"id":"shape:a","typeName":"shape","x":1.5})")));
    d.set("shape:b", record_op::patch(obj(R"({"x":["put",2],"props":["patch",{"t":["append","lo",3]}]})")));
    d.set("shape:c", record_op::remove());
    return d;
}

constexpr std::string_view sample_diff_json =
    R"({"shape:a":["put",{"id":"shape:a","typeName":"shape","x":1.5}],)"
    R"("shape:b":["patch",{"x":["put",2],"props":["patch",{"t":["append","lo",3]}]}],)"
    R"("shape:c":["remove"]})";

std::string json_text(const json::value& v) { return encode_json(v); }

} // namespace

BOOST_AUTO_TEST_SUITE(proto_codec)

BOOST_AUTO_TEST_CASE(HS4_HS5_encodes_connect_event) {
    connect_event e;
    e.hydration = hydration_type::wipe_presence;
    e.connect_request_id = "req-1";
    e.schema = obj(R"({"schemaVersion":2,"sequences":{"com.tldraw.store":4}})");
    e.diff.set("instance_presence:p", record_op::put(obj(R"({"id":"instance_presence:p"})")));
    e.server_clock = 42;
    e.is_readonly = true;
    BOOST_TEST(encode(e) ==
               R"({"type":"connect","connectRequestId":"req-1","hydrationType":"wipe_presence",)"
               R"("protocolVersion":8,"schema":{"schemaVersion":2,"sequences":{"com.tldraw.store":4}},)"
               R"("serverClock":42,"diff":{"instance_presence:p":["put",{"id":"instance_presence:p"}]},)"
               R"("isReadonly":true})");
    e.hydration = hydration_type::wipe_all;
    e.diff.clear();
    e.is_readonly = false;
    const auto text = encode(e);
    BOOST_TEST(text.find(R"("hydrationType":"wipe_all")") != std::string::npos);
    BOOST_TEST(text.find(R"("diff":{},"isReadonly":false})") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(ND1_encodes_patch_event_and_network_diff_ops) {
    patch_event e{sample_diff(), 7};
    BOOST_TEST(encode(e) == R"({"type":"patch","diff":)" + std::string(sample_diff_json) +
                                R"(,"serverClock":7})");
}

BOOST_AUTO_TEST_CASE(encodes_push_result_actions) {
    push_result_event e{3, 9, push_action::commit, {}};
    BOOST_TEST(encode(e) == R"({"type":"push_result","clientClock":3,"serverClock":9,"action":"commit"})");
    e.action = push_action::discard;
    BOOST_TEST(encode(e) == R"({"type":"push_result","clientClock":3,"serverClock":9,"action":"discard"})");
    e.action = push_action::rebase_with_diff;
    e.rebase_diff = sample_diff();
    BOOST_TEST(encode(e) == R"({"type":"push_result","clientClock":3,"serverClock":9,)"
                            R"("action":{"rebaseWithDiff":)" +
                                std::string(sample_diff_json) + "}}");
}

BOOST_AUTO_TEST_CASE(encodes_pong_custom_and_data) {
    BOOST_TEST(encode(pong_event{}) == R"({"type":"pong"})");
    BOOST_TEST(encode(custom_event{json::parse(R"({"kind":"chat","n":[1,null,true]})")}) ==
               R"({"type":"custom","data":{"kind":"chat","n":[1,null,true]}})");
    BOOST_TEST(encode(custom_event{}) == R"({"type":"custom","data":null})");
    data_message m;
    m.data.push_back(patch_event{{}, 1});
    m.data.push_back(push_result_event{2, 1, push_action::discard, {}});
    BOOST_TEST(encode(m) == R"({"type":"data","data":[{"type":"patch","diff":{},"serverClock":1},)"
                            R"({"type":"push_result","clientClock":2,"serverClock":1,"action":"discard"}]})");
    BOOST_TEST(encode(server_message{m}) == encode(m));
}

BOOST_AUTO_TEST_CASE(SES4_encodes_incompatibility_error_reasons) {
    BOOST_TEST(encode(incompatibility_error_event{incompatibility_reason::client_too_old}) ==
               R"({"type":"incompatibility_error","reason":"clientTooOld"})");
    BOOST_TEST(encode(incompatibility_error_event{incompatibility_reason::server_too_old}) ==
               R"({"type":"incompatibility_error","reason":"serverTooOld"})");
    BOOST_TEST(encode(incompatibility_error_event{incompatibility_reason::invalid_record}) ==
               R"({"type":"incompatibility_error","reason":"invalidRecord"})");
    BOOST_TEST(encode(incompatibility_error_event{incompatibility_reason::invalid_operation}) ==
               R"({"type":"incompatibility_error","reason":"invalidOperation"})");
}

BOOST_AUTO_TEST_CASE(encode_data_joins_pre_encoded_events) {
    const std::string patch = encode(patch_event{sample_diff(), 5});
    const std::string result = encode(push_result_event{1, 5, push_action::commit, {}});
    const std::vector<std::string> events{patch, result};
    const auto joined = encode_data(events);
    BOOST_TEST(joined == R"({"type":"data","data":[)" + patch + "," + result + "]}");
    data_message m;
    m.data.push_back(patch_event{sample_diff(), 5});
    m.data.push_back(push_result_event{1, 5, push_action::commit, {}});
    BOOST_TEST(joined == encode(m));

    const std::vector<std::string_view> views{patch};
    BOOST_TEST(encode_data(views) == R"({"type":"data","data":[)" + patch + "]}");
    BOOST_TEST(encode_data(std::span<const std::string>{}) == R"({"type":"data","data":[]})");
    BOOST_TEST(json::parse(joined).is_object());
}

BOOST_AUTO_TEST_CASE(encodes_client_messages) {
    connect_request c{"id", 12, 8, obj(R"({"schemaVersion":2})")};
    BOOST_TEST(encode(c) == R"({"type":"connect","connectRequestId":"id","lastServerClock":12,)"
                            R"("protocolVersion":8,"schema":{"schemaVersion":2}})");
    BOOST_TEST(encode(connect_request{"id", -1, {}, {}}) ==
               R"({"type":"connect","connectRequestId":"id","lastServerClock":-1})");
    push_request p{4, sample_diff(), record_op::patch(obj(R"({"x":["put",1]})"))};
    BOOST_TEST(encode(client_message{p}) == R"({"type":"push","clientClock":4,"diff":)" +
                                                std::string(sample_diff_json) +
                                                R"(,"presence":["patch",{"x":["put",1]}]})");
    BOOST_TEST(encode(ping_request{}) == R"({"type":"ping"})");
}

BOOST_AUTO_TEST_CASE(numbers_are_written_as_javascript_writes_them) {
    const std::pair<json::value, std::string_view> cases[] = {
        {0, "0"},          {-0.0, "0"},         {1.0, "1"},          {-7, "-7"},
        {3.14, "3.14"},    {0.1, "0.1"},        {1e21, "1e+21"},     {1e20, "100000000000000000000"},
        {123456.75, "123456.75"}, {1e-6, "0.000001"}, {1e-7, "1e-7"}, {1.5e-7, "1.5e-7"},
        {-2.5e300, "-2.5e+300"},  {5e-324, "5e-324"}, {0.5, "0.5"},   {1718000000000.0, "1718000000000"},
        {json::value(std::uint64_t{18446744073709551615ull}), "18446744073709551615"},
        {json::value(std::int64_t{-9223372036854775807 - 1}), "-9223372036854775808"},
        {std::numeric_limits<double>::infinity(), "null"},
        {std::numeric_limits<double>::quiet_NaN(), "null"},
    };
    for (const auto& [v, expected] : cases) BOOST_TEST(json_text(v) == expected);
}

BOOST_AUTO_TEST_CASE(strings_are_escaped_as_javascript_escapes_them) {
    BOOST_TEST(json_text("a\"b\\c") == R"("a\"b\\c")");
    BOOST_TEST(json_text("\b\f\n\r\t") == R"("\b\f\n\r\t")");
    BOOST_TEST(json_text(json::string("\x01\x1f\x7f", 3)) == "\"\\u0001\\u001f\x7f\"");
    BOOST_TEST(json_text(json::string("nul\0!", 5)) == R"("nul\u0000!")");
    // Non-ASCII, U+2028/2029 and astral characters are written as they are.
    BOOST_TEST(json_text("é\u2028\u2029🎨/") == "\"é\u2028\u2029🎨/\"");
    // Bytes that are not UTF-8 (never from parsed input) become U+FFFD.
    BOOST_TEST(json_text(json::string("a\xff" "b\xed\xa0\x80" "c\xe2\x82", 9)) ==
               "\"a\xEF\xBF\xBD" "b\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD" "c\xEF\xBF\xBD\xEF\xBF\xBD\"");
    std::string out;
    append_json_string(out, "x");
    BOOST_TEST(out == "\"x\"");
}

BOOST_AUTO_TEST_CASE(encoded_output_is_parseable_json) {
    patch_event e{sample_diff(), 1};
    e.diff.set("weird \"id\"\n", record_op::put(obj(R"({"s":"\u0000\u2028 \ud83c\udfa8"})")));
    const auto v = json::parse(encode(e));
    BOOST_TEST(v.at("diff").at("weird \"id\"\n").at(1).at("s").as_string() ==
               json::string_view("\0\u2028 🎨", 9));
}

BOOST_AUTO_TEST_SUITE_END()
