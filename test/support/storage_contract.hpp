#pragma once
// The TLSyncStorage contract (SS1-SS17, SL2-SL3) as test cases templated
// on a storage factory, so every implementation runs the same cases:
// memory_storage and sqlite_storage in test_core
// (test/unit/core/storage_contract_test.cpp), pg_room_storage in
// test_postgres (test/postgres/pg_room_storage_test.cpp).
//
// The including file declares, before including this once:
//   namespace tlsync::test { using contract_factories = boost::mpl::list<...>; }
// A factory F has `std::unique_ptr<sync_storage> make(std::optional<room_snapshot> = {})`,
// each call a new, independent room. TLSYNC_STORAGE_CONTRACT_DECORATORS, if
// defined, decorates the suite (e.g. a precondition that skips it).

#include "unit/core/storage_test_util.hpp"

#include <boost/test/unit_test.hpp>

namespace tlsync::test::contract {


inline void put(sync_storage& s, std::vector<json::object> records) {
    s.transaction([&](storage_txn& t) {
        for (auto& r : records) {
            const std::string id(r.at("id").as_string());
            t.set(id, std::move(r));
        }
    });
}

inline void del(sync_storage& s, std::string_view id) {
    s.transaction([&](storage_txn& t) { t.remove(id); });
}

struct boom {};

} // namespace tlsync::test::contract

#ifndef TLSYNC_STORAGE_CONTRACT_DECORATORS
#define TLSYNC_STORAGE_CONTRACT_DECORATORS *boost::unit_test::label("storage")
#endif

BOOST_AUTO_TEST_SUITE(storage_contract, TLSYNC_STORAGE_CONTRACT_DECORATORS)

using namespace tlsync;
using namespace tlsync::test;
using namespace tlsync::test::contract;

BOOST_AUTO_TEST_CASE_TEMPLATE(SS1_seeds_default_initial_snapshot, F, contract_factories) {
    F f;
    auto s = f.make();
    const auto snap = s->get_snapshot();
    const auto def = default_initial_snapshot();
    BOOST_TEST(s->get_clock() == 0);
    BOOST_TEST(snap.document_clock == 0);
    BOOST_TEST(snap.tombstone_history_starts_at_clock == 0);
    BOOST_TEST(snap.tombstones.empty());
    BOOST_REQUIRE(snap.documents.size() == 2u);
    BOOST_TEST(deep_equal(
        find_doc(snap, "document:document")->state,
        obj(R"({"gridSize":10,"name":"","meta":{},"id":"document:document","typeName":"document"})")));
    BOOST_TEST(deep_equal(
        find_doc(snap, "page:page")->state,
        obj(R"({"meta":{},"id":"page:page","name":"Page 1","index":"a1","typeName":"page"})")));
    BOOST_REQUIRE(snap.schema);
    BOOST_TEST(deep_equal(*snap.schema, *def.schema));
}

