// Decoding untrusted client messages: what a real tldraw client sends is
// accepted, and every malformed shape becomes a typed error naming its field.

#include "proto/codec.hpp"

#include <boost/json/parse.hpp>
#include <boost/test/unit_test.hpp>

#include <string>

using namespace tlsync;
using namespace tlsync::proto;

namespace {

// Boost.Test evaluates a check's message even when the check passes.
template <class T>
std::string why(const decode_result<T>& r) {
    return r.has_value() ? std::string() : r.error().detail;
}

constexpr std::string_view tldraw_connect = R"({"type":"connect","connectRequestId":"Xk3_9aQ1pL",
 "schema":{"schemaVersion":2,"sequences":{"com.tldraw.store":4,"com.tldraw.asset":1,
 "com.tldraw.camera":1,"com.tldraw.document":2,"com.tldraw.instance":25,"com.tldraw.page":1,
 "com.tldraw.shape":4,"com.tldraw.shape.geo":9,"com.tldraw.instance_presence":6}},
 "protocolVersion":8,"lastServerClock":-1})";

constexpr std::string_view tldraw_push = R"({"type":"push","clientClock":17,"diff":{
 "shape:1uTm0gPDLTnkgqcGdyLVv":["put",{"x":312.5,"y":120,"rotation":0,"isLocked":false,
   "opacity":1,"meta":{},"id":"shape:1uTm0gPDLTnkgqcGdyLVv","type":"geo","props":{"w":200,
   "h":120,"geo":"rectangle","color":"black","fill":"none","dash":"draw","size":"m",
   "richText":{"type":"doc","content":[{"type":"paragraph","content":[{"type":"text",
   "text":"héllo 🎨"}]}]}},"parentId":"page:page","index":"a1","typeName":"shape"}],
 "shape:abc":["patch",{"x":["put",140],"props":["patch",{"text":["append","lo",3],
   "points":["append",[{"x":1,"y":2}],4],"spline":["delete"]}]}],
 "shape:gone":["remove"]},
 "presence":["patch",{"cursor":["put",{"x":10.5,"y":-3,"type":"default","rotation":0}],
   "lastActivityTimestamp":["put",1718000000000]}]})";

decode_error decode_fail(std::string_view text) {
    auto r = decode_client_message(text);
    BOOST_TEST_REQUIRE(!r.has_value(), "expected a decode error for " << text);
    return r.error();
}

void check_fails(std::string_view text, decode_errc code, std::string_view detail_part,
                 std::string_view reason = close_reason::unknown_error) {
    const auto e = decode_fail(text);
    BOOST_TEST(to_string(e.code) == to_string(code), text);
    BOOST_TEST(e.detail.find(detail_part) != std::string::npos,
               "detail '" << e.detail << "' should contain '" << detail_part << "'");
    BOOST_TEST(e.close_reason() == reason);
}

} // namespace

BOOST_AUTO_TEST_SUITE(proto_codec)

BOOST_AUTO_TEST_CASE(HS2_HS3_decodes_tldraw_connect_request) {
    auto r = decode_client_message(tldraw_connect);
    BOOST_TEST_REQUIRE(r.has_value(), why(r));
    const auto& m = std::get<connect_request>(r.value());
    BOOST_TEST(m.connect_request_id == "Xk3_9aQ1pL");
    BOOST_TEST(m.last_server_clock == -1);
    BOOST_TEST(m.protocol_version.value() == 8);
    BOOST_TEST_REQUIRE(m.schema.has_value());
    BOOST_TEST(m.schema->at("schemaVersion").as_int64() == 2);
}

BOOST_AUTO_TEST_CASE(HS2_HS3_protocol_version_and_schema_are_optional_at_decode) {
    // The room answers these with CLIENT_TOO_OLD; decoding must let them through.
    for (auto text : {R"({"type":"connect","connectRequestId":"a","lastServerClock":0})",
                      R"({"type":"connect","connectRequestId":"a","lastServerClock":0,
                          "protocolVersion":null,"schema":null})"}) {
        auto r = decode_client_message(text);
        BOOST_TEST_REQUIRE(r.has_value(), why(r));
        const auto& m = std::get<connect_request>(r.value());
        BOOST_TEST(!m.protocol_version.has_value());
        BOOST_TEST(!m.schema.has_value());
    }
    // Old protocol versions decode fine too: rejecting them is the room's call.
    auto r = decode_client_message(
        R"({"type":"connect","connectRequestId":"a","lastServerClock":3,"protocolVersion":5.0})");
    BOOST_TEST_REQUIRE(r.has_value());
    BOOST_TEST(std::get<connect_request>(r.value()).protocol_version.value() == 5);
}

