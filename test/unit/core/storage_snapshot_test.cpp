// RoomSnapshot JSON (SL1, SS17), the default room (SS1) and toNetworkDiff (ND2).

#include "storage_test_util.hpp"

#include <boost/test/unit_test.hpp>

using namespace tlsync;
using namespace tlsync::test;

BOOST_AUTO_TEST_SUITE(snapshot)

BOOST_AUTO_TEST_CASE(SL1_room_snapshot_from_json) {
    const auto s = room_snapshot_from_json(json::parse(R"({
        "documentClock": 12, "tombstoneHistoryStartsAtClock": 4,
        "documents": [{"state": {"id": "shape:a", "typeName": "shape"}, "lastChangedClock": 11.0}],
        "tombstones": {"shape:b": 9},
        "schema": {"schemaVersion": 2, "sequences": {}}})"));
    BOOST_TEST(s.document_clock == 12);
    BOOST_TEST(s.tombstone_history_starts_at_clock == 4);
    BOOST_REQUIRE(s.documents.size() == 1u);
    BOOST_TEST(s.documents[0].last_changed_clock == 11);
    BOOST_TEST(s.tombstones.at("shape:b") == 9);
    BOOST_TEST(s.schema.has_value());
}

BOOST_AUTO_TEST_CASE(SL1_store_snapshot_converted_at_clock_0) {
    const auto s = room_snapshot_from_json(json::parse(R"({
        "store": {"shape:a": {"id": "shape:a", "typeName": "shape"}, "page:p": {"id": "page:p", "typeName": "page"}},
        "schema": {"schemaVersion": 2, "sequences": {"x": 1}}})"));
    BOOST_TEST(s.document_clock == 0);
    BOOST_TEST(s.tombstone_history_starts_at_clock == 0);
    BOOST_TEST(s.documents.size() == 2u);
    for (const auto& d : s.documents)
        BOOST_TEST(d.last_changed_clock == 0);
    BOOST_TEST(s.tombstones.empty());
    BOOST_TEST(s.schema->at("sequences").as_object().at("x").as_int64() == 1);
}

BOOST_AUTO_TEST_CASE(SS17_fallbacks_in_json) {
    auto s = room_snapshot_from_json(json::parse(R"({"clock": 5, "documents": []})"));
    BOOST_TEST(s.document_clock == 5);
    BOOST_TEST(s.tombstone_history_starts_at_clock == 5);
    BOOST_TEST(!s.schema.has_value());
    s = room_snapshot_from_json(
        json::parse(R"({"documentClock": null, "clock": 3, "documents": []})"));
    BOOST_TEST(s.document_clock == 3); // `??` treats null as missing
    s = room_snapshot_from_json(
        json::parse(R"({"documentClock": 8, "clock": 3, "documents": []})"));
    BOOST_TEST(s.document_clock == 8);
    s = room_snapshot_from_json(json::parse(R"({"documents": []})"));
    BOOST_TEST(s.document_clock == 0);
}

BOOST_AUTO_TEST_CASE(SL1_malformed_snapshots_name_the_field) {
    auto fails_on = [](std::string_view text, std::string_view field) {
        try {
            (void)room_snapshot_from_json(json::parse(text));
        } catch (const std::invalid_argument& e) {
            return std::string(e.what()).find(field) != std::string::npos;
        }
        return false;
    };
    BOOST_TEST(fails_on(R"([])", "snapshot"));
    BOOST_TEST(fails_on(R"({"x": 1})", "documents"));
    BOOST_TEST(fails_on(R"({"documents": {}})", "documents"));
    BOOST_TEST(fails_on(R"({"documents": [{"state": {"typeName": "shape"}}]})", "state"));
    BOOST_TEST(fails_on(R"({"documentClock": "1", "documents": []})", "documentClock"));
    BOOST_TEST(fails_on(R"({"documentClock": 1.5, "documents": []})", "documentClock"));
    BOOST_TEST(fails_on(R"({"documents": [], "tombstones": {"a": true}})", "tombstones.a"));
    BOOST_TEST(fails_on(R"({"store": []})", "store"));
}

BOOST_AUTO_TEST_CASE(to_json_round_trips) {
    room_snapshot s;
    s.document_clock = 7;
    s.tombstone_history_starts_at_clock = 2;
    s.documents = {{rec("shape:a", {{"x", 1}}), 6}};
    s.tombstones = {{"shape:b", 5}};
    s.schema = obj(R"({"schemaVersion":2,"sequences":{}})");
    const auto j = to_json(s);
    BOOST_TEST(j.at("documentClock").as_int64() == 7);
    BOOST_TEST(j.at("documents").as_array()[0].as_object().at("lastChangedClock").as_int64() == 6);
    const auto back = room_snapshot_from_json(j);
    BOOST_TEST((normalized_state(back) == normalized_state(s)));
    BOOST_TEST(back.tombstones == s.tombstones);
}

BOOST_AUTO_TEST_CASE(SS1_default_initial_snapshot_records) {
    const auto s = default_initial_snapshot();
    BOOST_TEST(s.document_clock == 0);
    BOOST_TEST(s.tombstone_history_starts_at_clock == 0);
    BOOST_REQUIRE(s.documents.size() == 2u);
    BOOST_TEST(
        json::serialize(s.documents[0].state) ==
        R"({"gridSize":10,"name":"","meta":{},"id":"document:document","typeName":"document"})");
    BOOST_TEST(json::serialize(s.documents[1].state) ==
               R"({"meta":{},"id":"page:page","name":"Page 1","index":"a1","typeName":"page"})");
    const auto& seq = s.schema->at("sequences").as_object();
    BOOST_TEST(s.schema->at("schemaVersion").as_int64() == 2);
    BOOST_TEST(seq.size() == 28u);
    BOOST_TEST(seq.at("com.tldraw.document").as_int64() == 2);
    BOOST_TEST(seq.at("com.tldraw.shape.note").as_int64() == 13);
}

BOOST_AUTO_TEST_CASE(ND2_to_network_diff) {
    forward_diff d;
    d.puts.emplace_back("shape:new", forward_put{std::nullopt, rec("shape:new")});
    d.puts.emplace_back("shape:upd",
                        forward_put{rec("shape:upd", {{"x", 1}}), rec("shape:upd", {{"x", 2}})});
    d.puts.emplace_back(
        "shape:same", forward_put{rec("shape:same", {{"x", 1}}), rec("shape:same", {{"x", 1.0}})});
    d.deletes.push_back("shape:gone");
    const auto n = to_network_diff(d);
    BOOST_TEST(n.size() == 3u);
    BOOST_REQUIRE(n.find("shape:new"));
    BOOST_TEST((n.find("shape:new")->type == proto::record_op_type::put));
    BOOST_REQUIRE(n.find("shape:upd"));
    BOOST_TEST((n.find("shape:upd")->type == proto::record_op_type::patch));
    BOOST_TEST(n.find("shape:upd")->value.contains("x"));
    BOOST_TEST(!n.find("shape:same")); // no empty patches
    BOOST_REQUIRE(n.find("shape:gone"));
    BOOST_TEST((n.find("shape:gone")->type == proto::record_op_type::remove));
}

BOOST_AUTO_TEST_SUITE_END()
