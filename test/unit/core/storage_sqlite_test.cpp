// sqlite_storage specifics: tables and migrations (SQ1-SQ6), persistence
// across reopen and kill -9, errors, and write-behind from memory_storage.

#include "storage_test_util.hpp"

#include <boost/test/unit_test.hpp>

#include <csignal>
#include <fstream>
#include <random>
#include <sys/wait.h>
#include <unistd.h>

using namespace tlsync;
using namespace tlsync::test;

namespace {

std::int64_t scalar(sqlite_db& db, const std::string& sql) {
    auto c = db.prepare(sql).query();
    BOOST_REQUIRE(c.next());
    return c.get_int64(0);
}

std::string text(sqlite_db& db, const std::string& sql) {
    auto c = db.prepare(sql).query();
    BOOST_REQUIRE(c.next());
    return std::string(c.get_text(0));
}

std::shared_ptr<sqlite_db> open(const temp_dir& d, sqlite_options o = {}) {
    return std::make_shared<sqlite_db>(d.file("room.db"), o);
}

void put(sync_storage& s, const std::string& id, json::object extra = {}) {
    s.transaction([&](storage_txn& t) { t.set(id, rec(id, std::move(extra))); });
}

} // namespace

BOOST_AUTO_TEST_SUITE(sqlite_storage)

