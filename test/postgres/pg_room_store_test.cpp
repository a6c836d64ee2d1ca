// The server's room stores on Postgres (room_backend, --storage
// postgres://...): what a room actor does with them -- load as stored texts,
// flush deltas, load again elsewhere -- the cost of a small flush in a large
// room, and the backup a schema migration takes.

#include "pg_room_test_util.hpp"

#include "user_test_server.hpp"

#include "core/tldraw_schema.hpp"
#include "server/room_service.hpp"
#include "server/room_store.hpp"

#include <boost/json/parse.hpp>

#include <chrono>
#include <future>
#include <map>

using namespace tlsync;
using namespace tlsync::test;
using namespace std::chrono_literals;

namespace {

server::config pg_config(const std::string& conninfo) {
    server::config cfg;
    cfg.storage = conninfo;
    cfg.node_id = "node-test";
    return cfg;
}

double ms_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

// id -> xmin: which transaction last wrote each row.
std::map<std::string, std::string> row_versions(pg_client& db, const std::string& room) {
    std::map<std::string, std::string> out;
    const auto all = db.exec("SELECT string_agg(id || '=' || xmin::text, ' ') FROM "
                             "tlsync_room_document WHERE room_id = '" +
                             room + "'")
                         .value_or("");
    std::size_t at = 0;
    while (at < all.size()) {
        auto end = all.find(' ', at);
        if (end == std::string::npos) end = all.size();
        const auto item = all.substr(at, end - at);
        const auto eq = item.rfind('=');
        out[item.substr(0, eq)] = item.substr(eq + 1);
        at = end + 1;
    }
    return out;
}

} // namespace

BOOST_AUTO_TEST_SUITE(pg_room_store_suite, *boost::unit_test::precondition(cluster_available))

BOOST_AUTO_TEST_CASE(a_flushed_edit_is_loaded_by_another_backend) {
    const auto cfg = pg_config(room_database("t_store_roundtrip"));
    const auto schema = core::make_tldraw_schema();
    auto backend = server::make_room_backend(cfg);
    BOOST_TEST(backend->kind() == "postgres");
    BOOST_TEST(!backend->exists("r1"));

    auto store = backend->open("r1");
    BOOST_TEST(backend->exists(
        "r1")); // opening stores the initial room, as a SQLite file would be created
    auto loaded = store->load(*schema, core::snapshot_form::texts);
    BOOST_TEST_REQUIRE(loaded.texts.has_value()); // handed over unparsed
    BOOST_TEST(loaded.texts->documents.size() == 2u);
    core::memory_storage mem(std::move(loaded), schema->serialize());
    const auto flushed = mem.get_clock();
    mem.transaction([](storage_txn& t) {
        auto page = *t.get("page:page");
        page["name"] = "Renamed";
        t.set("page:page", page);
        t.set("shape:a", rec("shape:a", {{"x", 1}}));
    });
    store->write(mem.delta_since(flushed));
    store->release(); // nothing to give back on Postgres, and harmless

    auto other = server::make_room_backend(cfg)->open("r1");
    const auto again = other->load(*schema);
    BOOST_TEST(again.document_clock == mem.get_clock());
    BOOST_REQUIRE(find_doc(again, "page:page"));
    BOOST_TEST(find_doc(again, "page:page")->state.at("name").as_string() == "Renamed");
    BOOST_TEST(find_doc(again, "shape:a") != nullptr);
    BOOST_TEST(other->backup_location().empty());

    backend->remove("r1");
    BOOST_TEST(!backend->exists("r1"));
    pg_client db(cfg.storage);
    BOOST_TEST(
        db.exec("SELECT count(*) FROM tlsync_room_document WHERE room_id = 'r1'").value_or("") ==
        "0");
    BOOST_TEST(db.exec("SELECT count(*) FROM tlsync_room_write WHERE room_id = 'r1' AND writer = "
                       "'node-test'")
                   .value_or("") != "0");
}

