// Room rules of the upstream SPEC that the component suites left uncovered or
// only partly covered (docs/CONFORMANCE.md lists them under "Gaps"): RV1-RV4,
// RC4, RC6, RC7, HS2, HS5, HS6, RP11, RB4, SES2-SES5, MG1, MG2, US2, US3.

#include "support/room_harness.hpp"

using namespace tlsync;
using namespace tlsync::test;

namespace {

// The harness schema's shape sequence, with steps that fail on purpose: v2's
// down cannot express color "ultraviolet", its up rejects props.legacy.
std::shared_ptr<const core::schema> make_fragile_schema() {
    using namespace core;
    std::vector<record_type> types{
        {"document", record_scope::document, {}},
        {"page", record_scope::document, {}},
        {"shape", record_scope::document, {}},
        {"instance_presence", record_scope::presence, {}},
    };
    migration v1;
    v1.id = "com.test.shape/1";
    v1.up = [](json::object&) {};
    v1.down = [](json::object&) {};
    migration v2;
    v2.id = "com.test.shape/2";
    v2.filter = [](const json::object& r) { return r.at("typeName") == "shape"; };
    v2.up = [](json::object& r) {
        auto& props = r["props"].as_object();
        if (props.contains("legacy")) throw std::runtime_error("legacy props cannot be upgraded");
        props["color"] = "black";
    };
    v2.down = [](json::object& r) {
        auto& props = r["props"].as_object();
        if (const auto* c = props.if_contains("color"); c && *c == "ultraviolet")
            throw std::runtime_error("v1 has no ultraviolet");
        props.erase("color");
    };
    std::vector<migration_sequence> seqs;
    seqs.push_back({"com.test.shape", true, {v1, v2}});
    return std::make_shared<const schema>(std::move(types), std::move(seqs));
}

json::object v1_schema(const core::schema& s) {
    auto v1 = s.serialize();
    v1["sequences"].as_object()["com.test.shape"] = 1;
    return v1;
}

// The harness's initial documents plus `extra`, on the harness schema.
core::room_snapshot snapshot_with(const core::schema& s, std::string_view extra) {
    core::room_snapshot snap;
    snap.schema = s.serialize();
    snap.documents.push_back({jobj(R"({"id":"document:document","typeName":"document","name":""})"), 0});
    snap.documents.push_back({jobj(R"({"id":"page:page","typeName":"page","name":"Page 1"})"), 0});
    snap.documents.push_back({jobj(extra), 0});
    return snap;
}

const json::object& result_of(room_harness& h, const std::string& sid) {
    h.advance(20ms);
    const auto* r = h.last_event(sid, "push_result");
    BOOST_REQUIRE_MESSAGE(r, "no push_result for " << sid);
    return r->as_object();
}

core::session_state state_of(core::room& r, const std::string& sid) {
    for (const auto& s : r.sessions())
        if (s.session_id == sid) return s.state;
    BOOST_FAIL("no session " << sid);
    return core::session_state::awaiting_removal;
}

std::size_t count_events(room_harness& h, const std::string& sid, std::string_view type) {
    std::size_t n = 0;
    for (const auto& e : h.events(sid))
        if (e.as_object().at("type") == json::value(json::string(type))) ++n;
    return n;
}

constexpr std::string_view invalid_shape = R"({"id":"shape:bad","typeName":"shape","props":{"color":5}})";

} // namespace

BOOST_AUTO_TEST_SUITE(conformance_gaps)

// ------------------------------------------------------------------ RV

BOOST_AUTO_TEST_CASE(RV1_RP3_put_equal_to_stored_state_is_not_validated) {
    auto s = make_test_schema();
    room_harness h(s, {}, snapshot_with(*s, invalid_shape));
    auto a = h.connect("a");
    h.push(a, 1, R"({"shape:bad":["put",{"id":"shape:bad","typeName":"shape","props":{"color":5}}]})");
    BOOST_TEST(!h.closed(a)); // no diff, so the (invalid) state was never validated
    BOOST_TEST(result_of(h, "a").at("action") == "discard");
}

