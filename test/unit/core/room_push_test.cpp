// Push handling and broadcast: RP1-RP12, RB1-RB5, SES5, MG1-MG3.

#include "support/room_harness.hpp"

using namespace tlsync;
using namespace tlsync::test;

namespace {

constexpr std::string_view put_shape1 =
    R"({"shape:1":["put",{"id":"shape:1","typeName":"shape","props":{"x":1,"text":"hi"}}]})";

// The newest push_result, after letting any debounced data through.
const json::object& result_of(room_harness& h, const std::string& sid) {
    h.advance(20ms);
    const auto* r = h.last_event(sid, "push_result");
    BOOST_REQUIRE_MESSAGE(r, "no push_result for " << sid);
    return r->as_object();
}

} // namespace

BOOST_AUTO_TEST_SUITE(room_push)

BOOST_AUTO_TEST_CASE(RP3_RP7_RP8_new_record_commits_and_is_broadcast_to_others) {
    room_harness h;
    auto a = h.connect("a");
    h.connect("b");
    h.take_events("a");
    h.take_events("b");
    h.push(a, 1, put_shape1);
    const auto& r = result_of(h, "a");
    BOOST_TEST(r.at("action") == "commit");
    BOOST_TEST(r.at("clientClock") == 1);
    BOOST_TEST(r.at("serverClock") == 1);
    const auto* p = h.last_event("b", "patch");
    BOOST_REQUIRE(p);
    BOOST_TEST(p->as_object().at("serverClock") == 1);
    BOOST_TEST(p->as_object().at("diff").as_object().at("shape:1").as_array().at(0) == "put");
    BOOST_TEST(!h.last_event("a", "patch")); // RP8: never echoed
}

BOOST_AUTO_TEST_CASE(RP3_put_over_existing_broadcasts_only_the_difference) {
    room_harness h;
    auto a = h.connect("a");
    h.connect("b");
    h.push(a, 1, put_shape1);
    h.advance(1s);
    h.take_events("b");
    h.push(a, 2, R"({"shape:1":["put",{"id":"shape:1","typeName":"shape","props":{"x":2,"text":"hi"}}]})");
    const auto& r = result_of(h, "a");
    BOOST_TEST(r.at("action").is_object()); // rebase: the effective op is a patch, not a put
    const auto& diff = h.last_event("b", "patch")->as_object().at("diff").as_object();
    const auto want = json::parse(R"(["patch",{"props":["patch",{"x":["put",2]}]}])");
    BOOST_TEST(deep_equal(diff.at("shape:1"), want));
}

BOOST_AUTO_TEST_CASE(RP3_RP7_identical_put_changes_nothing_and_discards) {
    room_harness h;
    auto a = h.connect("a");
    h.push(a, 1, put_shape1);
    h.push(a, 2, put_shape1);
    BOOST_TEST(result_of(h, "a").at("action") == "discard");
    BOOST_TEST(h.room().document_clock() == 1);
}

BOOST_AUTO_TEST_CASE(RP4_patch_of_missing_record_is_ignored) {
    room_harness h;
    auto a = h.connect("a");
    h.push(a, 1, R"({"shape:nope":["patch",{"props":["patch",{"x":["put",5]}]}]})");
    BOOST_TEST(result_of(h, "a").at("action") == "discard");
    BOOST_TEST(h.room().session_count() == 1u);
}

BOOST_AUTO_TEST_CASE(RP5_patch_broadcasts_the_effective_diff) {
    room_harness h;
    auto a = h.connect("a");
    h.connect("b");
    h.push(a, 1, put_shape1);
    h.advance(1s);
    h.take_events("b");
    // x:1 -> 1 is a no-op and is dropped; text gets appended
    h.push(a, 2, R"({"shape:1":["patch",{"props":["patch",{"x":["put",1],"text":["put","hi there"]}]}]})");
    const auto& r = result_of(h, "a");
    BOOST_REQUIRE(r.at("action").is_object());
    const auto want = json::parse(R"({"shape:1":["patch",{"props":["patch",{"text":["append"," there",2]}]}]})");
    BOOST_TEST(deep_equal(r.at("action").as_object().at("rebaseWithDiff"), want));
    BOOST_TEST(deep_equal(h.last_event("b", "patch")->as_object().at("diff"), want));
}