BOOST_AUTO_TEST_CASE(ND1_D5_D7_decodes_tldraw_push_request) {
    auto r = decode_client_message(tldraw_push);
    BOOST_TEST_REQUIRE(r.has_value(), why(r));
    const auto& m = std::get<push_request>(r.value());
    BOOST_TEST(m.client_clock == 17);
    BOOST_TEST_REQUIRE(m.diff.has_value());
    BOOST_TEST(m.diff->size() == 3u);
    const auto* put = m.diff->find("shape:1uTm0gPDLTnkgqcGdyLVv");
    BOOST_TEST_REQUIRE(put);
    BOOST_TEST((put->type == record_op_type::put));
    BOOST_TEST(put->value.at("typeName").as_string() == "shape");
    const auto* patch = m.diff->find("shape:abc");
    BOOST_TEST_REQUIRE(patch);
    BOOST_TEST((patch->type == record_op_type::patch));
    const auto& props = patch->value.at("props").as_array()[1].as_object();
    BOOST_TEST(props.at("text").as_array()[2].as_int64() == 3);
    BOOST_TEST((m.diff->find("shape:gone")->type == record_op_type::remove));
    BOOST_TEST_REQUIRE(m.presence.has_value());
    BOOST_TEST((m.presence->type == record_op_type::patch));
}

BOOST_AUTO_TEST_CASE(decodes_ping_and_presence_put_and_ignores_unknown_fields) {
    auto ping = decode_client_message(R"({"type":"ping","future":{"x":1}})");
    BOOST_TEST_REQUIRE(ping.has_value());
    BOOST_TEST(std::holds_alternative<ping_request>(ping.value()));

    auto push = decode_client_message(
        R"({"type":"push","clientClock":0,"extra":true,"diff":null,
            "presence":["put",{"id":"instance_presence:x","typeName":"instance_presence"}]})");
    BOOST_TEST_REQUIRE(push.has_value(), why(push));
    const auto& m = std::get<push_request>(push.value());
    BOOST_TEST(!m.diff.has_value());
    BOOST_TEST((m.presence->type == record_op_type::put));
}

BOOST_AUTO_TEST_CASE(D5_append_offset_is_normalised_to_int64) {
    auto r = decode_client_message(
        R"({"type":"push","clientClock":1,"diff":{"s":["patch",{"t":["append","x",3.0]}]}})");
    BOOST_TEST_REQUIRE(r.has_value(), why(r));
    const auto& op = *std::get<push_request>(r.value()).diff->find("s");
    BOOST_TEST(op.value.at("t").as_array()[2].is_int64());
}

BOOST_AUTO_TEST_CASE(proto_keys_are_plain_data) {
    auto r = decode_client_message(
        R"({"type":"push","clientClock":1,"diff":{"__proto__":["put",{"constructor":1,
            "__proto__":{"polluted":true}}]}})");
    BOOST_TEST_REQUIRE(r.has_value(), why(r));
    const auto* op = std::get<push_request>(r.value()).diff->find("__proto__");
    BOOST_TEST_REQUIRE(op);
    BOOST_TEST(op->value.at("__proto__").at("polluted").as_bool());
}

BOOST_AUTO_TEST_CASE(decodes_from_a_parsed_value_by_copy_and_by_move) {
    const json::value v = json::parse(tldraw_push);
    auto a = decode_client_message(v);
    BOOST_TEST_REQUIRE(a.has_value());
    BOOST_TEST(v.at("diff").at("shape:abc").is_array()); // the copy left v alone
    json::value moved = v;
    auto b = decode_client_message(std::move(moved));
    BOOST_TEST_REQUIRE(b.has_value());
    BOOST_TEST(*std::get<push_request>(a.value()).diff == *std::get<push_request>(b.value()).diff);
}