BOOST_AUTO_TEST_CASE(RV3_patch_without_effect_is_not_validated) {
    auto s = make_test_schema();
    room_harness h(s, {}, snapshot_with(*s, invalid_shape));
    auto a = h.connect("a");
    h.push(a, 1, R"({"shape:bad":["patch",{"props":["patch",{"color":["put",5],"x":["append","!",3]}]}]})");
    BOOST_TEST(!h.closed(a));
    BOOST_TEST(result_of(h, "a").at("action") == "discard");
}

BOOST_AUTO_TEST_CASE(RV2_RV4_RP2_patch_to_an_invalid_state_rejects_invalid_record) {
    room_harness h;
    auto a = h.connect("a");
    auto b = h.connect("b");
    h.push(a, 1, R"({"shape:1":["put",{"id":"shape:1","typeName":"shape","props":{}}]})");
    h.push(a, 2, R"({"shape:1":["patch",{"props":["patch",{"color":["put",7]}]}]})");
    BOOST_REQUIRE(h.closed(a).has_value());
    BOOST_TEST(*h.closed(a)->code == 4099);
    BOOST_TEST(h.closed(a)->reason == "INVALID_RECORD");
    BOOST_TEST(!h.room().get_record("shape:1")->at("props").as_object().contains("color"));
    BOOST_TEST(h.room().document_clock() == 1);
    BOOST_TEST(!h.closed(b));
}

// ------------------------------------------------------------------ RC

BOOST_AUTO_TEST_CASE(RC4_own_transactions_are_broadcast_once) {
    room_harness h;
    auto a = h.connect("a");
    h.connect("b");
    h.take_events("b");
    h.push(a, 1, R"({"shape:1":["put",{"id":"shape:1","typeName":"shape","props":{}}]})");
    h.advance(1s);
    h.send(a, proto::ping_request{});
    h.advance(1s);
    BOOST_TEST(count_events(h, "b", "patch") == 1u);
}

BOOST_AUTO_TEST_CASE(RC4_foreign_storage_write_is_broadcast_by_the_next_timer) {
    room_harness h;
    h.connect("a");
    h.connect("b");
    h.take_events("a");
    h.take_events("b");
    h.room().storage().transaction(
        [](core::storage_txn& t) {
            t.set("shape:ext", jobj(R"({"id":"shape:ext","typeName":"shape","props":{}})"));
        },
        {.id = "external"});
    h.room().on_timer(h.now());
    h.drain();
    for (const auto* sid : {"a", "b"}) {
        const auto* p = h.last_event(sid, "patch");
        BOOST_REQUIRE_MESSAGE(p, "no patch for " << sid);
        BOOST_TEST(p->as_object().at("diff").as_object().contains("shape:ext"));
    }
}

// Upstream broadcasts from the storage's change notification itself. A sans-io
// room can only do that when its driver calls it, so after a foreign commit
// next_deadline() should report the room due at once.
BOOST_AUTO_TEST_CASE(RC4_foreign_storage_write_makes_the_room_due) {
    core::room_config cfg;
    cfg.idle_timeout = 0ms;
    room_harness h(make_test_schema(), cfg);
    h.connect("a");
    h.advance(10s);
    h.room().storage().transaction(
        [](core::storage_txn& t) {
            t.set("shape:ext", jobj(R"({"id":"shape:ext","typeName":"shape","props":{}})"));
        },
        {.id = "external"});
    const auto due = h.room().next_deadline();
    BOOST_REQUIRE(due.has_value());
    BOOST_TEST(due->count() <= h.now().count());
    h.take_events("a");
    h.advance(0ms);
    BOOST_TEST(h.last_event("a", "patch") != nullptr); // and on_timer broadcasts it
}