BOOST_AUTO_TEST_CASE(RP7_exact_patch_commits) {
    room_harness h;
    auto a = h.connect("a");
    h.push(a, 1, put_shape1);
    h.push(a, 2, R"({"shape:1":["patch",{"props":["patch",{"x":["put",7]}]}]})");
    BOOST_TEST(result_of(h, "a").at("action") == "commit");
    BOOST_TEST(h.room().get_record("shape:1")->at("props").as_object().at("x") == 7);
}

BOOST_AUTO_TEST_CASE(RP6_remove_tombstones_and_broadcasts_remove_of_missing_ignored) {
    room_harness h;
    auto a = h.connect("a");
    h.connect("b");
    h.push(a, 1, put_shape1);
    h.advance(1s);
    h.take_events("b");
    h.push(a, 2, R"({"shape:1":["remove"]})");
    BOOST_TEST(result_of(h, "a").at("action") == "commit");
    BOOST_TEST(deep_equal(h.last_event("b", "patch")->as_object().at("diff"),
                          json::parse(R"({"shape:1":["remove"]})")));
    const auto snap = h.room().get_snapshot();
    BOOST_TEST(snap.tombstones.at("shape:1") == 2);
    h.push(a, 3, R"({"shape:1":["remove"]})");
    BOOST_TEST(result_of(h, "a").at("action") == "discard");
}

BOOST_AUTO_TEST_CASE(a_push_past_max_documents_is_refused_room_full) {
    core::room_config cfg;
    cfg.max_documents = 3; // the initial document and page, and one more
    room_harness h(make_test_schema(), cfg);
    auto a = h.connect("a");
    auto b = h.connect("b");
    h.push(a, 1, put_shape1);
    BOOST_TEST(result_of(h, "a").at("action") == "commit");
    h.push(b, 1, R"({"shape:2":["put",{"id":"shape:2","typeName":"shape","props":{}}]})");
    BOOST_REQUIRE(h.closed(b).has_value());
    BOOST_TEST(*h.closed(b)->code == 4099);
    BOOST_TEST(h.closed(b)->reason == "ROOM_FULL");
    BOOST_TEST(!h.room().get_record("shape:2").has_value()); // rolled back
    // Changes and removals still go through in a full room, and make room.
    h.push(a, 2, R"({"shape:1":["patch",{"props":["patch",{"x":["put",5]}]}]})");
    BOOST_TEST(result_of(h, "a").at("action") == "commit");
    h.push(a, 3, R"({"shape:1":["remove"]})");
    BOOST_TEST(result_of(h, "a").at("action") == "commit");
    h.push(a, 4, R"({"shape:3":["put",{"id":"shape:3","typeName":"shape","props":{}}]})");
    BOOST_TEST(result_of(h, "a").at("action") == "commit");
    BOOST_TEST(!h.closed(a).has_value());
}

BOOST_AUTO_TEST_CASE(RP2_unknown_type_rejects_invalid_record) {
    room_harness h;
    auto a = h.connect("a");
    h.push(a, 1, R"({"widget:1":["put",{"id":"widget:1","typeName":"widget"}]})");
    BOOST_REQUIRE(h.closed(a).has_value());
    BOOST_TEST(*h.closed(a)->code == 4099);
    BOOST_TEST(h.closed(a)->reason == "INVALID_RECORD");
}

BOOST_AUTO_TEST_CASE(RP2_presence_type_in_document_diff_is_invalid_record) {
    room_harness h;
    auto a = h.connect("a");
    h.push(a, 1, R"({"instance_presence:1":["put",{"id":"instance_presence:1","typeName":"instance_presence"}]})");
    BOOST_TEST(h.closed(a)->reason == "INVALID_RECORD");
}

BOOST_AUTO_TEST_CASE(RP2_RP12_failed_validation_rejects_and_rolls_back) {
    room_harness h;
    auto a = h.connect("a");
    auto b = h.connect("b");
    // the first op is fine, the second invalid: nothing of the push lands
    h.push(a, 1, R"({"shape:1":["put",{"id":"shape:1","typeName":"shape","props":{}}],
                     "shape:2":["put",{"id":"shape:2","typeName":"shape","props":{"color":5}}]})");
    BOOST_TEST(h.closed(a)->reason == "INVALID_RECORD");
    BOOST_TEST(!h.room().get_record("shape:1"));
    BOOST_TEST(h.room().document_clock() == 0);
    BOOST_TEST(!h.closed(b)); // RP12: only that session
}