BOOST_AUTO_TEST_CASE(a_one_record_flush_in_a_10000_record_room_writes_one_row) {
    const auto conninfo = room_database("t_store_big");
    auto pool = room_pool(conninfo);
    core::memory_storage mem;
    mem.transaction([](storage_txn& t) {
        for (int i = 0; i < 10000; ++i) {
            const auto id = "shape:" + std::to_string(i);
            t.set(
                id,
                rec(id, {{"x", i}, {"y", i * 2}, {"props", json::object{{"text", "some words"}}}}));
        }
    });
    auto t0 = std::chrono::steady_clock::now();
    server::pg_room_storage pg(pool, "big", {}, mem.get_snapshot());
    BOOST_TEST_MESSAGE("writing 10,002 records: " << ms_since(t0) << " ms");
    const auto schema_version = mem.schema_version();
    pg_client db(conninfo);
    const auto before = row_versions(db, "big");
    BOOST_TEST_REQUIRE(before.size() == 10002u);

    const auto flushed = mem.get_clock();
    mem.transaction([](storage_txn& t) { t.set("shape:4242", rec("shape:4242", {{"x", -1}})); });
    const auto delta = mem.delta_since(flushed, schema_version);
    BOOST_TEST(delta.documents.size() == 1u);
    BOOST_TEST(!delta.schema.has_value());
    t0 = std::chrono::steady_clock::now();
    pg.write_delta(delta);
    BOOST_TEST_MESSAGE("one-record flush: " << ms_since(t0) << " ms");

    const auto after = row_versions(db, "big");
    BOOST_TEST_REQUIRE(after.size() == 10002u);
    std::vector<std::string> rewritten;
    for (const auto& [id, xmin] : after)
        if (before.at(id) != xmin) rewritten.push_back(id);
    BOOST_TEST(rewritten == std::vector<std::string>{"shape:4242"});

    // What a busy room's flushes cost (one record each).
    t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < 50; ++i) {
        const auto at = mem.get_clock();
        mem.transaction([&](storage_txn& t) { t.set("shape:7", rec("shape:7", {{"x", i}})); });
        pg.write_delta(mem.delta_since(at, schema_version));
    }
    BOOST_TEST_MESSAGE("one-record flush, mean of 50: " << ms_since(t0) / 50 << " ms");

    t0 = std::chrono::steady_clock::now();
    const auto loaded = pg.get_snapshot(core::snapshot_form::texts);
    BOOST_TEST_MESSAGE("loading 10,002 records as texts: " << ms_since(t0) << " ms");
    BOOST_TEST_REQUIRE(loaded.texts.has_value());
    BOOST_TEST(loaded.texts->documents.size() == 10002u);
    core::memory_storage restored(loaded);
    BOOST_TEST(restored.unparsed_count() == 10002u);
    BOOST_TEST((normalized_state(restored.get_snapshot()) == normalized_state(mem.get_snapshot())));
}