BOOST_AUTO_TEST_CASE(RC6_default_idle_timeout_and_prune_interval) {
    BOOST_TEST(core::room_config{}.idle_timeout.count() == 20000);
    {
        room_harness h; // default 20 s: prune every min(2000, 20000 / 4) ms
        BOOST_REQUIRE(h.room().next_deadline().has_value());
        BOOST_TEST((*h.room().next_deadline() - h.now()).count() == 2000);
    }
    core::room_config cfg;
    cfg.idle_timeout = 4s; // prune every min(2000, 1000) ms
    room_harness h(make_test_schema(), cfg);
    BOOST_TEST((*h.room().next_deadline() - h.now()).count() == 1000);
    auto a = h.connect("a");
    h.advance(3900ms);
    BOOST_TEST((state_of(h.room(), "a") == core::session_state::connected));
    h.advance(1200ms);
    BOOST_TEST((state_of(h.room(), "a") == core::session_state::awaiting_removal));
    BOOST_TEST(h.closed(a).has_value());
}

BOOST_AUTO_TEST_CASE(RC7_late_socket_events_after_close_emit_nothing) {
    room_harness h;
    auto a = h.connect("a");
    h.room().close();
    const auto sent = h.send_count;
    h.close_socket(a);
    h.send(a, proto::ping_request{});
    h.room().handle_new_session({"c", 99}, false, h.now());
    h.advance(30s);
    BOOST_TEST(h.removed.empty());
    BOOST_TEST(h.became_empty == 0);
    BOOST_TEST(h.send_count == sent);
    BOOST_TEST(h.room().session_count() == 0u);
}

// ------------------------------------------------------------------ HS

BOOST_AUTO_TEST_CASE(HS2_SES4_protocol_5_connects_and_is_rejected_the_legacy_way) {
    room_harness h;
    auto old = h.connect("old", -1, false, {}, 5);
    BOOST_REQUIRE(!h.closed(old));
    BOOST_TEST(h.last_event("old", "connect"));
    BOOST_TEST(!h.room().can_emit_string_append());
    h.push(old, 1, R"({"widget:1":["put",{"id":"widget:1","typeName":"widget"}]})");
    BOOST_TEST(h.frames("old").back().as_object().at("type") == "incompatibility_error");
    BOOST_TEST(h.frames("old").back().as_object().at("reason") == "invalidRecord");
    BOOST_REQUIRE(h.closed(old).has_value());
    BOOST_TEST(!h.closed(old)->code); // removed without 4099
    BOOST_TEST(h.room().session_count() == 0u);
}

BOOST_AUTO_TEST_CASE(HS5_MG1_connect_diff_is_down_migrated_for_an_older_client) {
    room_harness h;
    auto a = h.connect("a");
    h.push(a, 1, R"({"shape:1":["put",{"id":"shape:1","typeName":"shape","props":{"x":1,"color":"red"}}]})");
    h.push(a, 2, {}, R"(["put",{"cursor":{"x":1}}])");
    auto old = h.connect("old", -1, false, v1_schema(h.schema()));
    BOOST_REQUIRE(!h.closed(old));
    const auto& diff = h.last_event("old", "connect")->as_object().at("diff").as_object();
    const auto& put = diff.at("shape:1").as_array();
    BOOST_TEST(put.at(0) == "put");
    BOOST_TEST(!put.at(1).as_object().at("props").as_object().contains("color"));
    BOOST_TEST(diff.size() == 4u); // document, page, shape and a's presence
}

BOOST_AUTO_TEST_CASE(HS5_MG1_connect_down_migration_failure_is_client_too_old) {
    auto s = make_fragile_schema();
    room_harness h(s, {}, snapshot_with(*s, R"({"id":"shape:uv","typeName":"shape","props":{"color":"ultraviolet"}})"));
    auto old = h.connect("old", -1, false, v1_schema(*s));
    BOOST_REQUIRE(h.closed(old).has_value());
    BOOST_TEST(*h.closed(old)->code == 4099);
    BOOST_TEST(h.closed(old)->reason == "CLIENT_TOO_OLD");
    BOOST_TEST(!h.last_event("old", "connect"));
}