BOOST_AUTO_TEST_CASE(RP2_record_id_must_match_its_key) {
    room_harness h;
    auto a = h.connect("a");
    h.push(a, 1, R"({"shape:1":["put",{"id":"shape:2","typeName":"shape","props":{}}]})");
    BOOST_TEST(h.closed(a)->reason == "INVALID_RECORD");
}

BOOST_AUTO_TEST_CASE(RP1_push_before_connect_is_ignored) {
    room_harness h;
    auto a = h.open("a");
    h.push(a, 1, put_shape1);
    BOOST_TEST(h.frames("a").empty());
    BOOST_TEST(!h.room().get_record("shape:1"));
}

BOOST_AUTO_TEST_CASE(RP9_readonly_document_changes_discarded_presence_flows) {
    room_harness h;
    auto viewer = h.connect("viewer", -1, true);
    h.connect("b");
    BOOST_TEST(h.last_event("viewer", "connect")->as_object().at("isReadonly") == true);
    h.take_events("b");
    h.push(viewer, 1, put_shape1, R"(["put",{"cursor":{"x":1}}])");
    BOOST_TEST(result_of(h, "viewer").at("action") == "discard");
    BOOST_TEST(!h.room().get_record("shape:1"));
    const auto* p = h.last_event("b", "patch");
    BOOST_REQUIRE(p);
    BOOST_TEST(p->as_object().at("diff").as_object().size() == 1u); // the presence only
}

BOOST_AUTO_TEST_CASE(RP10_presence_ids_forced_and_kept_out_of_the_document) {
    room_harness h;
    auto a = h.connect("a");
    h.connect("b");
    h.push(a, 1, {}, R"(["put",{"id":"instance_presence:evil","typeName":"shape","cursor":{"x":1}}])");
    BOOST_TEST(result_of(h, "a").at("action") == "commit"); // RP7: presence-only commits
    BOOST_TEST(h.room().document_clock() == 0);
    const auto presences = h.room().presence_records();
    BOOST_REQUIRE(presences.size() == 1u);
    const auto& [pid, rec] = *presences.begin();
    BOOST_TEST(rec.at("id") == json::value(pid));
    BOOST_TEST(rec.at("typeName") == "instance_presence");
    BOOST_TEST(h.presence_changes >= 1);
    h.push(a, 2, {}, R"(["patch",{"cursor":["patch",{"x":["put",9]}],"id":["put","hijack"]}])");
    const auto after = h.room().presence_records();
    BOOST_TEST(after.at(pid).at("cursor").as_object().at("x") == 9);
    BOOST_TEST(after.at(pid).at("id") == json::value(pid));
}

BOOST_AUTO_TEST_CASE(RP11_ping_gets_pong) {
    room_harness h;
    auto a = h.connect("a");
    h.send(a, proto::ping_request{});
    BOOST_TEST(h.frames("a").back().as_object().at("type") == "pong");
}

BOOST_AUTO_TEST_CASE(RB1_data_messages_debounced_into_one_frame) {
    room_harness h;
    auto a = h.connect("a");
    h.connect("b");
    h.frames("b").clear();
    h.push(a, 1, put_shape1);
    h.push(a, 2, R"({"shape:1":["patch",{"props":["patch",{"x":["put",2]}]}]})");
    h.push(a, 3, R"({"shape:1":["patch",{"props":["patch",{"x":["put",3]}]}]})");
    BOOST_TEST(h.frames("b").size() == 1u); // the first went out at once
    h.advance(20ms);
    BOOST_REQUIRE(h.frames("b").size() == 2u);
    BOOST_TEST(h.frames("b")[1].as_object().at("data").as_array().size() == 2u);
}