BOOST_AUTO_TEST_CASE(rejects_non_json_and_non_objects) {
    check_fails("", decode_errc::invalid_json, "invalid JSON");
    check_fails("{\"type\":\"ping\"", decode_errc::invalid_json, "byte");
    check_fails("{\"type\":\"ping\"} trailing", decode_errc::invalid_json, "invalid JSON");
    check_fails("[1,2]", decode_errc::not_an_object, "got an array");
    check_fails("\"ping\"", decode_errc::not_an_object, "got a string");
    check_fails("{\"type\":\"ping\",}", decode_errc::invalid_json, "invalid JSON");
    check_fails("{\"type\":\"ping\"/*c*/}", decode_errc::invalid_json, "invalid JSON");
    check_fails("{\"type\":\"p\xff\"}", decode_errc::invalid_json, "invalid JSON");
}

BOOST_AUTO_TEST_CASE(rejects_missing_or_unknown_type) {
    check_fails(R"({"clientClock":1})", decode_errc::missing_field, "message.type");
    check_fails(R"({"type":7})", decode_errc::wrong_type, "message.type: expected a string");
    check_fails(R"({"type":"pong"})", decode_errc::unknown_type, R"("pong")");
    check_fails(R"({"type":"Connect"})", decode_errc::unknown_type, "unknown client message");
}

BOOST_AUTO_TEST_CASE(rejects_bad_connect_fields) {
    check_fails(R"({"type":"connect","lastServerClock":0})", decode_errc::missing_field,
                "connect.connectRequestId");
    check_fails(R"({"type":"connect","connectRequestId":5,"lastServerClock":0})",
                decode_errc::wrong_type, "connect.connectRequestId: expected a string, got a number");
    check_fails(R"({"type":"connect","connectRequestId":"a"})", decode_errc::missing_field,
                "connect.lastServerClock");
    check_fails(R"({"type":"connect","connectRequestId":"a","lastServerClock":"0"})",
                decode_errc::wrong_type, "connect.lastServerClock");
    check_fails(R"({"type":"connect","connectRequestId":"a","lastServerClock":1.5})",
                decode_errc::invalid_number, "connect.lastServerClock");
    check_fails(R"({"type":"connect","connectRequestId":"a","lastServerClock":1e300})",
                decode_errc::invalid_number, "int64");
    check_fails(R"({"type":"connect","connectRequestId":"a","lastServerClock":18446744073709551615})",
                decode_errc::invalid_number, "connect.lastServerClock");
    check_fails(R"({"type":"connect","connectRequestId":"a","lastServerClock":0,"protocolVersion":"8"})",
                decode_errc::wrong_type, "connect.protocolVersion");
    check_fails(R"({"type":"connect","connectRequestId":"a","lastServerClock":0,"schema":[]})",
                decode_errc::wrong_type, "connect.schema");
}

BOOST_AUTO_TEST_CASE(rejects_bad_push_fields) {
    check_fails(R"({"type":"push"})", decode_errc::missing_field, "push.clientClock");
    check_fails(R"({"type":"push","clientClock":0.5})", decode_errc::invalid_number,
                "push.clientClock");
    check_fails(R"({"type":"push","clientClock":1,"diff":[]})", decode_errc::wrong_type,
                "push.diff: expected an object");
}

BOOST_AUTO_TEST_CASE(PV2_bad_record_data_closes_with_invalid_record) {
    const auto ir = close_reason::invalid_record;
    const std::string head = R"({"type":"push","clientClock":1,"diff":{"shape:a":)";
    check_fails(head + R"(["put","x"]}})", decode_errc::invalid_record,
                R"(push.diff["shape:a"][1]: record must be an object)", ir);
    check_fails(head + R"(["put",null]}})", decode_errc::invalid_record, "record must be", ir);
    check_fails(head + R"("put"}})", decode_errc::invalid_op, "record op must be an array", ir);
    check_fails(head + R"([]}})", decode_errc::invalid_op, "must start with its type", ir);
    check_fails(head + R"(["upsert",{}]}})", decode_errc::invalid_op, "unknown record op", ir);
    check_fails(head + R"(["put",{},1]}})", decode_errc::invalid_op, "got 3 elements", ir);
    check_fails(head + R"(["remove",{}]}})", decode_errc::invalid_op, R"(["remove"])", ir);
    check_fails(head + R"(["patch",[]]}})", decode_errc::invalid_op, "object diff", ir);
}