BOOST_AUTO_TEST_CASE(HS6_RC5_session_removed_during_its_handshake_stays_removed) {
    room_harness h;
    auto a = h.connect("a");
    auto b = h.open("b");
    // A foreign writer creates and deletes enough records that pruning moves
    // the tombstone history past the room's clock: no incremental diff exists.
    auto& storage = h.room().storage();
    constexpr int n = 5100;
    storage.transaction(
        [](core::storage_txn& t) {
            for (int i = 0; i < n; ++i) {
                const auto id = "shape:" + std::to_string(i);
                t.set(id, jobj(R"({"id":")" + id + R"(","typeName":"shape","props":{}})"));
            }
        },
        {.id = "external"});
    storage.transaction(
        [](core::storage_txn& t) {
            for (int i = 0; i < n; ++i) t.remove("shape:" + std::to_string(i));
        },
        {.id = "external"});
    storage.prune_tombstones();
    BOOST_REQUIRE(storage.get_snapshot().tombstone_history_starts_at_clock == 2);

    // b's handshake transaction finds the wipe and forces everyone to reconnect.
    proto::connect_request c;
    c.connect_request_id = "req-b";
    c.protocol_version = proto::protocol_version;
    c.schema = h.schema().serialize();
    h.send(b, c);
    BOOST_TEST(h.room().session_count() == 0u);
    BOOST_TEST(!h.last_event("b", "connect"));
    BOOST_TEST(h.closed(a).has_value());
    BOOST_TEST(h.closed(b).has_value());
    BOOST_TEST(h.became_empty == 1);
}

// ------------------------------------------------------------------ RP, RB

BOOST_AUTO_TEST_CASE(RP11_pushes_keep_a_session_alive) {
    room_harness h;
    auto a = h.connect("a");
    for (int i = 0; i < 12; ++i) {
        h.advance(5s);
        h.push(a, i + 1, {}, R"(["put",{"cursor":{"x":)" + std::to_string(i) + "}}]");
    }
    BOOST_TEST((state_of(h.room(), "a") == core::session_state::connected));
}

BOOST_AUTO_TEST_CASE(RB4_MG1_down_migration_failure_rejects_only_that_session) {
    room_harness h(make_fragile_schema());
    auto a = h.connect("a");
    auto b = h.connect("b");
    auto old = h.connect("old", -1, false, v1_schema(h.schema()));
    BOOST_REQUIRE(!h.closed(old));
    h.take_events("b");
    h.push(a, 1, R"({"shape:uv":["put",{"id":"shape:uv","typeName":"shape","props":{"color":"ultraviolet"}}]})");
    BOOST_REQUIRE(h.closed(old).has_value());
    BOOST_TEST(*h.closed(old)->code == 4099);
    BOOST_TEST(h.closed(old)->reason == "CLIENT_TOO_OLD");
    BOOST_TEST(!h.closed(b));
    BOOST_TEST(!h.closed(a));
    const auto* p = h.last_event("b", "patch");
    BOOST_REQUIRE(p);
    BOOST_TEST(p->as_object().at("diff").as_object().contains("shape:uv"));
    BOOST_TEST(result_of(h, "a").at("action") == "commit");
}

BOOST_AUTO_TEST_CASE(MG2_up_migration_failure_rejects_client_too_old) {
    room_harness h(make_fragile_schema());
    auto b = h.connect("b");
    auto old = h.connect("old", -1, false, v1_schema(h.schema()));
    h.push(old, 1, R"({"shape:l":["put",{"id":"shape:l","typeName":"shape","props":{"legacy":true}}]})");
    BOOST_REQUIRE(h.closed(old).has_value());
    BOOST_TEST(*h.closed(old)->code == 4099);
    BOOST_TEST(h.closed(old)->reason == "CLIENT_TOO_OLD");
    BOOST_TEST(!h.room().get_record("shape:l"));
    BOOST_TEST(h.room().document_clock() == 0);
    BOOST_TEST(!h.closed(b));
}

// ------------------------------------------------------------------ SES

BOOST_AUTO_TEST_CASE(SES2_RC6_closed_session_is_removed_without_periodic_pruning) {
    core::room_config cfg;
    cfg.idle_timeout = 0ms; // no periodic prune: only the follow-up prune can remove it
    room_harness h(make_test_schema(), cfg);
    auto a = h.connect("a");
    h.close_socket(a);
    BOOST_TEST((state_of(h.room(), "a") == core::session_state::awaiting_removal));
    h.advance(4s);
    BOOST_TEST(h.room().session_count() == 1u);
    h.advance(2s);
    BOOST_TEST(h.room().session_count() == 0u);
    BOOST_TEST(h.removed == std::vector<std::string>{"a"});
}