// A window holds spans of the room's broadcast logs and the session's own
// results; the frame must give them back in the order they happened, per
// encoding (an older client's group has a log of its own).
BOOST_AUTO_TEST_CASE(RB1_window_keeps_the_order_of_patches_and_own_results) {
    room_harness h;
    auto v1 = h.schema().serialize();
    v1["sequences"].as_object()["com.test.shape"] = 1;
    auto a = h.connect("a");
    auto b = h.connect("b");
    h.connect("old", -1, false, v1);
    h.push(a, 1, put_shape1); // goes out at once and opens every window
    for (const char* sid : {"a", "b", "old"}) h.frames(sid).clear();
    auto put = [](int n) {
        return R"({"shape:)" + std::to_string(n) + R"(":["put",{"id":"shape:)" + std::to_string(n) +
               R"(","typeName":"shape","props":{"x":)" + std::to_string(n) + "}}]}";
    };
    h.push(b, 1, put(2));
    h.push(a, 2, put(3));
    h.push(a, 3, put(4));
    h.push(b, 2, put(5));
    h.push(b, 3, put(6));
    h.advance(20ms);
    // (type, the shape it is about) in frame order
    auto seen = [&](const std::string& sid) {
        std::vector<std::string> out;
        BOOST_REQUIRE_EQUAL(h.frames(sid).size(), 1u);
        for (const auto& e : h.frames(sid)[0].as_object().at("data").as_array()) {
            const auto& o = e.as_object();
            if (o.at("type") == "push_result")
                out.push_back("result " + std::to_string(o.at("clientClock").as_int64()));
            else
                for (const auto& [id, op] : o.at("diff").as_object()) out.push_back(std::string(id));
        }
        return out;
    };
    BOOST_TEST(seen("a") == (std::vector<std::string>{"shape:2", "result 2", "result 3", "shape:5",
                                                      "shape:6"}),
               boost::test_tools::per_element());
    BOOST_TEST(seen("b") == (std::vector<std::string>{"result 1", "shape:3", "shape:4", "result 2",
                                                      "result 3"}),
               boost::test_tools::per_element());
    BOOST_TEST(seen("old") == (std::vector<std::string>{"shape:2", "shape:3", "shape:4", "shape:5",
                                                        "shape:6"}),
               boost::test_tools::per_element());
    // the older client's patches are its own encoding (no color prop)
    const auto& old_first = h.frames("old")[0].as_object().at("data").as_array()[0].as_object();
    BOOST_TEST(!old_first.at("diff").as_object().at("shape:2").as_array().at(1).as_object()
                    .at("props").as_object().contains("color"));
    // a quiet spell, then the next message goes out at once again
    h.advance(1s);
    h.push(a, 4, put(7));
    BOOST_TEST(h.frames("b").size() == 2u);
}

// Broadcasts past the log's rotation size inside one window: the window's
// spans cross logs and the frame still carries every patch, whole.
BOOST_AUTO_TEST_CASE(RB1_window_spans_more_than_one_log) {
    room_harness h;
    auto a = h.connect("a");
    h.connect("b");
    h.push(a, 1, put_shape1);
    h.frames("b").clear();
    const std::string big(400 * 1024, 'x');
    for (int i = 0; i < 6; ++i)
        h.push(a, 2 + i, R"({"shape:1":["patch",{"props":["patch",{"text":["put",")" + big +
                             std::to_string(i) + R"("]}]}]})");
    h.advance(20ms);
    BOOST_REQUIRE_EQUAL(h.frames("b").size(), 1u);
    const auto& events = h.frames("b")[0].as_object().at("data").as_array();
    BOOST_REQUIRE_EQUAL(events.size(), 6u);
    for (int i = 0; i < 6; ++i) {
        const auto& text = events[i].as_object().at("diff").as_object().at("shape:1").as_array()[1]
                               .as_object().at("props").as_array()[1].as_object().at("text")
                               .as_array()[1].as_string();
        BOOST_TEST(text == big + std::to_string(i));
    }
}

BOOST_AUTO_TEST_CASE(RB2_pong_skips_the_buffer_other_messages_flush_it) {
    room_harness h;
    auto a = h.connect("a");
    h.push(a, 1, put_shape1);
    h.push(a, 2, R"({"shape:1":["remove"]})"); // buffered push_result
    h.frames("a").clear();
    h.send(a, proto::ping_request{});
    BOOST_REQUIRE(h.frames("a").size() == 1u);
    BOOST_TEST(h.frames("a")[0].as_object().at("type") == "pong");
    h.room().send_custom_message("a", json::parse(R"({"hello":1})"));
    h.advance(0ms);
    auto& f = h.frames("a");
    BOOST_REQUIRE(f.size() == 3u);
    BOOST_TEST(f[1].as_object().at("type") == "data"); // flushed before the custom message
    BOOST_TEST(f[2].as_object().at("type") == "custom");
    BOOST_TEST(f[2].as_object().at("data").as_object().at("hello") == 1);
}

