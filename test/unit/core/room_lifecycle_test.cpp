// Session lifecycle and server-side writes: SES1-SES3, SES7, RC4-RC6,
// US1-US6, SR10, SS18 (tombstone prune scheduling).

#include "support/room_harness.hpp"

using namespace tlsync;
using namespace tlsync::test;

namespace {
core::session_state state_of(core::room& r, const std::string& sid) {
    for (const auto& s : r.sessions())
        if (s.session_id == sid) return s.state;
    BOOST_FAIL("no session " << sid);
    return core::session_state::awaiting_removal;
}
} // namespace

BOOST_AUTO_TEST_SUITE(room_lifecycle)

BOOST_AUTO_TEST_CASE(SES1_idle_connected_session_is_cancelled_then_removed) {
    room_harness h;
    auto a = h.connect("a");
    h.advance(19s);
    BOOST_TEST((state_of(h.room(), "a") == core::session_state::connected));
    h.advance(3s);
    BOOST_TEST((state_of(h.room(), "a") == core::session_state::awaiting_removal));
    BOOST_REQUIRE(h.closed(a).has_value());
    BOOST_TEST(!h.closed(a)->code); // a plain close: the client reconnects
    h.advance(6s);
    BOOST_TEST(h.room().session_count() == 0u);
    BOOST_TEST(h.removed == std::vector<std::string>{"a"});
    BOOST_TEST(h.became_empty == 1);
}

BOOST_AUTO_TEST_CASE(SES1_pings_keep_a_session_alive) {
    room_harness h;
    auto a = h.connect("a");
    for (int i = 0; i < 10; ++i) {
        h.advance(5s);
        h.send(a, proto::ping_request{});
    }
    BOOST_TEST((state_of(h.room(), "a") == core::session_state::connected));
}

BOOST_AUTO_TEST_CASE(SES1_session_that_never_connects_is_removed_after_start_wait) {
    room_harness h;
    h.open("a");
    h.advance(9s);
    BOOST_TEST(h.room().session_count() == 1u);
    h.advance(3s);
    BOOST_TEST(h.room().session_count() == 0u);
}

BOOST_AUTO_TEST_CASE(SES2_SES3_close_awaits_removal_then_presence_removal_is_broadcast) {
    room_harness h;
    auto a = h.connect("a");
    h.connect("b");
    h.push(a, 1, {}, R"(["put",{"cursor":{"x":1}}])");
    const auto pid = h.room().presence_records().begin()->first;
    h.close_socket(a);
    BOOST_TEST((state_of(h.room(), "a") == core::session_state::awaiting_removal));
    BOOST_TEST(h.room().presence_records().size() == 1u); // kept for a quick reconnect
    h.take_events("b");
    h.advance(4s);
    BOOST_TEST(h.room().session_count() == 2u);
    h.advance(4s); // SES1: removed by the first prune after the 5 s wait
    BOOST_TEST(h.room().session_count() == 1u);
    BOOST_TEST(h.room().presence_records().empty());
    const auto* p = h.last_event("b", "patch");
    BOOST_REQUIRE(p);
    BOOST_TEST(deep_equal(p->as_object().at("diff").as_object().at(pid), json::parse(R"(["remove"])")));
    BOOST_TEST(h.became_empty == 0);
}

BOOST_AUTO_TEST_CASE(SES2_quick_reconnect_keeps_the_session) {
    room_harness h;
    auto a = h.connect("a");
    h.close_socket(a);
    h.advance(1s);
    auto a2 = h.connect("a", h.room().document_clock());
    BOOST_TEST((state_of(h.room(), "a") == core::session_state::connected));
    h.advance(10s);
    BOOST_TEST(h.room().session_count() == 1u);
    BOOST_TEST(!h.closed(a2));
}

BOOST_AUTO_TEST_CASE(SR6_events_of_a_superseded_socket_are_ignored) {
    room_harness h;
    auto a1 = h.connect("a");
    auto a2 = h.connect("a");
    BOOST_TEST(h.closed(a1).has_value()); // superseded, closed by the room
    h.close_socket(a1);
    BOOST_TEST((state_of(h.room(), "a") == core::session_state::connected));
    h.push(a1, 1, R"({"shape:1":["put",{"id":"shape:1","typeName":"shape","props":{}}]})");
    BOOST_TEST(!h.room().get_record("shape:1"));
    (void)a2;
}

BOOST_AUTO_TEST_CASE(SES7_message_from_unknown_session_is_ignored) {
    room_harness h;
    h.send(core::socket_ref{"ghost", 77}, proto::ping_request{});
    BOOST_TEST(h.frames("ghost").empty());
}

BOOST_AUTO_TEST_CASE(SES4_close_session_with_reason_closes_4099) {
    room_harness h;
    auto a = h.connect("a");
    h.room().reject_session("a", proto::close_reason::forbidden);
    (void)h.room().take_actions();
    BOOST_TEST(h.room().session_count() == 0u);
    (void)a;
}

