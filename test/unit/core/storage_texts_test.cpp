// Documents loaded as stored text (sqlite_storage::get_snapshot with
// snapshot_form::texts): memory_storage parses a record when first used, and a
// room answers a first connect from the stored text as it is.

#include "storage_test_util.hpp"

#include "core/memory_storage.hpp"
#include "core/sqlite_storage.hpp"

#include <boost/json/parse.hpp>
#include <boost/test/unit_test.hpp>

using namespace tlsync;
using namespace tlsync::test;

namespace {

room_snapshot three_documents() {
    room_snapshot s;
    s.document_clock = 7;
    s.schema = json::object{{"schemaVersion", 2}, {"sequences", json::object{}}};
    s.documents.push_back({rec("document:document", {{"name", "é \"quoted\"\n"}}), 1});
    s.documents.push_back({rec("page:page", {{"x", 1.5}}), 4});
    s.documents.push_back({rec("shape:1", {{"props", json::object{{"w", 10}}}}), 7});
    return s;
}

json::value parse_object_of(const std::string& members) { return json::parse("{" + members + "}"); }

} // namespace

BOOST_AUTO_TEST_SUITE(storage_texts)

BOOST_AUTO_TEST_CASE(sqlite_texts_hold_the_stored_records_as_connect_puts) {
    temp_dir d;
    auto db = std::make_shared<sqlite_db>(d.file("room.db"));
    sqlite_storage sql(db, {}, three_documents());

    auto texts = sql.get_snapshot(snapshot_form::texts);
    const auto parsed = sql.get_snapshot();
    BOOST_REQUIRE(texts.texts.has_value());
    BOOST_TEST(texts.documents.empty());
    BOOST_TEST(texts.texts->documents.size() == 3u);
    BOOST_TEST(texts.document_clock == parsed.document_clock);

    // The puts are a network diff's members: {"id":["put",record],...}.
    const auto puts = parse_object_of(*texts.texts->puts).as_object();
    BOOST_TEST(puts.size() == 3u);
    for (const auto& doc : parsed.documents) {
        const auto id = std::string(doc.state.at("id").as_string());
        BOOST_TEST(puts.at(id) == (json::array{"put", doc.state}));
    }
    // Each document's slice is its record, with its clock.
    for (const auto& t : texts.texts->documents) {
        const auto slice = std::string_view(*texts.texts->puts).substr(t.offset, t.size);
        BOOST_TEST(json::parse(slice).as_object().at("id").as_string() == t.id);
    }

    parse_texts(texts);
    BOOST_TEST(!texts.texts.has_value());
    BOOST_REQUIRE(texts.documents.size() == parsed.documents.size());
    for (const auto& doc : parsed.documents) {
        const auto it = std::find_if(texts.documents.begin(), texts.documents.end(), [&](const auto& x) {
            return x.state.at("id") == doc.state.at("id");
        });
        BOOST_REQUIRE(it != texts.documents.end());
        BOOST_TEST(it->state == doc.state);
        BOOST_TEST(it->last_changed_clock == doc.last_changed_clock);
    }
}

BOOST_AUTO_TEST_CASE(sqlite_texts_refuse_a_record_that_is_not_an_object) {
    temp_dir d;
    auto db = std::make_shared<sqlite_db>(d.file("room.db"));
    sqlite_storage sql(db, {}, three_documents());
    db->exec("UPDATE documents SET state = CAST('[1,2]' AS BLOB) WHERE id = 'page:page'");
    BOOST_CHECK_THROW((void)sql.get_snapshot(snapshot_form::texts), std::exception);
}

BOOST_AUTO_TEST_CASE(memory_storage_parses_a_stored_text_when_first_used) {
    memory_storage m(snapshot_from_texts({{"a", R"({"id":"a","typeName":"shape","v":1})"},
                                 {"b", R"({"id":"b","typeName":"shape","v":2})"}},
                                5));
    BOOST_TEST(m.unparsed_count() == 2u);
    BOOST_TEST(m.get_clock() == 5);
    m.transaction([&](storage_txn& t) {
        const auto* a = t.get("a");
        BOOST_REQUIRE(a);
        BOOST_TEST(a->at("v") == 1);
    });
    BOOST_TEST(m.unparsed_count() == 1u);

    // A snapshot holds everything parsed.
    const auto snap = m.get_snapshot();
    BOOST_TEST(snap.documents.size() == 2u);
    BOOST_TEST(!snap.texts.has_value());
    BOOST_TEST(m.unparsed_count() == 0u);
}