BOOST_AUTO_TEST_CASE(RB3_send_to_closed_socket_cancels_session) {
    room_harness h;
    auto a = h.connect("a");
    auto b = h.connect("b");
    h.room().handle_close(b, h.now()); // the socket is gone; b awaits removal
    h.push(a, 1, put_shape1);
    BOOST_TEST((h.room().sessions().size() == 2u));
    for (const auto& s : h.room().sessions())
        if (s.session_id == "b") BOOST_TEST((s.state == core::session_state::awaiting_removal));
}

BOOST_AUTO_TEST_CASE(RB5_custom_message_to_unconnected_session_does_nothing) {
    room_harness h;
    h.open("a");
    h.room().send_custom_message("a", json::value(1));
    h.room().send_custom_message("nobody", json::value(1));
    BOOST_TEST(h.frames("a").empty());
}

BOOST_AUTO_TEST_CASE(RB1_one_encoding_shared_by_every_recipient) {
    room_harness h;
    auto a = h.connect("a");
    for (int i = 0; i < 5; ++i) h.connect("peer" + std::to_string(i));
    (void)h.room().take_actions();
    h.room().handle_message(a, proto::decode_client_message(
        std::string(R"({"type":"push","clientClock":1,"diff":)") + std::string(put_shape1) + "}").value(), h.now());
    std::vector<const void*> patch_texts;
    const auto actions = h.room().take_actions();
    for (const auto& act : actions)
        if (auto* s = std::get_if<core::send_action>(&act); s && s->to.session_id != "a")
            patch_texts.push_back(s->message.parts.at(0).bytes.data());
    BOOST_REQUIRE(patch_texts.size() == 5u);
    for (const void* p : patch_texts) BOOST_TEST((p == patch_texts[0]));
}

BOOST_AUTO_TEST_CASE(SES5_legacy_client_gets_no_string_appends) {
    room_harness h;
    auto a = h.connect("a");
    h.push(a, 1, put_shape1);
    h.connect("old", h.room().document_clock(), false, {}, 7);
    h.take_events("old");
    h.push(a, 2, R"({"shape:1":["patch",{"props":["patch",{"text":["append","!",2]}]}]})");
    const auto& r = result_of(h, "a");
    const auto want = json::parse(R"({"shape:1":["patch",{"props":["patch",{"text":["put","hi!"]}]}]})");
    BOOST_REQUIRE(r.at("action").is_object()); // the pusher is told the put, not its append
    BOOST_TEST(deep_equal(r.at("action").as_object().at("rebaseWithDiff"), want));
    BOOST_TEST(deep_equal(h.last_event("old", "patch")->as_object().at("diff"), want));
}

BOOST_AUTO_TEST_CASE(MG1_MG2_older_client_gets_down_migrated_records_and_pushes_migrate_up) {
    room_harness h;
    auto v1 = h.schema().serialize();
    v1["sequences"].as_object()["com.test.shape"] = 1;
    auto a = h.connect("a");
    auto old = h.connect("old", -1, false, v1);
    BOOST_REQUIRE(!h.closed(old));
    h.take_events("old");
    h.push(a, 1, R"({"shape:1":["put",{"id":"shape:1","typeName":"shape","props":{"x":1,"color":"red"}}]})");
    const auto& put = h.last_event("old", "patch")->as_object().at("diff").as_object().at("shape:1");
    BOOST_TEST(!put.as_array().at(1).as_object().at("props").as_object().contains("color"));
    // MG2: the v1 client's patch applies to the down-migrated record, which
    // is then migrated up again; like upstream, the round trip through v1
    // resets what v1 cannot express (color), and the v1 client is told the
    // effective change in its own version.
    h.push(old, 1, R"({"shape:1":["patch",{"props":["patch",{"x":["put",5]}]}]})");
    const auto& r = result_of(h, "old");
    BOOST_REQUIRE(r.at("action").is_object());
    BOOST_TEST(deep_equal(r.at("action").as_object().at("rebaseWithDiff"),
                          json::parse(R"({"shape:1":["patch",{"props":["patch",{"x":["put",5]}]}]})")));
    const auto rec = h.room().get_record("shape:1");
    BOOST_TEST(rec->at("props").as_object().at("x") == 5);
    BOOST_TEST(rec->at("props").as_object().at("color") == "black");
    // the current-version client sees both changes
    const auto& seen = h.last_event("a", "patch")->as_object().at("diff").as_object().at("shape:1");
    BOOST_TEST(seen.as_array().at(1).as_object().at("props").as_array().at(1).as_object().size() == 2u);
    // a v1 put is migrated up: color gets its default
    h.push(old, 2, R"({"shape:2":["put",{"id":"shape:2","typeName":"shape","props":{"x":0}}]})");
    BOOST_TEST(h.room().get_record("shape:2")->at("props").as_object().at("color") == "black");
}

