// core/schema.hpp on a small hand-built schema: two sequences (one
// retroactive), record- and storage-scoped steps with and without down,
// filters, and a dependsOn across sequences.
#include "core/memory_storage.hpp"
#include "core/schema.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/test/unit_test.hpp>

using namespace tlsync;
using namespace tlsync::core;

BOOST_TEST_DONT_PRINT_LOG_VALUE(tlsync::core::record_scope)
BOOST_TEST_DONT_PRINT_LOG_VALUE(tlsync::core::migration_failure)

namespace {

json::object obj(std::string_view text) { return json::parse(text).as_object(); }

std::function<bool(const json::object&)> of_type(std::string name) {
    return [name](const json::object& r) {
        const auto* t = r.if_contains("typeName");
        return t && t->is_string() && t->get_string() == name;
    };
}

// Sequence names start with com.tldraw. so schemaVersion 1 input maps onto them.
schema make_test_schema() {
    std::vector<record_type> types{
        {"book", record_scope::document,
         [](const json::object& r) {
             if (!r.contains("name") && !r.contains("title")) throw validation_error("at book: no name");
         }},
        {"author", record_scope::document, {}},
        {"cursor", record_scope::presence, {}},
        {"view", record_scope::session, {}},
    };
    migration_sequence book{"com.tldraw.book", true, {}};
    book.migrations.push_back({"com.tldraw.book/1", migration_scope::record, {}, of_type("book"),
                               [](json::object& r) { r["genre"] = "unknown"; },
                               [](json::object& r) { r.erase("genre"); }, {}});
    book.migrations.push_back({"com.tldraw.book/2", migration_scope::record, {}, of_type("book"),
                               [](json::object& r) {
                                   json::value title = r.at("title"); // copy: insertion may rehash
                                   r["name"] = std::move(title);
                                   r.erase("title");
                               },
                               [](json::object& r) {
                                   json::value name = r.at("name");
                                   r["title"] = std::move(name);
                                   r.erase("name");
                               },
                               {}});
    book.migrations.push_back({"com.tldraw.book/3", migration_scope::record, {}, of_type("book"),
                               [](json::object& r) {
                                   if (r.contains("explode")) throw std::runtime_error("boom");
                                   r["year"] = 0;
                               },
                               [](json::object& r) { r.erase("year"); }, {}});
    migration_sequence author{"com.tldraw.author", false, {}};
    author.migrations.push_back({"com.tldraw.author/1", migration_scope::storage, {}, {}, {}, {},
                                 [](storage_txn& txn) {
                                     std::vector<std::string> gone;
                                     txn.for_each([&](std::string_view id, const json::object& r) {
                                         if (r.contains("deleted")) gone.emplace_back(id);
                                     });
                                     for (const auto& id : gone) txn.remove(id);
                                 }});
    author.migrations.push_back({"com.tldraw.author/2", migration_scope::record, {"com.tldraw.book/2"},
                                 of_type("author"), [](json::object& r) { r["born"] = nullptr; },
                                 [](json::object& r) { r.erase("born"); }, {}});
    author.migrations.push_back({"com.tldraw.author/3", migration_scope::record, {}, of_type("author"),
                                 [](json::object& r) { r["alive"] = true; }, {}, {}});
    return schema(std::move(types), {std::move(book), std::move(author)});
}

std::vector<std::string> ids(const migration_plan& p) {
    std::vector<std::string> out;
    for (const auto* m : p.steps()) out.push_back(m->id);
    return out;
}

std::vector<std::string> plan_ids(const schema& s, std::string_view persisted) {
    auto p = s.migrations_since(json::parse(persisted));
    BOOST_TEST_REQUIRE(p.has_value(), "no plan for " << persisted);
    return ids(*p);
}

using strings = std::vector<std::string>;

} // namespace

BOOST_AUTO_TEST_SUITE(schema)

BOOST_AUTO_TEST_CASE(rc1_serialize_latest_versions_and_im5_earliest) {
    auto s = make_test_schema();
    BOOST_TEST(deep_equal(s.serialize(), obj(R"({"schemaVersion":2,"sequences":{"com.tldraw.book":3,"com.tldraw.author":3}})")));
    BOOST_TEST(deep_equal(s.serialize_earliest_version(),
                          obj(R"({"schemaVersion":2,"sequences":{"com.tldraw.book":0,"com.tldraw.author":0}})")));
    BOOST_TEST(&s.serialize() == &s.serialize()); // cached
}