BOOST_AUTO_TEST_CASE(the_loaded_puts_are_the_full_state_until_the_first_write) {
    memory_storage m(snapshot_from_texts({{"a", R"({"id":"a","typeName":"shape"})"}}, 3));
    m.transaction([&](storage_txn& t) {
        const auto puts = t.all_puts_text();
        BOOST_REQUIRE(puts);
        BOOST_TEST(*puts == R"("a":["put",{"id":"a","typeName":"shape"}])");
        // Reading does not change the state.
        (void)t.get("a");
        BOOST_TEST(t.all_puts_text() == puts);
    });
    m.transaction([&](storage_txn& t) { t.set("b", rec("b")); });
    m.transaction([&](storage_txn& t) { BOOST_TEST(!t.all_puts_text()); });
}

BOOST_AUTO_TEST_CASE(visiting_hands_over_unparsed_records_as_their_text) {
    memory_storage m(snapshot_from_texts({{"a", R"({"id":"a","typeName":"shape"})"},
                                 {"b", R"({"id":"b","typeName":"shape"})"}},
                                3));
    m.transaction([&](storage_txn& t) { t.set("b", rec("b", {{"v", 2}})); });
    std::map<std::string, std::string> seen;
    m.transaction([&](storage_txn& t) {
        t.visit_changes_since(
            -1,
            [&](std::string_view id, document_ref doc) {
                seen[std::string(id)] = doc.record ? "record" : std::string(doc.json);
            },
            [](std::string_view) {});
    });
    BOOST_TEST(seen["a"] == R"({"id":"a","typeName":"shape"})");
    BOOST_TEST(seen["b"] == "record");
    BOOST_TEST(m.unparsed_count() == 1u); // visiting parsed nothing
}

BOOST_AUTO_TEST_CASE(writes_and_rollbacks_of_unparsed_documents) {
    memory_storage m(snapshot_from_texts({{"a", R"({"id":"a","typeName":"shape","v":1})"},
                                 {"b", R"({"id":"b","typeName":"shape","v":2})"}},
                                3));
    // A failed transaction restores the record it removed.
    BOOST_CHECK_THROW(m.transaction([&](storage_txn& t) {
        t.remove("a");
        throw std::runtime_error("boom");
    }),
                      std::runtime_error);
    m.transaction([&](storage_txn& t) {
        BOOST_REQUIRE(t.get("a"));
        BOOST_TEST(t.get("a")->at("v") == 1);
    });
    // SS7: the before state of an overwritten stored record is its text, parsed.
    txn_options o;
    o.emit_changes = true;
    const auto r = m.transaction([&](storage_txn& t) { t.set("b", rec("b", {{"v", 3}})); }, o);
    BOOST_REQUIRE(r.changes.has_value());
    BOOST_REQUIRE(r.changes->puts.size() == 1u);
    BOOST_REQUIRE(r.changes->puts[0].second.before.has_value());
    BOOST_TEST(r.changes->puts[0].second.before->at("v") == 2);
    BOOST_TEST(m.unparsed_count() == 0u);
    // What the write-behind flush sends is parsed.
    const auto delta = m.delta_since(3);
    BOOST_REQUIRE(delta.documents.size() == 1u);
    BOOST_TEST(delta.documents[0].state.at("v") == 3);
}

BOOST_AUTO_TEST_CASE(a_broken_stored_text_is_an_error_naming_the_document) {
    memory_storage m(snapshot_from_texts({{"a", R"({"id":"a","typeName":"shape",)"},
                                 {"b", R"({"id":"not-b","typeName":"shape"})"}},
                                3));
    const auto message_of = [&](const char* id) {
        try {
            m.transaction([&](storage_txn& t) { (void)t.get(id); });
        } catch (const storage_error& e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    BOOST_TEST(message_of("a").find("'a' is not a JSON object") != std::string::npos);
    BOOST_TEST(message_of("b").find("mismatch") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