BOOST_AUTO_TEST_CASE(a_migration_that_changes_records_backs_the_room_up_first) {
    const auto cfg = pg_config(room_database("t_store_backup"));
    const auto schema = core::make_tldraw_schema();
    // A room stored before pages had `meta` (com.tldraw.page 0).
    auto old = core::default_initial_snapshot();
    old.schema->at("sequences").as_object()["com.tldraw.page"] = 0;
    for (auto& d : old.documents)
        if (d.state.at("id") == "page:page") d.state.erase("meta");
    old.document_clock = 3;
    {
        auto pool = room_pool(cfg.storage);
        server::pg_room_storage seed(pool, "old", {}, old);
    }
    auto backend = server::make_room_backend(cfg);
    auto store = backend->open("old");
    const auto loaded = store->load(*schema, core::snapshot_form::texts);
    core::memory_storage mem(loaded);
    mem.transaction([](storage_txn& t) { BOOST_TEST(t.get("page:page")->contains("meta")); });
    BOOST_TEST(store->backup_location().starts_with("tlsync_room_backup.backup_id="));

    pg_client db(cfg.storage);
    BOOST_TEST_REQUIRE(
        db.exec("SELECT count(*) FROM tlsync_room_backup WHERE room_id = 'old'").value_or("") ==
        "1");
    // The backup is the room as it was, as RoomSnapshot JSON.
    const auto saved = core::room_snapshot_from_json(
        json::parse(db.exec("SELECT snapshot::text FROM tlsync_room_backup WHERE room_id = 'old'")
                        .value_or("")));
    BOOST_TEST(saved.document_clock == 3);
    BOOST_TEST(saved.schema->at("sequences").at("com.tldraw.page") == 0);
    BOOST_REQUIRE(find_doc(saved, "page:page"));
    BOOST_TEST(!find_doc(saved, "page:page")->state.contains("meta"));
    // Stored now: the migrated room.
    BOOST_TEST(db.exec("SELECT schema::json->'sequences'->>'com.tldraw.page' FROM tlsync_room "
                       "WHERE room_id = 'old'")
                   .value_or("") == "1");

    // Loading again migrates nothing and keeps no new copy.
    auto again = backend->open("old");
    (void)again->load(*schema);
    BOOST_TEST(again->backup_location().empty());
    BOOST_TEST(db.exec("SELECT count(*) FROM tlsync_room_backup").value_or("") == "1");
}

// The room service on Postgres: find_stored (what the admin API asks) and
// a deleted file's room (close_and_delete) removing the room's rows.
BOOST_AUTO_TEST_CASE(the_room_service_finds_and_deletes_stored_rooms) {
    temp_data_dir dir;
    auto cfg = pg_config(room_database("t_store_service"));
    cfg.data_dir = dir.path.string();
    cfg.flush_interval = 50ms;
    io_threads t(2);
    auto rooms = server::make_room_service(t.io.get_executor(), t.blocking.get_executor(), cfg,
                                           core::make_tldraw_schema());
    auto stored = [&](const std::string& id) {
        std::promise<std::optional<bool>> p;
        auto f = p.get_future();
        rooms->find_stored(id, [&p](std::optional<bool> s) { p.set_value(s); });
        return f.get();
    };
    BOOST_TEST((stored("gone") == std::optional<bool>(false)));
    auto actor = rooms->acquire("gone");
    BOOST_REQUIRE(actor);
    BOOST_TEST(eventually([&] { return stored("gone") == std::optional<bool>(true); }, 5s));

    std::promise<void> removed;
    rooms->close_and_delete("gone", "NOT_FOUND", [&] { removed.set_value(); });
    BOOST_REQUIRE(removed.get_future().wait_for(10s) == std::future_status::ready);
    BOOST_TEST((stored("gone") == std::optional<bool>(false)));
    BOOST_TEST(rooms->room_deleted("gone"));
    pg_client db(cfg.storage);
    BOOST_TEST(
        db.exec("SELECT count(*) FROM tlsync_room_document WHERE room_id = 'gone'").value_or("") ==
        "0");

    std::promise<void> down;
    rooms->shutdown(1012, [&] { down.set_value(); });
    BOOST_REQUIRE(down.get_future().wait_for(10s) == std::future_status::ready);
}

BOOST_AUTO_TEST_CASE(an_unreachable_server_fails_the_backend_naming_the_flag) {
    auto cfg = pg_config("host=127.0.0.1 port=1 user=postgres dbname=postgres connect_timeout=2");
    try {
        (void)server::make_room_backend(cfg);
        BOOST_FAIL("no backend without a server");
    } catch (const std::runtime_error& e) {
        BOOST_TEST(std::string(e.what()).starts_with("--storage: cannot connect to PostgreSQL"),
                   e.what());
    }
}

BOOST_AUTO_TEST_SUITE_END()