BOOST_AUTO_TEST_CASE(MG3_equal_schema_sessions_share_one_encoding) {
    room_harness h;
    auto v1 = h.schema().serialize();
    v1["sequences"].as_object()["com.test.shape"] = 1;
    auto a = h.connect("a");
    h.connect("old1", -1, false, v1);
    h.connect("old2", -1, false, v1);
    (void)h.room().take_actions();
    h.room().handle_message(a, proto::decode_client_message(
        std::string(R"({"type":"push","clientClock":1,"diff":)") + std::string(put_shape1) + "}").value(), h.now());
    // the actions own the bytes: keep them while comparing addresses
    const auto actions = h.room().take_actions();
    std::vector<const void*> texts;
    for (const auto& act : actions)
        if (auto* s = std::get_if<core::send_action>(&act); s && s->to.session_id != "a")
            texts.push_back(s->message.parts.at(0).bytes.data());
    BOOST_REQUIRE(texts.size() == 2u);
    BOOST_TEST((texts[0] == texts[1]));
}

// @tldraw/sync-core 5.4.2's diffRecord puts objects nested inside props
// (e.g. props.richText) where SPEC D4 patches them; either request is
// applied verbatim, so both commit (RP7) and the others hear the request.
BOOST_AUTO_TEST_CASE(RP7_nested_object_put_and_nested_patch_both_commit) {
    room_harness h;
    auto a = h.connect("a");
    h.connect("b");
    h.push(a, 1, R"({"shape:1":["put",{"id":"shape:1","typeName":"shape","props":{"x":1,"rich":{"t":"a","n":1}}}]})");
    h.advance(1s);
    h.take_events("b");
    const auto as_put = R"({"shape:1":["patch",{"props":["patch",{"rich":["put",{"t":"ab","n":1}]}]}]})";
    h.push(a, 2, as_put);
    BOOST_TEST(result_of(h, "a").at("action") == "commit");
    BOOST_TEST(deep_equal(h.last_event("b", "patch")->as_object().at("diff"), json::parse(as_put)));
    h.take_events("b");
    const auto as_patch = R"({"shape:1":["patch",{"props":["patch",{"rich":["patch",{"n":["put",2]}]}]}]})";
    h.push(a, 3, as_patch);
    BOOST_TEST(result_of(h, "a").at("action") == "commit");
    BOOST_TEST(deep_equal(h.last_event("b", "patch")->as_object().at("diff"), json::parse(as_patch)));
    BOOST_TEST(deep_equal(h.room().get_record("shape:1")->at("props"), json::parse(R"({"x":1,"rich":{"t":"ab","n":2}})")));
}

// When the request had ops without effect the answer is the D-rule diff,
// not one shaped like the request (RP5).
BOOST_AUTO_TEST_CASE(RP5_RP7_partly_ineffective_nested_put_rebases_with_the_d_rule_diff) {
    room_harness h;
    auto a = h.connect("a");
    h.push(a, 1, R"({"shape:1":["put",{"id":"shape:1","typeName":"shape","props":{"x":1,"rich":{"t":"a","n":1}}}]})");
    h.push(a, 2, R"({"shape:1":["patch",{"props":["patch",{"x":["put",1],"rich":["put",{"t":"a","n":2}]}]}]})");
    const auto& r = result_of(h, "a");
    BOOST_REQUIRE(r.at("action").is_object());
    const auto want = json::parse(R"({"shape:1":["patch",{"props":["patch",{"rich":["patch",{"n":["put",2]}]}]}]})");
    BOOST_TEST(deep_equal(r.at("action").as_object().at("rebaseWithDiff"), want));
}

BOOST_AUTO_TEST_SUITE_END()