BOOST_AUTO_TEST_CASE(D5_D7_bad_value_ops_are_rejected_recursively) {
    const auto ir = close_reason::invalid_record;
    const std::string head = R"({"type":"push","clientClock":1,"diff":{"shape:a":["patch",)";
    check_fails(head + R"({"x":"put"}]}})", decode_errc::invalid_op,
                R"(push.diff["shape:a"][1].x: value op must be an array)", ir);
    check_fails(head + R"({"x":["set",1]}]}})", decode_errc::invalid_op, "unknown value op", ir);
    check_fails(head + R"({"x":["put"]}]}})", decode_errc::invalid_op, "got 1 elements", ir);
    check_fails(head + R"({"x":["delete",1]}]}})", decode_errc::invalid_op, "delete", ir);
    check_fails(head + R"({"props":["patch",{"t":["append",1,0]}]}]}})", decode_errc::invalid_op,
                R"(push.diff["shape:a"][1].props[1].t[1]: append value)", ir);
    check_fails(head + R"({"t":["append","x",-1]}]}})", decode_errc::invalid_op, "t[2]", ir);
    check_fails(head + R"({"t":["append","x",1.5]}]}})", decode_errc::invalid_op, "offset", ir);
    check_fails(head + R"({"t":["append","x","1"]}]}})", decode_errc::invalid_op, "offset", ir);
    check_fails(head + R"({"t":["append","x"]}]}})", decode_errc::invalid_op, "got 2", ir);
    check_fails(head + R"({"p":["patch",{"q":["patch",{"r":["nope"]}]}]}]}})",
                decode_errc::invalid_op, ".p[1].q[1].r", ir);
}

BOOST_AUTO_TEST_CASE(presence_ops_other_than_put_or_patch_are_rejected) {
    const std::string head = R"({"type":"push","clientClock":1,"presence":)";
    check_fails(head + R"(["remove"]})", decode_errc::invalid_op, "push.presence: presence op",
                close_reason::invalid_record);
    check_fails(head + R"(["put",1]})", decode_errc::invalid_record, "push.presence[1]",
                close_reason::invalid_record);
    check_fails(head + R"({"cursor":1}})", decode_errc::invalid_op, "push.presence",
                close_reason::invalid_record);
}

BOOST_AUTO_TEST_CASE(long_ids_are_truncated_in_details) {
    const std::string id(10000, 'k');
    const auto e = decode_fail(R"({"type":"push","clientClock":1,"diff":{")" + id +
                               R"(":["put",1]}})");
    BOOST_TEST(e.detail.size() < 300u);
}

BOOST_AUTO_TEST_CASE(deep_nesting_is_rejected_without_recursion) {
    const std::string brackets(100000, '[');
    check_fails(brackets, decode_errc::too_deep, "invalid JSON");
    const std::string braces = [] {
        std::string s;
        for (int i = 0; i < 100000; ++i) s += R"({"a":)";
        return s;
    }();
    check_fails(braces, decode_errc::too_deep, "invalid JSON");
    // A deep but in-limit record still decodes.
    std::string ok = R"({"type":"push","clientClock":1,"diff":{"a":["put",{"x":)";
    ok += std::string(100, '[') + std::string(100, ']') + "}]}}";
    BOOST_TEST(decode_client_message(ok).has_value());
}

BOOST_AUTO_TEST_CASE(deep_object_diff_in_a_value_is_rejected_by_depth) {
    // Built directly (not parsed), so only the validator's own depth guard applies.
    json::value diff = json::object{{"x", json::array{"put", 1}}};
    for (int i = 0; i < 1000; ++i) diff = json::object{{"p", json::array{"patch", diff}}};
    json::value msg = json::object{
        {"type", "push"}, {"clientClock", 1}, {"diff", json::object{{"r", json::array{"patch", diff}}}}};
    auto r = decode_client_message(msg);
    BOOST_TEST_REQUIRE(!r.has_value());
    BOOST_TEST(to_string(r.error().code) == to_string(decode_errc::too_deep));
}

