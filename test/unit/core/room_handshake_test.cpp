// Room construction and the connect handshake: RC1-RC7, HS1-HS6, SES4.

#include "support/room_harness.hpp"

using namespace tlsync;
using namespace tlsync::test;

BOOST_AUTO_TEST_SUITE(room_handshake)

BOOST_AUTO_TEST_CASE(HS4_fresh_client_gets_wipe_all_with_every_document) {
    room_harness h;
    h.connect("a");
    const auto* c = h.last_event("a", "connect");
    BOOST_REQUIRE(c);
    const auto& o = c->as_object();
    BOOST_TEST(o.at("hydrationType") == "wipe_all");
    BOOST_TEST(o.at("connectRequestId") == "req-a");
    BOOST_TEST(o.at("protocolVersion") == 8);
    BOOST_TEST(o.at("isReadonly") == false);
    BOOST_TEST(o.at("serverClock") == 0);
    BOOST_TEST(deep_equal(o.at("schema"), json::value(h.schema().serialize())));
    const auto& diff = o.at("diff").as_object();
    BOOST_TEST(diff.size() == 2u);
    BOOST_TEST(diff.at("page:page").as_array().at(0) == "put");
    BOOST_TEST(diff.at("document:document").as_array().at(0) == "put");
    BOOST_TEST((h.room().sessions().at(0).state == core::session_state::connected));
}

BOOST_AUTO_TEST_CASE(HS4_HS5_reconnect_with_clock_gets_wipe_presence_and_changes_since) {
    room_harness h;
    auto a = h.connect("a");
    h.push(a, 1, R"({"shape:1":["put",{"id":"shape:1","typeName":"shape","props":{"x":1}}]})");
    h.push(a, 2, R"({"shape:2":["put",{"id":"shape:2","typeName":"shape","props":{"x":2}}]})");
    BOOST_TEST(h.room().document_clock() == 2);
    h.connect("b", 1);
    const auto& o = h.last_event("b", "connect")->as_object();
    BOOST_TEST(o.at("hydrationType") == "wipe_presence");
    BOOST_TEST(o.at("serverClock") == 2);
    const auto& diff = o.at("diff").as_object();
    BOOST_TEST(diff.size() == 1u);
    BOOST_TEST(diff.contains("shape:2"));
}

BOOST_AUTO_TEST_CASE(HS4_clock_in_the_future_gets_wipe_all) {
    room_harness h;
    h.connect("a", 99);
    BOOST_TEST(h.last_event("a", "connect")->as_object().at("hydrationType") == "wipe_all");
}

BOOST_AUTO_TEST_CASE(HS4_current_clock_gets_empty_wipe_presence) {
    room_harness h;
    h.connect("a", 0);
    const auto& o = h.last_event("a", "connect")->as_object();
    BOOST_TEST(o.at("hydrationType") == "wipe_presence");
    BOOST_TEST(o.at("diff").as_object().empty());
}

BOOST_AUTO_TEST_CASE(HS5_connect_diff_has_other_presences_but_not_own) {
    room_harness h;
    auto a = h.connect("a");
    h.push(a, 1, {}, R"(["put",{"id":"x","typeName":"x","cursor":{"x":1,"y":2}}])");
    auto b = h.connect("b");
    h.push(b, 1, {}, R"(["put",{"cursor":{"x":5,"y":5}}])");
    // a reconnects under the same session id: it sees b's presence, not its own
    h.connect("a", h.room().document_clock());
    const auto& diff = h.last_event("a", "connect")->as_object().at("diff").as_object();
    const auto presences = h.room().presence_records();
    BOOST_TEST(presences.size() == 2u);
    std::string a_pid = *h.room().sessions().at(0).presence_id;
    for (const auto& s : h.room().sessions())
        if (s.session_id == "a") a_pid = *s.presence_id;
    BOOST_TEST(diff.size() == 1u);
    BOOST_TEST(!diff.contains(a_pid));
    (void)b;
}

BOOST_AUTO_TEST_CASE(HS1_reconnect_keeps_presence_id) {
    room_harness h;
    h.connect("a");
    const auto first = h.room().sessions().at(0).presence_id;
    BOOST_REQUIRE(first);
    BOOST_TEST(first->starts_with("instance_presence:"));
    h.connect("a");
    BOOST_TEST(h.room().sessions().size() == 1u);
    BOOST_TEST(*h.room().sessions().at(0).presence_id == *first);
}

BOOST_AUTO_TEST_CASE(HS2_protocol_below_5_is_client_too_old) {
    room_harness h;
    auto a = h.connect("a", -1, false, {}, 4);
    BOOST_REQUIRE(h.closed(a).has_value());
    BOOST_TEST(*h.closed(a)->code == 4099);
    BOOST_TEST(h.closed(a)->reason == "CLIENT_TOO_OLD");
    BOOST_TEST(h.room().session_count() == 0u);
}

BOOST_AUTO_TEST_CASE(HS2_protocol_above_8_is_server_too_old) {
    room_harness h;
    auto a = h.connect("a", -1, false, {}, 9);
    BOOST_REQUIRE(h.closed(a).has_value());
    BOOST_TEST(h.closed(a)->reason == "SERVER_TOO_OLD");
}

BOOST_AUTO_TEST_CASE(HS2_missing_protocol_version_is_client_too_old) {
    room_harness h;
    auto a = h.open("a");
    h.send_text(a, R"({"type":"connect","connectRequestId":"r","lastServerClock":-1,"schema":{}})");
    BOOST_REQUIRE(h.closed(a).has_value());
    BOOST_TEST(h.closed(a)->reason == "CLIENT_TOO_OLD");
}

