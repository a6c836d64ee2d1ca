// memory_storage specifics: snapshot normalization (IM1-IM6) and delta_since.

#include "storage_test_util.hpp"

#include <boost/test/unit_test.hpp>

using namespace tlsync;
using namespace tlsync::test;

namespace {

room_snapshot base_snapshot() {
    room_snapshot s;
    s.schema = obj(R"({"schemaVersion":2,"sequences":{}})");
    return s;
}

} // namespace

BOOST_AUTO_TEST_SUITE(memory_storage)

BOOST_AUTO_TEST_CASE(IM1_document_clock_clamped_up_to_newest_clock) {
    auto s = base_snapshot();
    s.document_clock = 2;
    s.tombstone_history_starts_at_clock = 1;
    s.documents = {{rec("shape:a"), 5}};
    s.tombstones = {{"shape:x", 9}};
    core::memory_storage m(s);
    BOOST_TEST(m.get_clock() == 9);
    s.tombstones.clear();
    BOOST_TEST(core::memory_storage(s).get_clock() == 5);
}

BOOST_AUTO_TEST_CASE(IM2_history_start_clamped_down_to_document_clock) {
    auto s = base_snapshot();
    s.document_clock = 4;
    s.tombstone_history_starts_at_clock = 10;
    core::memory_storage m(s);
    BOOST_TEST(m.tombstone_history_starts_at_clock() == 4);
}

BOOST_AUTO_TEST_CASE(IM3_tombstones_dropped_when_history_is_empty) {
    auto s = base_snapshot();
    s.document_clock = 6;
    s.tombstone_history_starts_at_clock = 6;
    s.tombstones = {{"shape:x", 3}};
    BOOST_TEST(core::memory_storage(s).tombstone_count() == 0u);
    s.tombstone_history_starts_at_clock = 2;
    BOOST_TEST(core::memory_storage(s).tombstone_count() == 1u);
}

BOOST_AUTO_TEST_CASE(IM5_schema_fallbacks) {
    auto s = base_snapshot();
    s.schema.reset();
    const auto given = obj(R"({"schemaVersion":2,"sequences":{"a":0}})");
    BOOST_TEST(deep_equal(*core::memory_storage(s, given).get_snapshot().schema, given));
    const auto earliest = *core::memory_storage(s).get_snapshot().schema;
    BOOST_TEST(earliest.at("sequences").as_object().at("com.tldraw.shape.geo").as_int64() == 0);
    BOOST_TEST(earliest.at("sequences").as_object().size() ==
               default_initial_snapshot().schema->at("sequences").as_object().size());
    // a snapshot's own schema wins over the default
    BOOST_TEST(deep_equal(*core::memory_storage(base_snapshot(), given).get_snapshot().schema,
                          *base_snapshot().schema));
}

BOOST_AUTO_TEST_CASE(IM6_duplicate_ids_last_wins) {
    auto s = base_snapshot();
    s.documents = {{rec("shape:a", {{"v", 1}}), 1}, {rec("shape:a", {{"v", 2}}), 2}};
    core::memory_storage m(s);
    const auto snap = m.get_snapshot();
    BOOST_REQUIRE(snap.documents.size() == 1u);
    BOOST_TEST(snap.documents[0].state.at("v").as_int64() == 2);
}

BOOST_AUTO_TEST_CASE(delta_since_reports_changes_after_clock) {
    core::memory_storage m;
    m.transaction([](storage_txn& t) { t.set("shape:a", rec("shape:a")); }); // 1
    m.transaction([](storage_txn& t) { t.set("shape:b", rec("shape:b")); }); // 2
    m.transaction([](storage_txn& t) { t.remove("page:page"); });            // 3
    const auto d = m.delta_since(1);
    BOOST_TEST(!d.full);
    BOOST_TEST(d.document_clock == 3);
    BOOST_TEST(d.tombstone_history_starts_at_clock == 0);
    BOOST_REQUIRE(d.documents.size() == 1u);
    BOOST_TEST(d.documents[0].state.at("id").as_string() == "shape:b");
    BOOST_TEST(d.documents[0].last_changed_clock == 2);
    BOOST_TEST(d.tombstones ==
               (std::map<std::string, std::int64_t, std::less<>>{{"page:page", 3}}));
    BOOST_TEST(d.schema.has_value());

    const auto none = m.delta_since(3);
    BOOST_TEST(!none.full);
    BOOST_TEST(none.documents.empty());
    BOOST_TEST(none.tombstones.empty());
}

BOOST_AUTO_TEST_CASE(delta_since_leaves_out_a_schema_the_receiver_has) {
    core::memory_storage m;
    const auto v1 = m.schema_version();
    m.transaction([](storage_txn& t) { t.set("shape:a", rec("shape:a")); });
    BOOST_TEST(m.delta_since(0).schema.has_value()); // version unknown: sent
    BOOST_TEST(!m.delta_since(0, v1).schema.has_value());
    BOOST_TEST(m.delta_since(0, v1).schema_version == v1);
    BOOST_TEST(m.delta_since(0, v1).documents.size() == 1u);

    const auto changed = obj(R"({"schemaVersion":2,"sequences":{"x":1}})");
    m.transaction([&](storage_txn& t) { t.set_schema(changed); });
    const auto d = m.delta_since(0, v1);
    BOOST_TEST(d.schema_version != v1);
    BOOST_REQUIRE(d.schema.has_value());
    BOOST_TEST(deep_equal(*d.schema, changed));
    BOOST_TEST(!m.delta_since(0, d.schema_version).schema.has_value());

    // A rolled-back change still counts as one: sending the schema once more
    // is harmless, missing a change is not.
    const auto v2 = m.schema_version();
    try {
        m.transaction([](storage_txn& t) {
            t.set_schema(obj(R"({"schemaVersion":2,"sequences":{"x":2}})"));
            throw std::runtime_error("rolled back");
        });
    } catch (const std::runtime_error&) {
    }
    const auto after = m.delta_since(0, v2);
    BOOST_REQUIRE(after.schema.has_value());
    BOOST_TEST(deep_equal(*after.schema, changed));
}

BOOST_AUTO_TEST_CASE(delta_since_is_full_before_history_or_from_the_future) {
    auto s = base_snapshot();
    s.document_clock = 10;
    s.tombstone_history_starts_at_clock = 5;
    s.documents = {{rec("shape:a"), 3}};
    s.tombstones = {{"shape:x", 7}};
    core::memory_storage m(s);
    const auto d = m.delta_since(4, m.schema_version());
    BOOST_TEST(d.full);
    BOOST_TEST(d.schema.has_value()); // a full delta replaces everything
    BOOST_TEST(d.documents.size() == 1u);
    BOOST_TEST(d.tombstones.size() == 1u);
    BOOST_TEST(!m.delta_since(5).full);
    BOOST_TEST(m.delta_since(11).full);
}

BOOST_AUTO_TEST_CASE(get_pointer_tracks_writes_in_the_same_transaction) {
    core::memory_storage m;
    m.transaction([](storage_txn& t) {
        t.set("shape:a", rec("shape:a", {{"x", 1}}));
        const auto* p = t.get("shape:a");
        t.set("shape:a", rec("shape:a", {{"x", 2}}));
        BOOST_TEST(t.get("shape:a")->at("x").as_int64() == 2);
        BOOST_TEST(p == t.get("shape:a")); // the same slot, updated in place
    });
}

BOOST_AUTO_TEST_SUITE_END()