BOOST_AUTO_TEST_CASE_TEMPLATE(SS2_SS3_result_reports_clock_and_did_change, F, contract_factories) {
    F f;
    auto s = f.make();
    auto r = s->transaction([](storage_txn& t) { t.set("shape:a", rec("shape:a")); });
    BOOST_TEST(r.document_clock == 1);
    BOOST_TEST(r.did_change);
    BOOST_TEST(!r.changes.has_value());

    r = s->transaction([](storage_txn& t) { (void)t.get("shape:a"); });
    BOOST_TEST(r.document_clock == 1);
    BOOST_TEST(!r.did_change);
    // A schema write does not advance the clock, so it is not a change.
    r = s->transaction(
        [](storage_txn& t) { t.set_schema(obj(R"({"schemaVersion":2,"sequences":{}})")); });
    BOOST_TEST(!r.did_change);
    r = s->transaction([](storage_txn& t) { t.remove("shape:nope"); });
    BOOST_TEST(!r.did_change);
    BOOST_TEST(r.document_clock == 1);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(SS5_throwing_callback_rolls_back_everything, F, contract_factories) {
    F f;
    auto s = f.make();
    put(*s, {rec("shape:a", {{"x", 1}}), rec("shape:b")});
    del(*s, "shape:b");
    const auto before = s->get_snapshot();
    int notified = 0;
    s->on_change([&](const change_event&) { ++notified; });

    BOOST_CHECK_THROW(s->transaction([](storage_txn& t) {
        t.set("shape:a", rec("shape:a", {{"x", 2}}));
        t.set("shape:b", rec("shape:b")); // clears b's tombstone
        t.set("shape:c", rec("shape:c"));
        t.remove("page:page"); // writes a tombstone
        t.set_schema(obj(R"({"schemaVersion":2,"sequences":{"x":1}})"));
        throw boom{};
    }),
                      boom);
    BOOST_TEST(notified == 0);
    BOOST_TEST(s->get_clock() == before.document_clock);
    BOOST_TEST((normalized_state(s->get_snapshot()) == normalized_state(before)));
    BOOST_TEST(s->get_snapshot().tombstones == before.tombstones);
    // and the storage still works afterwards
    put(*s, {rec("shape:d")});
    BOOST_TEST(s->get_clock() == before.document_clock + 1);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(SS6_listeners_get_id_and_clock_after_commit, F, contract_factories) {
    F f;
    auto s = f.make();
    std::vector<change_event> events;
    const auto token = s->on_change([&](const change_event& e) {
        // committed by now: the storage reports the new clock
        BOOST_TEST(s->get_clock() == e.document_clock);
        events.push_back(e);
    });
    s->transaction([](storage_txn& t) { t.set("shape:a", rec("shape:a")); }, {.id = "push-1"});
    BOOST_REQUIRE(events.size() == 1u);
    BOOST_TEST(events[0].id == "push-1");
    BOOST_TEST(events[0].document_clock == 1);

    s->transaction([](storage_txn& t) { (void)t.get("shape:a"); }, {.id = "read"});
    BOOST_TEST(events.size() == 1u); // read-only: no notification

    s->unsubscribe(token);
    put(*s, {rec("shape:b")});
    BOOST_TEST(events.size() == 1u);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(SS6_listener_may_start_a_transaction, F, contract_factories) {
    F f;
    auto s = f.make();
    bool again = true;
    s->on_change([&](const change_event&) {
        if (std::exchange(again, false)) put(*s, {rec("shape:echo")});
    });
    put(*s, {rec("shape:a")});
    BOOST_TEST(s->get_clock() == 2);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(SS7_emit_changes_is_the_forward_diff, F, contract_factories) {
    F f;
    auto s = f.make();
    put(*s, {rec("shape:a", {{"x", 1}}), rec("shape:b")});
    const auto r = s->transaction(
        [](storage_txn& t) {
            t.set("shape:a", rec("shape:a", {{"x", 2}}));
            t.set("shape:a", rec("shape:a", {{"x", 3}})); // before stays the pre-transaction state
            t.set("shape:new", rec("shape:new"));
            t.remove("shape:b");
            t.set("shape:tmp", rec("shape:tmp"));
            t.remove("shape:tmp");
        },
        {.emit_changes = true});
    BOOST_REQUIRE(r.changes.has_value());
    const auto& d = *r.changes;
    BOOST_TEST(sorted_ids(d) == (std::vector<std::string>{"shape:a", "shape:new"}));
    BOOST_TEST(sorted(d.deletes) == (std::vector<std::string>{"shape:b", "shape:tmp"}));
    for (const auto& [id, p] : d.puts) {
        if (id == "shape:a") {
            BOOST_REQUIRE(p.before.has_value());
            BOOST_TEST(p.before->at("x").as_int64() == 1);
            BOOST_TEST(p.after.at("x").as_int64() == 3);
        } else {
            BOOST_TEST(!p.before.has_value());
            BOOST_TEST(deep_equal(p.after, rec("shape:new")));
        }
    }
    // Requested but nothing written: an empty diff.
    const auto r2 = s->transaction([](storage_txn&) {}, {.emit_changes = true});
    BOOST_REQUIRE(r2.changes.has_value());
    BOOST_TEST(r2.changes->empty());
}

BOOST_AUTO_TEST_CASE_TEMPLATE(SS8_SS9_txn_clock_then_one_increment, F, contract_factories) {
    F f;
    auto s = f.make();
    put(*s, {rec("shape:a")});
    s->transaction([&](storage_txn& t) {
        BOOST_TEST(t.get_clock() == 1);
        t.set("shape:b", rec("shape:b"));
        BOOST_TEST(t.get_clock() == 2);
        t.set("shape:c", rec("shape:c"));
        t.remove("shape:a");
        t.set("shape:a", rec("shape:a"));
        BOOST_TEST(t.get_clock() == 2);
    });
    BOOST_TEST(s->get_clock() == 2);
    const auto snap = s->get_snapshot();
    for (const char* id : {"shape:a", "shape:b", "shape:c"})
        BOOST_TEST(find_doc(snap, id)->last_changed_clock == 2);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(SS10_SS11_get_set, F, contract_factories) {
    F f;
    auto s = f.make();
    s->transaction([](storage_txn& t) {
        BOOST_TEST(t.get("shape:a") == nullptr);
        t.set("shape:a", rec("shape:a", {{"x", 1}}));
        BOOST_REQUIRE(t.get("shape:a") != nullptr);
        BOOST_TEST(t.get("shape:a")->at("x").as_int64() == 1);
        BOOST_CHECK_THROW(t.set("shape:b", rec("shape:a")), storage_error);
        BOOST_CHECK_THROW(t.set("shape:b", json::object{{"typeName", "shape"}}), storage_error);
    });
    BOOST_TEST(find_doc(s->get_snapshot(), "shape:a")->last_changed_clock == 1);
    put(*s, {rec("shape:a", {{"x", 2}})});
    const auto snap = s->get_snapshot();
    BOOST_TEST(find_doc(snap, "shape:a")->last_changed_clock == 2);
    BOOST_TEST(find_doc(snap, "shape:a")->state.at("x").as_int64() == 2);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(SS11_set_clears_tombstone, F, contract_factories) {
    F f;
    auto s = f.make();
    put(*s, {rec("shape:a")});
    del(*s, "shape:a");
    BOOST_TEST(s->get_snapshot().tombstones.count("shape:a") == 1u);
    put(*s, {rec("shape:a")});
    const auto snap = s->get_snapshot();
    BOOST_TEST(snap.tombstones.count("shape:a") == 0u);
    BOOST_TEST(find_doc(snap, "shape:a")->last_changed_clock == 3);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(SS12_delete_writes_tombstone_at_txn_clock, F, contract_factories) {
    F f;
    auto s = f.make();
    BOOST_TEST(!s->tombstone_prune_requested());
    del(*s, "page:page");
    const auto snap = s->get_snapshot();
    BOOST_TEST(find_doc(snap, "page:page") == nullptr);
    BOOST_TEST(snap.tombstones.at("page:page") == 1);
    BOOST_TEST(s->tombstone_prune_requested()); // SS18
}

BOOST_AUTO_TEST_CASE_TEMPLATE(SS12_delete_absent_is_noop, F, contract_factories) {
    F f;
    auto s = f.make();
    const auto r = s->transaction([](storage_txn& t) { t.remove("shape:ghost"); });
    BOOST_TEST(!r.did_change);
    BOOST_TEST(s->get_clock() == 0);
    BOOST_TEST(s->get_snapshot().tombstones.empty());
    BOOST_TEST(!s->tombstone_prune_requested());
}

BOOST_AUTO_TEST_CASE_TEMPLATE(SS13_for_each_visits_documents_and_allows_writes, F,
                              contract_factories) {
    F f;
    auto s = f.make();
    put(*s, {rec("shape:a"), rec("shape:b")});
    std::vector<std::string> seen;
    s->transaction([&](storage_txn& t) {
        t.for_each([&](std::string_view id, const json::object& state) {
            BOOST_TEST(state.at("id").as_string() == id);
            seen.emplace_back(id);
            if (id == "document:document") t.remove("shape:b"); // both visit the document first
            if (id == "page:page") t.set("page:page", rec("page:page", {{"name", "renamed"}}));
        });
    });
    BOOST_TEST(std::count(seen.begin(), seen.end(), "shape:a") == 1);
    BOOST_TEST(std::count(seen.begin(), seen.end(), "page:page") == 1);
    BOOST_TEST(std::count(seen.begin(), seen.end(), "shape:b") == 0); // removed meanwhile: skipped
    std::vector<std::string> after;
    s->transaction([&](storage_txn& t) {
        t.for_each([&](std::string_view id, const json::object&) { after.emplace_back(id); });
    });
    BOOST_TEST(sorted(after) ==
               (std::vector<std::string>{"document:document", "page:page", "shape:a"}));
}

BOOST_AUTO_TEST_CASE_TEMPLATE(SS14_schema_get_set, F, contract_factories) {
    F f;
    auto s = f.make();
    const auto schema = obj(R"({"schemaVersion":2,"sequences":{"com.example":3}})");
    s->transaction([&](storage_txn& t) {
        BOOST_TEST(t.get_schema().has_value());
        t.set_schema(schema);
        BOOST_TEST(deep_equal(*t.get_schema(), schema));
    });
    BOOST_TEST(deep_equal(*s->get_snapshot().schema, schema));
}

BOOST_AUTO_TEST_CASE_TEMPLATE(SS15_get_changes_since, F, contract_factories) {
    F f;
    auto s = f.make();
    put(*s, {rec("shape:a")}); // 1
    put(*s, {rec("shape:b")}); // 2
    del(*s, "shape:a");        // 3
    put(*s, {rec("shape:c")}); // 4
    s->transaction([](storage_txn& t) {
        BOOST_TEST(!t.get_changes_since(4).has_value());
        auto c = t.get_changes_since(2);
        BOOST_REQUIRE(c.has_value());
        BOOST_TEST(!c->wipe_all);
        BOOST_TEST(sorted_ids(c->diff) == (std::vector<std::string>{"shape:c"}));
        BOOST_TEST(c->diff.deletes == (std::vector<std::string>{"shape:a"}));
        for (const auto& [id, p] : c->diff.puts)
            BOOST_TEST(!p.before.has_value());

        // history starts at 0: clock 0 is still incremental (boundary)
        c = t.get_changes_since(0);
        BOOST_TEST(!c->wipe_all);
        BOOST_TEST(c->diff.deletes.size() == 1u);

        // a clock from the future means the client is lost: everything, as from -1
        c = t.get_changes_since(99);
        BOOST_REQUIRE(c.has_value());
        BOOST_TEST(c->wipe_all);
        BOOST_TEST(c->diff.puts.size() == 4u);
        BOOST_TEST(c->diff.deletes.empty());

        // writes earlier in the same transaction are visible
        t.set("shape:d", rec("shape:d"));
        c = t.get_changes_since(4);
        BOOST_REQUIRE(c.has_value());
        BOOST_TEST(sorted_ids(c->diff) == (std::vector<std::string>{"shape:d"}));
    });
}

BOOST_AUTO_TEST_CASE_TEMPLATE(SS15_wipe_all_before_tombstone_history, F, contract_factories) {
    F f;
    room_snapshot snap;
    snap.document_clock = 10;
    snap.tombstone_history_starts_at_clock = 5;
    snap.documents = {{rec("shape:a"), 3}, {rec("shape:b"), 8}};
    snap.tombstones = {{"shape:x", 7}};
    snap.schema = default_initial_snapshot().schema;
    auto s = f.make(snap);
    s->transaction([](storage_txn& t) {
        auto c = t.get_changes_since(4);
        BOOST_TEST(c->wipe_all);
        BOOST_TEST(c->diff.puts.size() == 2u);
        BOOST_TEST(c->diff.deletes.empty());
        c = t.get_changes_since(5);
        BOOST_TEST(!c->wipe_all);
        BOOST_TEST(sorted_ids(c->diff) == (std::vector<std::string>{"shape:b"}));
        BOOST_TEST(c->diff.deletes == (std::vector<std::string>{"shape:x"}));
    });
}

BOOST_AUTO_TEST_CASE_TEMPLATE(SS16_get_snapshot_reflects_commits, F, contract_factories) {
    F f;
    auto s = f.make();
    put(*s, {rec("shape:a", {{"x", 1}})});
    del(*s, "page:page");
    const auto snap = s->get_snapshot();
    BOOST_TEST(snap.document_clock == 2);
    BOOST_TEST(snap.tombstone_history_starts_at_clock == 0);
    BOOST_TEST(snap.documents.size() == 2u);
    BOOST_TEST(find_doc(snap, "shape:a")->state.at("x").as_int64() == 1);
    BOOST_TEST(snap.tombstones ==
               (std::map<std::string, std::int64_t, std::less<>>{{"page:page", 2}}));
}

BOOST_AUTO_TEST_CASE_TEMPLATE(SS17_snapshot_clock_fallbacks, F, contract_factories) {
    F f;
    auto legacy =
        f.make(room_snapshot_from_json(json::parse(R"({"clock":7,"documents":[],"schema":{}})")));
    BOOST_TEST(legacy->get_clock() == 7);
    auto none = f.make(room_snapshot_from_json(json::parse(R"({"documents":[],"schema":{}})")));
    BOOST_TEST(none->get_clock() == 0);
    auto hist = f.make(
        room_snapshot_from_json(json::parse(R"({"documentClock":4,"documents":[],"schema":{}})")));
    BOOST_TEST(hist->get_snapshot().tombstone_history_starts_at_clock == 4);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(SL3_load_snapshot_writes_only_differences, F, contract_factories) {
    F f;
    auto s = f.make();
    put(*s, {rec("shape:same", {{"x", 1}}), rec("shape:changed", {{"x", 1}}),
             rec("shape:gone")}); // clock 1
    room_snapshot incoming;
    incoming.schema = obj(R"({"schemaVersion":2,"sequences":{"s":1}})");
    incoming.documents = {{rec("shape:same", {{"x", 1.0}}), 0}, // 1 == 1.0 in JavaScript
                          {rec("shape:changed", {{"x", 2}}), 0},
                          {rec("shape:new"), 0},
                          default_initial_snapshot().documents[0],
                          default_initial_snapshot().documents[1]};
    s->transaction([&](storage_txn& t) { load_snapshot_into_storage(t, incoming); });
    const auto snap = s->get_snapshot();
    BOOST_TEST(snap.document_clock == 2);
    BOOST_TEST(find_doc(snap, "shape:same")->last_changed_clock == 1);
    BOOST_TEST(find_doc(snap, "document:document")->last_changed_clock == 0);
    BOOST_TEST(find_doc(snap, "shape:changed")->last_changed_clock == 2);
    BOOST_TEST(find_doc(snap, "shape:new")->last_changed_clock == 2);
    BOOST_TEST(find_doc(snap, "shape:gone") == nullptr);
    BOOST_TEST(snap.tombstones.at("shape:gone") == 2);
    BOOST_TEST(deep_equal(*snap.schema, *incoming.schema));
}

BOOST_AUTO_TEST_CASE_TEMPLATE(SL2_load_snapshot_requires_schema, F, contract_factories) {
    F f;
    auto s = f.make();
    room_snapshot incoming;
    incoming.documents = {{rec("shape:a"), 0}};
    BOOST_CHECK_THROW(
        s->transaction([&](storage_txn& t) { load_snapshot_into_storage(t, incoming); }),
        storage_error);
    BOOST_TEST(s->get_clock() == 0);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(nested_transaction_is_refused, F, contract_factories) {
    F f;
    auto s = f.make();
    s->transaction([&](storage_txn&) {
        BOOST_CHECK_THROW(s->transaction([](storage_txn&) {}), storage_error);
    });
    put(*s, {rec("shape:a")});
    BOOST_TEST(s->get_clock() == 1);
}

BOOST_AUTO_TEST_SUITE_END()
