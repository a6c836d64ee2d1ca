// The generated tldraw schema against what the real @tldraw/tlschema 5.4.2
// produced (fixtures/tldraw_schema.json, written by scripts/gen-tldraw-schema).
#include "core/memory_storage.hpp"
#include "core/tldraw_schema.hpp"

#include <boost/json/parse.hpp>
#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

using namespace tlsync;
using namespace tlsync::core;

BOOST_TEST_DONT_PRINT_LOG_VALUE(tlsync::core::migration_failure)

namespace {

const json::object& fixture() {
    static const json::object f = [] {
        auto path = std::filesystem::path(TLSYNC_SOURCE_DIR) / "test/unit/core/fixtures" / "tldraw_schema.json";
        std::ifstream in(path);
        if (!in) throw std::runtime_error("cannot open " + path.string());
        std::stringstream ss;
        ss << in.rdbuf();
        return json::parse(ss.str()).as_object();
    }();
    return f;
}

json::object obj(std::string_view text) { return json::parse(text).as_object(); }

// The current schema with some sequences set back, i.e. an older client's.
json::object older(std::initializer_list<std::pair<std::string_view, int>> versions, bool drop_user = false) {
    json::object s = make_tldraw_schema()->serialize();
    auto& seqs = s["sequences"].as_object();
    for (auto [id, v] : versions) seqs[id] = v;
    if (drop_user) seqs.erase("com.tldraw.user");
    return s;
}

} // namespace

BOOST_AUTO_TEST_SUITE(schema)

BOOST_AUTO_TEST_CASE(rc1_tldraw_serialize_matches_package) {
    auto s = make_tldraw_schema();
    BOOST_TEST(deep_equal(s->serialize(), fixture().at("serialized").as_object()));
    BOOST_TEST(s->serialize().at("sequences").as_object().size() == 28u);
    BOOST_TEST(s->sequences().size() == 28u);
    BOOST_TEST(s.get() == make_tldraw_schema().get()); // one shared instance
}

BOOST_AUTO_TEST_CASE(rc2_tldraw_types_and_single_presence_type) {
    auto s = make_tldraw_schema();
    const auto& types = fixture().at("types").as_object();
    BOOST_TEST(s->types().size() == types.size());
    int presence = 0;
    for (const auto& t : s->types()) {
        const char* scope = t.scope == record_scope::document ? "document"
                            : t.scope == record_scope::session ? "session"
                                                               : "presence";
        BOOST_TEST(types.at(t.type_name).as_string() == scope, t.type_name);
        presence += t.scope == record_scope::presence;
    }
    BOOST_TEST(presence == 1);
    BOOST_TEST_REQUIRE(s->presence_type() != nullptr);
    BOOST_TEST(s->presence_type()->type_name == "instance_presence");
}