BOOST_AUTO_TEST_CASE(rc2_at_most_one_presence_type) {
    auto s = make_test_schema();
    BOOST_TEST_REQUIRE(s.presence_type() != nullptr);
    BOOST_TEST(s.presence_type()->type_name == "cursor");
    BOOST_TEST(s.find_type("view")->scope == record_scope::session);
    BOOST_TEST(s.find_type("nope") == nullptr);
    BOOST_CHECK_THROW(core::schema({{"a", record_scope::presence, {}}, {"b", record_scope::presence, {}}}, {}),
                      std::invalid_argument);
    core::schema none({{"a", record_scope::document, {}}}, {});
    BOOST_TEST(none.presence_type() == nullptr);
}

BOOST_AUTO_TEST_CASE(constructor_rejects_malformed_sequences) {
    auto up = [](json::object&) {};
    auto one = [&](std::string seq, std::string id, std::vector<std::string> deps = {}) {
        return migration_sequence{seq, true, {{id, migration_scope::record, std::move(deps), {}, up, {}, {}}}};
    };
    BOOST_CHECK_THROW(core::schema({}, {one("s", "s/2")}), std::invalid_argument);
    BOOST_CHECK_THROW(core::schema({}, {one("s", "t/1")}), std::invalid_argument);
    BOOST_CHECK_THROW(core::schema({}, {one("a/b", "a/b/1")}), std::invalid_argument);
    BOOST_CHECK_THROW(core::schema({}, {one("s", "s/1"), one("s", "s/1")}), std::invalid_argument);
    BOOST_CHECK_THROW(core::schema({}, {one("s", "s/1", {"t/1"})}), std::invalid_argument);
    BOOST_CHECK_THROW(core::schema({}, {one("s", "s/1", {"t/1"}), one("t", "t/1", {"s/1"})}), std::invalid_argument);
    BOOST_CHECK_NO_THROW(core::schema({}, {one("s", "s/1", {"t/1"}), one("t", "t/1")}));
}

BOOST_AUTO_TEST_CASE(sorted_migrations_respect_sequence_order_and_depends_on) {
    auto s = make_test_schema();
    strings got;
    for (const auto* m : s.sorted_migrations()) got.push_back(m->id);
    // What @tldraw/store's sortMigrations gives for the same input.
    BOOST_TEST(got == (strings{"com.tldraw.author/1", "com.tldraw.book/1", "com.tldraw.book/2", "com.tldraw.author/2",
                               "com.tldraw.author/3", "com.tldraw.book/3"}),
               boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(mg3_equal_schema_needs_no_migration) {
    auto s = make_test_schema();
    auto p = s.migrations_since(s.serialize());
    BOOST_TEST_REQUIRE(p.has_value());
    BOOST_TEST(p->empty());
    BOOST_TEST(p->can_migrate_down());
    // Key order and number representation do not matter.
    BOOST_TEST(plan_ids(s, R"({"sequences":{"com.tldraw.author":3.0,"com.tldraw.book":3},"schemaVersion":2})").empty());
}

BOOST_AUTO_TEST_CASE(migrations_since_older_unknown_and_retroactive) {
    auto s = make_test_schema();
    BOOST_TEST(plan_ids(s, R"({"schemaVersion":2,"sequences":{"com.tldraw.book":1,"com.tldraw.author":3}})") ==
               (strings{"com.tldraw.book/2", "com.tldraw.book/3"}));
    // Version 0: the whole sequence.
    BOOST_TEST(plan_ids(s, R"({"schemaVersion":2,"sequences":{"com.tldraw.book":0,"com.tldraw.author":0}})").size() == 6u);
    // Sequences only the persisted side knows are ignored.
    BOOST_TEST(plan_ids(s, R"({"schemaVersion":2,"sequences":{"com.tldraw.book":3,"com.tldraw.author":3,"x.y":9}})").empty());
    // A retroactive sequence the persisted schema lacks: all of it; a
    // non-retroactive one: nothing.
    BOOST_TEST(plan_ids(s, R"({"schemaVersion":2,"sequences":{"com.tldraw.author":3}})") ==
               (strings{"com.tldraw.book/1", "com.tldraw.book/2", "com.tldraw.book/3"}));
    BOOST_TEST(plan_ids(s, R"({"schemaVersion":2,"sequences":{"com.tldraw.book":3}})").empty());
    // A non-number version: from the start when retroactive, else named as
    // JS's template string would name it.
    BOOST_TEST(plan_ids(s, R"({"schemaVersion":2,"sequences":{"com.tldraw.book":"2","com.tldraw.author":3}})").size() ==
               3u);
    BOOST_TEST(plan_ids(s, R"({"schemaVersion":2,"sequences":{"com.tldraw.book":3,"com.tldraw.author":"2"}})") ==
               (strings{"com.tldraw.author/3"}));
}

BOOST_AUTO_TEST_CASE(migrations_since_errors) {
    auto s = make_test_schema();
    for (auto bad : {R"({"schemaVersion":2,"sequences":{"com.tldraw.book":4}})",   // newer than ours
                     R"({"schemaVersion":2,"sequences":{"com.tldraw.book":1.5}})", // no such version
                     R"({"schemaVersion":2,"sequences":{"com.tldraw.author":null}})",
                     R"({"schemaVersion":2,"sequences":{"com.tldraw.author":-1}})",
                     R"({"schemaVersion":3,"sequences":{}})", R"({"schemaVersion":2})", R"({"sequences":{}})",
                     R"(null)", R"([1])"})
        BOOST_TEST(!s.migrations_since(json::parse(bad)).has_value(), bad);
}

BOOST_AUTO_TEST_CASE(migrations_since_upgrades_schema_version_1) {
    auto s = make_test_schema();
    // storeVersion and the author subtype become sequences we do not have.
    auto v1 = R"({"schemaVersion":1,"storeVersion":4,"recordVersions":{
        "book":{"version":1},
        "author":{"version":3,"subTypeKey":"kind","subTypeVersions":{"poet":2}}}})";
    BOOST_TEST(plan_ids(s, v1) == (strings{"com.tldraw.book/2", "com.tldraw.book/3"}));
    BOOST_TEST(!s.migrations_since(json::parse(R"({"schemaVersion":1,"storeVersion":1})")).has_value());
    BOOST_TEST(!s.migrations_since(json::parse(R"({"schemaVersion":1,"recordVersions":{"author":{"version":9}}})"))
                    .has_value());
}