BOOST_AUTO_TEST_CASE(HS2_protocol_7_connects_without_string_append) {
    room_harness h;
    auto old = h.connect("old", -1, false, {}, 7);
    BOOST_TEST(!h.closed(old));
    BOOST_TEST(!h.room().can_emit_string_append());
}

BOOST_AUTO_TEST_CASE(SES4_legacy_protocol_6_rejection_is_incompatibility_error) {
    room_harness h;
    auto schema = h.schema().serialize();
    schema["sequences"].as_object()["com.test.unknown"] = 3;
    schema["sequences"].as_object()["com.test.shape"] = 99;
    auto a = h.connect("a", -1, false, schema, 6);
    const auto* e = h.last_event("a", "incompatibility_error");
    // the session was never connected, so the legacy message went out directly
    BOOST_REQUIRE(!h.frames("a").empty());
    BOOST_TEST(h.frames("a").back().as_object().at("type") == "incompatibility_error");
    BOOST_TEST(h.frames("a").back().as_object().at("reason") == "serverTooOld");
    (void)e;
    BOOST_REQUIRE(h.closed(a).has_value());
    BOOST_TEST(!h.closed(a)->code); // removed without a close code
}

BOOST_AUTO_TEST_CASE(SES4_legacy_reason_mapping) {
    BOOST_TEST(proto::to_string(proto::legacy_reason_for("CLIENT_TOO_OLD")) == "clientTooOld");
    BOOST_TEST(proto::to_string(proto::legacy_reason_for("SERVER_TOO_OLD")) == "serverTooOld");
    BOOST_TEST(proto::to_string(proto::legacy_reason_for("INVALID_RECORD")) == "invalidRecord");
    BOOST_TEST(proto::to_string(proto::legacy_reason_for("RATE_LIMITED")) == "invalidOperation");
}

BOOST_AUTO_TEST_CASE(HS3_missing_schema_is_client_too_old) {
    room_harness h;
    auto a = h.open("a");
    h.send_text(a, R"({"type":"connect","connectRequestId":"r","lastServerClock":-1,"protocolVersion":8})");
    BOOST_REQUIRE(h.closed(a).has_value());
    BOOST_TEST(h.closed(a)->reason == "CLIENT_TOO_OLD");
}

BOOST_AUTO_TEST_CASE(HS3_newer_client_schema_is_server_too_old) {
    room_harness h;
    auto schema = h.schema().serialize();
    schema["sequences"].as_object()["com.test.shape"] = 3;
    auto a = h.connect("a", -1, false, schema);
    BOOST_REQUIRE(h.closed(a).has_value());
    BOOST_TEST(h.closed(a)->reason == "SERVER_TOO_OLD");
}

BOOST_AUTO_TEST_CASE(HS3_older_client_without_down_migration_is_client_too_old) {
    room_harness h(make_test_schema(false));
    auto schema = h.schema().serialize();
    schema["sequences"].as_object()["com.test.shape"] = 1;
    auto a = h.connect("a", -1, false, schema);
    BOOST_REQUIRE(h.closed(a).has_value());
    BOOST_TEST(h.closed(a)->reason == "CLIENT_TOO_OLD");
}

BOOST_AUTO_TEST_CASE(HS3_unknown_extra_sequence_is_accepted) {
    room_harness h;
    auto schema = h.schema().serialize();
    schema["sequences"].as_object()["com.example.custom"] = 1;
    auto a = h.connect("a", -1, false, schema);
    BOOST_TEST(!h.closed(a));
    BOOST_TEST(h.last_event("a", "connect"));
}

BOOST_AUTO_TEST_CASE(HS6_handshake_moves_session_to_connected) {
    room_harness h;
    h.open("a");
    BOOST_TEST((h.room().sessions().at(0).state == core::session_state::awaiting_connect));
    h.connect("a");
    BOOST_TEST((h.room().sessions().at(0).state == core::session_state::connected));
}

BOOST_AUTO_TEST_CASE(RC2_two_presence_types_throw) {
    using namespace core;
    std::vector<record_type> types{{"p1", record_scope::presence, {}},
                                   {"p2", record_scope::presence, {}}};
    BOOST_CHECK_THROW(schema(std::move(types), {}), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(RC3_construction_migrates_stored_records_up) {
    auto s = make_test_schema();
    core::room_snapshot snap;
    auto old_schema = s->serialize();
    old_schema["sequences"].as_object()["com.test.shape"] = 1;
    snap.schema = old_schema;
    snap.document_clock = 3;
    snap.documents.push_back(
        {jobj(R"({"id":"shape:1","typeName":"shape","props":{"x":1}})"), 3});
    room_harness h(s, {}, snap);
    const auto rec = h.room().get_record("shape:1");
    BOOST_REQUIRE(rec.has_value());
    BOOST_TEST(rec->at("props").as_object().at("color") == "black");
    BOOST_TEST(deep_equal(json::value(*h.room().get_snapshot().schema), json::value(s->serialize())));
    const auto clock = h.room().document_clock();
    // RC3: running it again changes nothing
    core::room again(s, std::make_unique<core::memory_storage>(h.room().get_snapshot()), {}, h.now());
    BOOST_TEST(again.document_clock() == clock);
}

BOOST_AUTO_TEST_CASE(RC7_close_closes_every_socket_without_events) {
    room_harness h;
    auto a = h.connect("a");
    auto b = h.connect("b");
    h.room().close(1012, "restart");
    h.advance(60s);
    BOOST_TEST(h.room().is_closed());
    BOOST_TEST(*h.closed(a)->code == 1012);
    BOOST_TEST(h.closed(b)->reason == "restart");
    BOOST_TEST(h.removed.empty());
    BOOST_TEST(h.became_empty == 0);
    BOOST_TEST(!h.room().next_deadline());
}

BOOST_AUTO_TEST_SUITE_END()