BOOST_AUTO_TEST_CASE(huge_input_is_rejected_by_size_before_parsing) {
    decode_limits limits;
    limits.max_message_bytes = 1024;
    const std::string big = R"({"type":"ping","pad":")" + std::string(2000, 'x') + "\"}";
    auto r = decode_client_message(big, limits);
    BOOST_TEST_REQUIRE(!r.has_value());
    BOOST_TEST(to_string(r.error().code) == to_string(decode_errc::message_too_large));
    BOOST_TEST(r.error().close_reason() == close_reason::unknown_error);
}

BOOST_AUTO_TEST_CASE(too_many_records_are_rejected) {
    decode_limits limits;
    limits.max_records_per_diff = 2;
    const std::string text =
        R"({"type":"push","clientClock":1,"diff":{"a":["remove"],"b":["remove"],"c":["remove"]}})";
    auto r = decode_client_message(text, limits);
    BOOST_TEST_REQUIRE(!r.has_value());
    BOOST_TEST(to_string(r.error().code) == to_string(decode_errc::too_many_records));
    BOOST_TEST(decode_client_message(text).has_value());
}

BOOST_AUTO_TEST_CASE(large_diffs_decode_in_linear_time) {
    std::string text = R"({"type":"push","clientClock":1,"diff":{)";
    for (int i = 0; i < 50000; ++i) {
        if (i) text += ',';
        text += "\"shape:" + std::to_string(i) + R"(":["put",{"id":"x"}])";
    }
    text += "}}";
    auto r = decode_client_message(text);
    BOOST_TEST_REQUIRE(r.has_value());
    BOOST_TEST(std::get<push_request>(r.value()).diff->size() == 50000u);
}

BOOST_AUTO_TEST_CASE(lone_surrogate_escapes_decode_as_replacement_characters) {
    // JSON.stringify escapes lone surrogates and JavaScript parses them back;
    // we accept them too (as U+FFFD) instead of locking the client out.
    auto r = parse_json(R"(["\ud83d","x\uDE00y","\ud83d\ude00","\\ud83d","\ud83d\u0041","\udbff"])");
    BOOST_TEST_REQUIRE(r.has_value(), why(r));
    const auto& a = r->as_array();
    BOOST_TEST(a[0].as_string() == "\uFFFD");
    BOOST_TEST(a[1].as_string() == "x\uFFFDy");
    BOOST_TEST(a[2].as_string() == "😀");
    BOOST_TEST(a[3].as_string() == "\\ud83d"); // an escaped backslash, not an escape
    BOOST_TEST(a[4].as_string() == "\uFFFDA");
    BOOST_TEST(a[5].as_string() == "\uFFFD");
    BOOST_TEST(!parse_json(R"(["\ud83d)").has_value());
}

BOOST_AUTO_TEST_CASE(mutated_messages_never_crash) {
    // Byte flips, truncations and splices of a real push: every outcome must
    // be a message or a typed error (ASan/UBSan runs watch the rest).
    const std::string base(tldraw_push);
    std::uint64_t state = 0x9e3779b97f4a7c15ull;
    const auto next = [&] {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        return state;
    };
    static constexpr char alphabet[] = "{}[]\",:\\u0123456789-+.eEtrufalsn \x80\xff";
    int decoded = 0;
    for (int i = 0; i < 5000; ++i) {
        std::string text = base;
        for (int k = 1 + static_cast<int>(next() % 4); k > 0; --k) {
            const auto pos = next() % text.size();
            switch (next() % 3) {
            case 0: text[pos] = alphabet[next() % (sizeof alphabet - 1)]; break;
            case 1: text.erase(pos, 1 + next() % 8); break;
            default: text.insert(pos, base.substr(next() % base.size(), next() % 40)); break;
            }
            if (text.empty()) text = "{";
        }
        auto r = decode_client_message(text);
        if (r.has_value()) {
            ++decoded;
            BOOST_TEST_REQUIRE(decode_client_message(encode(r.value())).has_value());
        } else {
            BOOST_TEST_REQUIRE(!r.error().detail.empty());
            BOOST_TEST_REQUIRE(!r.error().close_reason().empty());
        }
    }
    BOOST_TEST_MESSAGE(decoded << " of 5000 mutants still decoded");
}

BOOST_AUTO_TEST_SUITE_END()