BOOST_AUTO_TEST_CASE(tldraw_sorted_migrations_match_package_order) {
    std::vector<std::string> want, got;
    for (const auto& id : fixture().at("sortedMigrationIds").as_array()) want.emplace_back(id.as_string());
    for (const auto* m : make_tldraw_schema()->sorted_migrations()) got.push_back(m->id);
    BOOST_TEST(got == want, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(mg3_hs3_tldraw_client_schemas) {
    auto s = make_tldraw_schema();
    // A current client: nothing to do.
    auto same = s->migrations_since(fixture().at("serialized"));
    BOOST_TEST_REQUIRE(same.has_value());
    BOOST_TEST(same->empty());
    // tldraw 5.0.0's schema: every step has a ported down, so it is served.
    auto v50 = s->migrations_since(older({{"com.tldraw.shape.draw", 4},
                                          {"com.tldraw.shape.geo", 11},
                                          {"com.tldraw.shape.highlight", 3},
                                          {"com.tldraw.shape.note", 12}}));
    BOOST_TEST_REQUIRE(v50.has_value());
    BOOST_TEST(v50->steps().size() == 4u);
    BOOST_TEST(v50->can_migrate_down());
    // tldraw 4.5 lacked com.tldraw.user, whose only migration has no down
    // upstream either: CLIENT_TOO_OLD, as with the JS server.
    auto v45 = s->migrations_since(older({{"com.tldraw.shape.draw", 4},
                                          {"com.tldraw.shape.geo", 11},
                                          {"com.tldraw.shape.highlight", 3},
                                          {"com.tldraw.shape.note", 10}},
                                         true));
    BOOST_TEST_REQUIRE(v45.has_value());
    BOOST_TEST(!v45->can_migrate_down());
    // A client newer than us: no plan.
    BOOST_TEST(!s->migrations_since(older({{"com.tldraw.shape.geo", 13}})).has_value());
    // Unported migrations never offer a down step.
    auto v_rich = s->migrations_since(older({{"com.tldraw.shape.text", 2}}));
    BOOST_TEST(!v_rich->can_migrate_down());
}

BOOST_AUTO_TEST_CASE(mg1_mg2_tldraw_shape_round_trip_for_a_5_0_client) {
    auto s = make_tldraw_schema();
    auto plan = *s->migrations_since(older({{"com.tldraw.shape.note", 12}}));
    auto note = obj(R"({"id":"shape:n","typeName":"shape","type":"note","props":{"textLastEditedBy":"user:1"}})");
    auto down = s->migrate_record(note, plan, migration_direction::down);
    BOOST_TEST_REQUIRE(bool(down));
    BOOST_TEST(deep_equal(down.value->at("props"), json::parse(R"({"textFirstEditedBy":"user:1"})")));
    auto up = s->migrate_record(*down.value, plan, migration_direction::up);
    BOOST_TEST(deep_equal(*up.value, note));

    auto draw_plan = *s->migrations_since(older({{"com.tldraw.shape.draw", 4}}));
    auto draw = obj(R"({"id":"shape:d","typeName":"shape","type":"draw",
                        "props":{"segments":[{"type":"free","path":"AAA","dim":3},{"type":"free","path":"BBB"}]}})");
    auto d = s->migrate_record(draw, draw_plan, migration_direction::down);
    BOOST_TEST_REQUIRE(bool(d));
    BOOST_TEST(deep_equal(d.value->at("props").at("segments"),
                          json::parse(R"([{"type":"free","path":"AAA"},{"type":"free","path":"BBB"}])")));
    // 2D paths would need re-encoding: refused rather than sent wrong.
    draw["props"].as_object()["segments"].as_array()[0].as_object()["dim"] = 2;
    BOOST_TEST(s->migrate_record(draw, draw_plan, migration_direction::down).failure ==
               migration_failure::migration_error);
}

BOOST_AUTO_TEST_CASE(tldraw_validators_check_base_shape) {
    auto s = make_tldraw_schema();
    BOOST_CHECK_NO_THROW(s->validate_record(obj(R"({"id":"shape:1","typeName":"shape","type":"group","x":0,"y":0,
        "rotation":0,"index":"a1","parentId":"page:1","isLocked":false,"opacity":1,"props":{},"meta":{}})")));
    BOOST_CHECK_NO_THROW(s->validate_record(obj(R"({"id":"page:1","typeName":"page","name":"P","index":"a1","meta":{}})")));
    // Full validators: a stub record is no longer enough.
    BOOST_CHECK_THROW(s->validate_record(obj(R"({"id":"shape:1","typeName":"shape","type":"geo","props":{}})")),
                      validation_error);
    BOOST_CHECK_THROW(s->validate_record(obj(R"({"id":"page:1","typeName":"page","name":"P"})")), validation_error);
    BOOST_CHECK_THROW(s->validate_record(obj(R"({"id":"shape:1","typeName":"shape","type":"blob","props":{}})")),
                      validation_error);
    BOOST_CHECK_THROW(s->validate_record(obj(R"({"id":"shape:1","typeName":"shape","type":"geo"})")), validation_error);
    BOOST_CHECK_THROW(s->validate_record(obj(R"({"id":"page:1","typeName":"shape","type":"geo","props":{}})")),
                      validation_error);
}

BOOST_AUTO_TEST_CASE(sl4_im5_tldraw_storage_from_earliest_schema) {
    auto s = make_tldraw_schema();
    auto earliest = s->serialize_earliest_version();
    BOOST_TEST(earliest.at("sequences").as_object().size() == 28u);
    for (const auto& [id, v] : earliest.at("sequences").as_object()) BOOST_TEST(v == 0, id);

    // Recent-enough records migrate; unmatched unported steps do not fire.
    room_snapshot snap;
    snap.schema = older({{"com.tldraw.shape.geo", 11}, {"com.tldraw.instance", 25}});
    snap.documents.push_back({obj(R"({"id":"shape:g","typeName":"shape","type":"geo","index":"a1","props":{}})"), 0});
    snap.documents.push_back({obj(R"({"id":"instance:i","typeName":"instance"})"), 0});
    memory_storage ok(std::move(snap));
    ok.transaction([&](storage_txn& t) { s->migrate_storage(t); });
    auto out = ok.get_snapshot();
    BOOST_TEST(deep_equal(*out.schema, s->serialize()));
    BOOST_TEST_REQUIRE(out.documents.size() == 1u); // the session-scoped instance is dropped
    BOOST_TEST(deep_equal(out.documents[0].state.at("props"), json::parse(R"({"flipX":false,"flipY":false})")));

    // An empty room at the earliest schema runs every storage step.
    room_snapshot empty;
    empty.schema = s->serialize_earliest_version();
    memory_storage e(std::move(empty));
    BOOST_CHECK_NO_THROW(e.transaction([&](storage_txn& t) { s->migrate_storage(t); }));

    // Data that needs an unported step refuses to load.
    room_snapshot old;
    old.schema = older({{"com.tldraw.shape.embed", 0}});
    old.documents.push_back(
        {obj(R"({"id":"shape:e","typeName":"shape","type":"embed","props":{"url":"https://x.y","doesResize":true}})"), 0});
    memory_storage o(std::move(old));
    try {
        o.transaction([&](storage_txn& t) { s->migrate_storage(t); });
        BOOST_FAIL("expected a throw");
    } catch (const std::runtime_error& e) {
        BOOST_TEST(std::string(e.what()).find("com.tldraw.shape.embed/1 not supported") != std::string::npos, e.what());
    }
}

BOOST_AUTO_TEST_CASE(tldraw_ported_migrations_are_listed) {
    const auto& ported = tldraw_ported_migrations();
    auto has = [&](std::string_view id) {
        return std::any_of(ported.begin(), ported.end(), [&](const auto& p) { return p.id == id; });
    };
    // The latest migration of every non-empty sequence has a port.
    for (const auto& seq : make_tldraw_schema()->sequences())
        if (!seq.migrations.empty()) BOOST_TEST(has(seq.migrations.back().id), seq.migrations.back().id);
}

BOOST_AUTO_TEST_SUITE_END()