BOOST_AUTO_TEST_CASE(SQ1_tables_honor_prefix_and_data_persists_across_reopen) {
    temp_dir d;
    {
        auto db = open(d);
        core::sqlite_storage a(db, {.table_prefix = "a_"});
        core::sqlite_storage b(db, {.table_prefix = "b_"});
        put(a, "shape:1", {{"x", 1}});
        a.transaction([](storage_txn& t) { t.remove("page:page"); });
        BOOST_TEST(b.get_clock() == 0);
        for (const char* t : {"a_documents", "a_tombstones", "a_metadata", "b_documents"})
            BOOST_TEST(db->table_exists(t));
        BOOST_TEST(!db->table_exists("documents"));
    }
    auto db = open(d);
    core::sqlite_storage a(db, {.table_prefix = "a_"});
    BOOST_TEST(a.get_clock() == 2);
    const auto snap = a.get_snapshot();
    BOOST_TEST(find_doc(snap, "shape:1")->state.at("x").as_int64() == 1);
    BOOST_TEST(snap.tombstones.at("page:page") == 2);
    BOOST_CHECK_THROW(core::sqlite_storage(db, {.table_prefix = "x; DROP TABLE a_documents"}),
                      std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(SQ2_snapshot_replaces_and_absent_snapshot_keeps) {
    temp_dir d;
    auto db = open(d);
    {
        core::sqlite_storage s(db);
        put(s, "shape:old");
    }
    {
        core::sqlite_storage s(db);
        BOOST_TEST(find_doc(s.get_snapshot(), "shape:old") != nullptr);
    }
    room_snapshot snap;
    snap.document_clock = 3;
    snap.documents = {{rec("shape:new"), 3}};
    snap.schema = obj(R"({"schemaVersion":2,"sequences":{}})");
    core::sqlite_storage s(db, {}, snap);
    const auto got = s.get_snapshot();
    BOOST_TEST(got.documents.size() == 1u);
    BOOST_TEST(find_doc(got, "shape:new") != nullptr);
    BOOST_TEST(got.tombstones.empty());
}

BOOST_AUTO_TEST_CASE(SQ3_snapshot_clocks_taken_verbatim) {
    temp_dir d;
    room_snapshot snap;
    snap.document_clock = 2;
    snap.tombstone_history_starts_at_clock = 2; // empty history, tombstones still kept
    snap.documents = {{rec("shape:a"), 5}};
    snap.tombstones = {{"shape:x", 1}};
    snap.schema = obj(R"({"schemaVersion":2,"sequences":{}})");
    core::sqlite_storage s(open(d), {}, snap);
    BOOST_TEST(s.get_clock() == 2);
    const auto got = s.get_snapshot();
    BOOST_TEST(got.tombstone_history_starts_at_clock == 2);
    BOOST_TEST(got.tombstones.at("shape:x") == 1);
    BOOST_TEST(find_doc(got, "shape:a")->last_changed_clock == 5);
}

BOOST_AUTO_TEST_CASE(SQ4_SQ5_initialization_probes) {
    temp_dir d;
    auto db = open(d);
    BOOST_TEST(!core::sqlite_storage::has_been_initialized(*db)); // no table: false, not a throw
    BOOST_TEST(!core::sqlite_storage::get_document_clock(*db).has_value());
    db->exec("CREATE TABLE p_metadata (migrationVersion INTEGER NOT NULL, documentClock INTEGER "
             "NOT NULL,"
             " tombstoneHistoryStartsAtClock INTEGER NOT NULL, schema TEXT NOT NULL);"
             "INSERT INTO p_metadata VALUES (2, 4, 0, '')");
    BOOST_TEST(!core::sqlite_storage::has_been_initialized(*db, "p_")); // empty schema
    BOOST_TEST(!core::sqlite_storage::get_document_clock(*db, "p_").has_value());
    core::sqlite_storage s(db);
    put(s, "shape:a");
    BOOST_TEST(core::sqlite_storage::has_been_initialized(*db));
    BOOST_TEST(core::sqlite_storage::get_document_clock(*db).value_or(-1) == 1);
    BOOST_TEST(!core::sqlite_storage::has_been_initialized(*db, "other_"));
}

BOOST_AUTO_TEST_CASE(SQ6_states_are_json_blobs_at_version_2) {
    temp_dir d;
    auto db = open(d);
    core::sqlite_storage s(db);
    put(s, "shape:a", {{"x", 1.5}, {"s", "é"}});
    BOOST_TEST(scalar(*db, "SELECT migrationVersion FROM metadata") == 2);
    BOOST_TEST(text(*db, "SELECT typeof(state) FROM documents WHERE id = 'shape:a'") == "blob");
    const auto stored =
        json::parse(text(*db, "SELECT CAST(state AS TEXT) FROM documents WHERE id = 'shape:a'"));
    BOOST_TEST(deep_equal(stored, json::value(rec("shape:a", {{"x", 1.5}, {"s", "é"}}))));
    BOOST_TEST(json::parse(text(*db, "SELECT schema FROM metadata")).is_object());
    BOOST_TEST(text(*db, "PRAGMA journal_mode") == "wal");
    BOOST_TEST(scalar(*db, "PRAGMA synchronous") == 1); // NORMAL
}

BOOST_AUTO_TEST_CASE(SQ6_v1_text_database_is_migrated) {
    temp_dir d;
    auto db = open(d);
    db->exec(R"(
        CREATE TABLE documents (id TEXT PRIMARY KEY, state TEXT NOT NULL, lastChangedClock INTEGER NOT NULL);
        CREATE INDEX idx_documents_lastChangedClock ON documents(lastChangedClock);
        CREATE TABLE tombstones (id TEXT PRIMARY KEY, clock INTEGER NOT NULL);
        CREATE INDEX idx_tombstones_clock ON tombstones(clock);
        CREATE TABLE metadata (migrationVersion INTEGER NOT NULL, documentClock INTEGER NOT NULL,
                               tombstoneHistoryStartsAtClock INTEGER NOT NULL, schema TEXT NOT NULL);
        INSERT INTO metadata VALUES (1, 7, 3, '{"schemaVersion":2,"sequences":{"v":1}}');
        INSERT INTO documents VALUES ('shape:a', '{"id":"shape:a","typeName":"shape","x":1}', 6);
        INSERT INTO tombstones VALUES ('shape:gone', 5);)");
    core::sqlite_storage s(db);
    BOOST_TEST(scalar(*db, "SELECT migrationVersion FROM metadata") == 2);
    BOOST_TEST(text(*db, "SELECT typeof(state) FROM documents") == "blob");
    BOOST_TEST(
        scalar(
            *db,
            "SELECT count(*) FROM sqlite_master WHERE name = 'idx_documents_lastChangedClock'") ==
        1);
    BOOST_TEST(s.get_clock() == 7);
    const auto snap = s.get_snapshot();
    BOOST_TEST(snap.tombstone_history_starts_at_clock == 3);
    BOOST_TEST(find_doc(snap, "shape:a")->state.at("x").as_int64() == 1);
    BOOST_TEST(find_doc(snap, "shape:a")->last_changed_clock == 6);
    BOOST_TEST(snap.tombstones.at("shape:gone") == 5);
    BOOST_TEST(snap.schema->at("sequences").as_object().at("v").as_int64() == 1);
}

BOOST_AUTO_TEST_CASE(SQ6_newer_migration_version_is_left_alone) {
    temp_dir d;
    auto db = open(d);
    { core::sqlite_storage s(db); }
    db->exec("UPDATE metadata SET migrationVersion = 3");
    core::sqlite_storage s(db);
    BOOST_TEST(scalar(*db, "SELECT migrationVersion FROM metadata") == 3);
}

BOOST_AUTO_TEST_CASE(survives_kill_9_and_reopens) {
    temp_dir d;
    const pid_t pid = fork();
    BOOST_REQUIRE(pid >= 0);
    if (pid == 0) {
        // No Boost.Test in the child: do the work, then die without cleanup.
        try {
            core::sqlite_storage s(std::make_shared<sqlite_db>(d.file("room.db")));
            for (int i = 0; i < 50; ++i)
                put(s, "shape:" + std::to_string(i));
        } catch (...) {
            _exit(3);
        }
        raise(SIGKILL);
        _exit(4);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    BOOST_REQUIRE(WIFSIGNALED(status));
    BOOST_TEST(WTERMSIG(status) == SIGKILL);
    core::sqlite_storage s(open(d));
    BOOST_TEST(s.get_clock() == 50);
    BOOST_TEST(s.get_snapshot().documents.size() == 52u);
}

BOOST_AUTO_TEST_CASE(sqlite_errors_surface_with_the_sqlite_message) {
    temp_dir d;
    try {
        sqlite_db db(d.file("missing/dir/room.db"));
        BOOST_FAIL("opened a path in a missing directory");
    } catch (const sqlite_error& e) {
        BOOST_TEST(std::string(e.what()).find("unable to open") != std::string::npos);
    }
    {
        std::ofstream junk(d.file("junk.db"));
        junk << std::string(8192, 'x');
    }
    BOOST_CHECK_THROW(core::sqlite_storage(std::make_shared<sqlite_db>(d.file("junk.db"))),
                      sqlite_error);
    auto db = open(d);
    BOOST_CHECK_THROW(db->exec("SELECT * FROM nowhere"), sqlite_error);
    BOOST_CHECK_THROW(db->prepare("NOT SQL"), sqlite_error);
}

BOOST_AUTO_TEST_CASE(synchronous_full_is_configurable) {
    temp_dir d;
    auto db = open(d, {.synchronous = sqlite_synchronous::full});
    BOOST_TEST(scalar(*db, "PRAGMA synchronous") == 2);
}

BOOST_AUTO_TEST_CASE(sqlite_db_transaction_rolls_back_on_throw) {
    temp_dir d;
    auto db = open(d);
    db->exec("CREATE TABLE t (x INTEGER)");
    BOOST_CHECK_THROW(db->transaction([&] {
        db->exec("INSERT INTO t VALUES (1)");
        db->transaction([&] { db->exec("INSERT INTO t VALUES (2)"); }); // nested: a savepoint
        throw std::runtime_error("no");
    }),
                      std::runtime_error);
    BOOST_TEST(scalar(*db, "SELECT count(*) FROM t") == 0);
    BOOST_TEST(!db->in_transaction());
}

BOOST_AUTO_TEST_SUITE_END()