BOOST_AUTO_TEST_CASE(hs3_can_migrate_down_only_record_steps_with_down) {
    auto s = make_test_schema();
    auto plan = [&](std::string_view j) { return *s.migrations_since(json::parse(j)); };
    BOOST_TEST(plan(R"({"schemaVersion":2,"sequences":{"com.tldraw.book":1,"com.tldraw.author":3}})").can_migrate_down());
    // author/3 has no down step.
    BOOST_TEST(!plan(R"({"schemaVersion":2,"sequences":{"com.tldraw.book":3,"com.tldraw.author":2}})").can_migrate_down());
    // author/1 is storage-scoped.
    BOOST_TEST(!plan(R"({"schemaVersion":2,"sequences":{"com.tldraw.book":3,"com.tldraw.author":0}})").can_migrate_down());
}

BOOST_AUTO_TEST_CASE(mg1_mg2_migrate_record_up_and_down_round_trip) {
    auto s = make_test_schema();
    auto p = *s.migrations_since(json::parse(R"({"schemaVersion":2,"sequences":{"com.tldraw.book":1,"com.tldraw.author":3}})"));
    auto old_book = obj(R"({"id":"book:1","typeName":"book","title":"Dune","genre":"unknown"})");
    auto up = s.migrate_record(old_book, p, migration_direction::up);
    BOOST_TEST_REQUIRE(bool(up));
    BOOST_TEST(deep_equal(*up.value, obj(R"({"id":"book:1","typeName":"book","name":"Dune","genre":"unknown","year":0})")));
    auto down = s.migrate_record(*up.value, p, migration_direction::down);
    BOOST_TEST_REQUIRE(bool(down));
    BOOST_TEST(deep_equal(*down.value, old_book));
    // Filters: an author is untouched by book steps.
    auto author = obj(R"({"id":"author:1","typeName":"author"})");
    BOOST_TEST(deep_equal(*s.migrate_record(author, p, migration_direction::up).value, author));
    // Empty plan: the record as is.
    auto none = *s.migrations_since(s.serialize());
    BOOST_TEST(deep_equal(*s.migrate_record(old_book, none, migration_direction::down).value, old_book));
}

BOOST_AUTO_TEST_CASE(migrate_record_failures) {
    auto s = make_test_schema();
    auto from = [&](std::string_view j) { return *s.migrations_since(json::parse(j)); };
    auto book = obj(R"({"id":"book:1","typeName":"book","title":"T","explode":true})");
    auto r = s.migrate_record(book, from(R"({"schemaVersion":2,"sequences":{"com.tldraw.book":2,"com.tldraw.author":3}})"),
                              migration_direction::up);
    BOOST_TEST(!r);
    BOOST_TEST(r.failure == migration_failure::migration_error);
    auto no_down = from(R"({"schemaVersion":2,"sequences":{"com.tldraw.book":3,"com.tldraw.author":2}})");
    BOOST_TEST(s.migrate_record(book, no_down, migration_direction::down).failure ==
               migration_failure::target_version_too_old);
    auto storage_step = from(R"({"schemaVersion":2,"sequences":{"com.tldraw.book":3,"com.tldraw.author":0}})");
    BOOST_TEST(s.migrate_record(book, storage_step, migration_direction::down).failure ==
               migration_failure::target_version_too_old);
    BOOST_TEST(s.migrate_record(book, storage_step, migration_direction::up).failure ==
               migration_failure::target_version_too_new);
}