BOOST_AUTO_TEST_CASE(SES3_SES4_fatal_rejection_closes_4099_and_empties_the_room) {
    room_harness h;
    auto a = h.connect("a");
    auto b = h.connect("b");
    h.push(b, 1, {}, R"(["put",{"cursor":{"x":1}}])");
    h.take_events("a");
    h.room().reject_session("b", proto::close_reason::forbidden);
    h.drain();
    BOOST_REQUIRE(h.closed(b).has_value());
    BOOST_TEST(*h.closed(b)->code == 4099);
    BOOST_TEST(h.closed(b)->reason == "FORBIDDEN");
    BOOST_TEST(h.room().presence_records().empty());
    h.advance(20ms);
    const auto* p = h.last_event("a", "patch"); // b's presence removal is broadcast
    BOOST_REQUIRE(p);
    BOOST_TEST(p->as_object().at("diff").as_object().begin()->value().as_array().at(0) == "remove");
    BOOST_TEST(h.became_empty == 0);
    h.room().reject_session("a"); // no reason: a plain removal
    h.drain();
    BOOST_REQUIRE(h.closed(a).has_value());
    BOOST_TEST(!h.closed(a)->code);
    BOOST_TEST(h.removed == (std::vector<std::string>{"b", "a"}));
    BOOST_TEST(h.became_empty == 1);
}

BOOST_AUTO_TEST_CASE(SES5_put_over_existing_record_uses_legacy_append_mode) {
    room_harness h;
    auto a = h.connect("a");
    h.push(a, 1, R"({"shape:1":["put",{"id":"shape:1","typeName":"shape","props":{"x":1,"text":"hi"}}]})");
    h.connect("old", h.room().document_clock(), false, {}, 7);
    h.take_events("old");
    h.push(a, 2, R"({"shape:1":["put",{"id":"shape:1","typeName":"shape","props":{"x":1,"text":"hi!"}}]})");
    const auto want = json::parse(R"({"shape:1":["patch",{"props":["patch",{"text":["put","hi!"]}]}]})");
    const auto& r = result_of(h, "a");
    BOOST_REQUIRE(r.at("action").is_object());
    BOOST_TEST(deep_equal(r.at("action").as_object().at("rebaseWithDiff"), want));
    BOOST_TEST(deep_equal(h.last_event("old", "patch")->as_object().at("diff"), want));
}

// ------------------------------------------------------------------ US

BOOST_AUTO_TEST_CASE(US3_delete_cancels_a_pending_put_and_ignores_absent_ids) {
    room_harness h;
    h.room().update_store([](core::store_update& u) {
        u.put(jobj(R"({"id":"shape:new","typeName":"shape","props":{}})"));
        u.remove("shape:new");
        u.remove("shape:never");
        BOOST_TEST(!u.get("shape:new"));
    });
    BOOST_TEST(h.room().document_clock() == 0);
    BOOST_TEST(h.room().get_snapshot().tombstones.empty());
}

BOOST_AUTO_TEST_CASE(US2_put_clears_a_pending_delete) {
    room_harness h;
    h.room().update_store([](core::store_update& u) {
        auto page = *u.get("page:page");
        u.remove("page:page");
        page["name"] = "renamed";
        u.put(page);
    });
    BOOST_TEST(h.room().document_clock() == 1);
    BOOST_TEST(h.room().get_record("page:page")->at("name") == "renamed");
    // deleting then putting back the stored state leaves nothing to commit
    h.room().update_store([](core::store_update& u) {
        auto page = *u.get("page:page");
        u.remove("page:page");
        u.put(page);
    });
    BOOST_TEST(h.room().document_clock() == 1);
    BOOST_TEST(h.room().get_record("page:page").has_value());
}

BOOST_AUTO_TEST_SUITE_END()