BOOST_AUTO_TEST_CASE(RC6_zero_idle_timeout_disables_idle_pruning) {
    core::room_config cfg;
    cfg.idle_timeout = 0ms;
    room_harness h(make_test_schema(), cfg);
    h.connect("a");
    h.advance(120s);
    BOOST_TEST((state_of(h.room(), "a") == core::session_state::connected));
}

BOOST_AUTO_TEST_CASE(US1_US5_update_store_commits_once_and_broadcasts) {
    room_harness h;
    h.connect("a");
    h.take_events("a");
    h.room().update_store([](core::store_update& u) {
        auto page = u.get("page:page");
        BOOST_REQUIRE(page.has_value());
        (*page)["name"] = "renamed";
        BOOST_TEST(u.get("page:page")->at("name") == "Page 1"); // a copy (US1)
        u.put(*page);
        u.put(jobj(R"({"id":"shape:9","typeName":"shape","props":{}})"));
        u.remove("document:document");
        BOOST_TEST(!u.get("document:document"));
        BOOST_TEST(u.get_all().size() == 2u); // US4
    });
    h.drain();
    BOOST_TEST(h.room().document_clock() == 1); // US5: one clock step
    const auto* p = h.last_event("a", "patch");
    BOOST_REQUIRE(p); // RC4: a foreign transaction is broadcast
    const auto& d = p->as_object().at("diff").as_object();
    BOOST_TEST(d.size() == 3u);
    BOOST_TEST(d.at("document:document").as_array().at(0) == "remove");
}

BOOST_AUTO_TEST_CASE(US2_update_store_validates_and_throw_commits_nothing) {
    room_harness h;
    BOOST_CHECK_THROW(h.room().update_store([](core::store_update& u) {
        u.put(jobj(R"({"id":"widget:1","typeName":"widget"})"));
    }), core::validation_error);
    BOOST_CHECK_THROW(h.room().update_store([](core::store_update& u) {
        u.put(jobj(R"({"id":"shape:1","typeName":"shape","props":{}})"));
        throw std::runtime_error("changed my mind");
    }), std::runtime_error);
    BOOST_TEST(h.room().document_clock() == 0);
    BOOST_TEST(!h.room().get_record("shape:1"));
}

BOOST_AUTO_TEST_CASE(US2_put_equal_to_stored_is_no_change) {
    room_harness h;
    h.room().update_store([](core::store_update& u) { u.put(*u.get("page:page")); });
    BOOST_TEST(h.room().document_clock() == 0);
}

BOOST_AUTO_TEST_CASE(US6_context_throws_after_updater_returns) {
    room_harness h;
    core::store_update* leaked = nullptr;
    h.room().update_store([&](core::store_update& u) { leaked = &u; });
    // the context is gone with the call; a closed room refuses updates
    h.room().close();
    BOOST_CHECK_THROW(h.room().update_store([](core::store_update&) {}), std::logic_error);
    (void)leaked;
}

BOOST_AUTO_TEST_CASE(SR10_RC5_load_snapshot_with_pruned_history_forces_reconnect) {
    room_harness h;
    auto a = h.connect("a");
    auto snap = h.room().get_snapshot();
    snap.documents.push_back({jobj(R"({"id":"shape:5","typeName":"shape","props":{}})"), 0});
    h.room().load_snapshot(snap);
    h.drain();
    // an incremental change: broadcast
    BOOST_TEST(h.last_event("a", "patch"));
    BOOST_TEST(!h.closed(a));
    BOOST_TEST(h.room().get_record("shape:5").has_value());
}

BOOST_AUTO_TEST_CASE(SS18_deletes_schedule_a_tombstone_prune) {
    room_harness h;
    auto a = h.connect("a");
    std::string diff = "{";
    for (int i = 0; i < 6200; ++i) {
        if (i) diff += ",";
        diff += R"("shape:)" + std::to_string(i) + R"(":["put",{"id":"shape:)" + std::to_string(i) +
                R"(","typeName":"shape","props":{}}])";
    }
    diff += "}";
    h.push(a, 1, diff);
    for (int i = 0; i < 6200; i += 100) {
        std::string rm = "{";
        for (int j = i; j < i + 100; ++j) {
            if (j > i) rm += ",";
            rm += R"("shape:)" + std::to_string(j) + R"(":["remove"])";
        }
        rm += "}";
        h.push(a, 2 + i / 100, rm);
        h.send(a, proto::ping_request{});
    }
    BOOST_TEST(h.room().get_snapshot().tombstones.size() == 6200u);
    h.advance(1100ms);
    const auto snap = h.room().get_snapshot();
    BOOST_TEST(snap.tombstones.size() < 5000u);
    BOOST_TEST(snap.tombstone_history_starts_at_clock > 0);
    // a client from before the history start now needs a full wipe
    h.connect("late", 1);
    BOOST_TEST(h.last_event("late", "connect")->as_object().at("hydrationType") == "wipe_all");
}

BOOST_AUTO_TEST_SUITE_END()