BOOST_AUTO_TEST_CASE(sl4_rc3_migrate_storage) {
    auto s = make_test_schema();
    room_snapshot snap;
    snap.schema = obj(R"({"schemaVersion":2,"sequences":{"com.tldraw.book":1,"com.tldraw.author":0}})");
    for (auto r : {R"({"id":"book:1","typeName":"book","title":"Dune","genre":"sf"})",
                   R"({"id":"author:1","typeName":"author","deleted":true})", R"({"id":"author:2","typeName":"author"})",
                   R"({"id":"view:1","typeName":"view"})", R"({"id":"cursor:1","typeName":"cursor"})"})
        snap.documents.push_back({obj(r), 0});
    memory_storage store(std::move(snap));
    auto first = store.transaction([&](storage_txn& txn) { s.migrate_storage(txn); });
    BOOST_TEST(first.did_change);
    auto out = store.get_snapshot();
    BOOST_TEST(deep_equal(*out.schema, s.serialize()));
    json::object by_id;
    for (const auto& d : out.documents) by_id[d.state.at("id").as_string()] = d.state;
    BOOST_TEST(deep_equal(by_id, obj(R"({
        "book:1":{"id":"book:1","typeName":"book","name":"Dune","genre":"sf","year":0},
        "author:2":{"id":"author:2","typeName":"author","born":null,"alive":true}})")));
    // Re-running on migrated data changes nothing.
    auto second = store.transaction([&](storage_txn& txn) { s.migrate_storage(txn); });
    BOOST_TEST(!second.did_change);
    BOOST_TEST(store.get_clock() == first.document_clock);
}

BOOST_AUTO_TEST_CASE(migrate_storage_refuses_incompatible_or_unknown_data) {
    auto s = make_test_schema();
    auto with = [](std::string_view schema_json, std::string_view record) {
        room_snapshot snap;
        snap.schema = obj(schema_json);
        snap.documents.push_back({obj(record), 0});
        return memory_storage(std::move(snap));
    };
    auto newer = with(R"({"schemaVersion":2,"sequences":{"com.tldraw.book":7}})", R"({"id":"book:1","typeName":"book"})");
    BOOST_CHECK_THROW(newer.transaction([&](storage_txn& t) { s.migrate_storage(t); }), std::runtime_error);
    BOOST_TEST(newer.get_snapshot().schema->at("sequences").at("com.tldraw.book") == 7); // rolled back

    auto unknown = with(R"({"schemaVersion":2,"sequences":{"com.tldraw.book":2,"com.tldraw.author":3}})",
                        R"({"id":"ghost:1","typeName":"ghost"})");
    BOOST_CHECK_THROW(unknown.transaction([&](storage_txn& t) { s.migrate_storage(t); }), std::runtime_error);

    auto exploding = with(R"({"schemaVersion":2,"sequences":{"com.tldraw.book":2,"com.tldraw.author":3}})",
                          R"({"id":"book:1","typeName":"book","name":"x","explode":1})");
    BOOST_CHECK_THROW(exploding.transaction([&](storage_txn& t) { s.migrate_storage(t); }), std::runtime_error);
}

BOOST_AUTO_TEST_CASE(validate_record_checks_base_shape_then_validator) {
    auto s = make_test_schema();
    BOOST_CHECK_NO_THROW(s.validate_record(obj(R"({"id":"book:1","typeName":"book","name":"x"})")));
    BOOST_CHECK_NO_THROW(s.validate_record(obj(R"({"id":"author:","typeName":"author"})")));
    for (auto bad : {R"({"id":"book:1"})", R"({"id":"book:1","typeName":7})", R"({"id":"ghost:1","typeName":"ghost"})",
                     R"({"typeName":"author"})", R"({"id":5,"typeName":"author"})", R"({"id":"book:1","typeName":"author"})",
                     R"({"id":"author","typeName":"author"})", R"({"id":"book:1","typeName":"book"})"})
        BOOST_CHECK_THROW(s.validate_record(obj(bad)), validation_error);
    try {
        s.validate_record(obj(R"({"id":"page:1","typeName":"author"})"));
    } catch (const validation_error& e) {
        BOOST_TEST(std::string(e.what()).find("author:") != std::string::npos, e.what());
    }
}

BOOST_AUTO_TEST_SUITE_END()
