// Wire-level rules of the upstream SPEC that the codec suites covered only
// indirectly (docs/CONFORMANCE.md, "Gaps"): PV1, PV2, HS2 constants, SES4.

#include "proto/codec.hpp"
#include "proto/messages.hpp"

#include <boost/json/parse.hpp>
#include <boost/test/unit_test.hpp>

using namespace tlsync;
using namespace tlsync::proto;

BOOST_AUTO_TEST_SUITE(proto_conformance)

BOOST_AUTO_TEST_CASE(PV1_protocol_version_is_8_and_the_server_advertises_it) {
    BOOST_TEST(protocol_version == 8);
    connect_event e;
    const auto text = encode(e);
    BOOST_TEST(json::parse(text).as_object().at("protocolVersion") == 8);
    // HS2's negotiation bounds, as constants the room relies on
    BOOST_TEST(min_protocol_version == 5);
    BOOST_TEST(legacy_rejection_max_version == 6);
    BOOST_TEST(string_append_min_version == 8);
}

BOOST_AUTO_TEST_CASE(PV2_close_code_is_4099_with_the_upstream_reason_strings) {
    BOOST_TEST(sync_error_close_code == 4099);
    BOOST_TEST(close_reason::not_found == "NOT_FOUND");
    BOOST_TEST(close_reason::forbidden == "FORBIDDEN");
    BOOST_TEST(close_reason::not_authenticated == "NOT_AUTHENTICATED");
    BOOST_TEST(close_reason::unknown_error == "UNKNOWN_ERROR");
    BOOST_TEST(close_reason::client_too_old == "CLIENT_TOO_OLD");
    BOOST_TEST(close_reason::server_too_old == "SERVER_TOO_OLD");
    BOOST_TEST(close_reason::invalid_record == "INVALID_RECORD");
    BOOST_TEST(close_reason::rate_limited == "RATE_LIMITED");
    BOOST_TEST(close_reason::room_full == "ROOM_FULL");
}

BOOST_AUTO_TEST_CASE(SES4_every_other_reason_maps_to_invalid_operation) {
    for (auto r : {close_reason::not_found, close_reason::forbidden, close_reason::not_authenticated,
                   close_reason::unknown_error, close_reason::room_full, std::string_view("")})
        BOOST_TEST(to_string(legacy_reason_for(r)) == "invalidOperation");
    const auto text = encode(incompatibility_error_event{legacy_reason_for(close_reason::forbidden)});
    BOOST_TEST(text == R"({"type":"incompatibility_error","reason":"invalidOperation"})");
}

BOOST_AUTO_TEST_SUITE_END()
