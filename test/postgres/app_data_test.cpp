// server/app_data against the test cluster: a user's snapshot (own and guest
// files, file states, guest ids), the user row created on demand, the LSN
// read before the snapshot, and rows in exactly the shape the replicator's
// row_update events carry for the same rows.

#include "pg_test_util.hpp"

#include "server/app_data.hpp"
#include "server/pg_connection.hpp"
#include "server/replicator.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/json/serialize.hpp>

#include <filesystem>
#include <future>
#include <map>
#include <mutex>

using namespace tlsync;
using namespace tlsync::test;
using namespace std::chrono_literals;
namespace pg = core::pg;
namespace json = boost::json;
namespace net = boost::asio;

namespace {

// Runs `f(connection)` on a fresh connection on its own io_context, blocking.
template <class T, class F>
T with_connection(const std::string& conninfo, F f) {
    net::io_context io;
    auto fut = net::co_spawn(
        io,
        [&]() -> net::awaitable<T> {
            server::pg_connection c(io.get_executor());
            auto s = co_await c.connect(conninfo, 10s);
            if (!s) throw std::runtime_error("connect: " + s.error);
            co_return co_await f(c);
        },
        net::use_future);
    io.run();
    return fut.get();
}

using load_result = std::pair<server::pg_status, server::app::user_state>;

load_result load(const std::string& conninfo, const std::string& user, bool create) {
    return with_connection<load_result>(conninfo, [&](server::pg_connection& c) {
        return server::app::load_user_state(c, user, create, 10s);
    });
}

std::vector<std::string> ids_of(const json::array& rows, std::string_view key = "id") {
    std::vector<std::string> out;
    for (auto& r : rows) out.emplace_back(r.as_object().at(key).as_string());
    return out;
}

const json::object* find_row(const json::array& rows, std::string_view key, std::string_view id) {
    for (auto& r : rows)
        if (r.as_object().at(key).as_string() == id) return &r.as_object();
    return nullptr;
}

struct state_dir {
    std::filesystem::path path;
    state_dir() {
        std::string t = "/tmp/tlsync-appdata-XXXXXX";
        if (!mkdtemp(t.data())) throw std::runtime_error("mkdtemp");
        path = t;
    }
    ~state_dir() { std::filesystem::remove_all(path); }
};

void seed(pg_client& db) {
    db.exec(R"(INSERT INTO "user" (id, name, "createdAt", "updatedAt") VALUES
                 ('a', 'Alice', 1, 2), ('b', 'Bob', 3, 4), ('c', 'Carol', 5, 6))");
    db.exec(R"(INSERT INTO file (id, "ownerId", name, "publishedSlug", "createdAt", "updatedAt") VALUES
                 ('fa1', 'a', 'A one', 'sa1', 10, 10), ('fa2', 'a', 'A two', 'sa2', 11, 11),
                 ('fb1', 'b', 'B one', 'sb1', 12, 12), ('fb2', 'b', 'B two', 'sb2', 13, 13),
                 ('fc1', 'c', 'C one', 'sc1', 14, 14))");
    db.exec(R"(INSERT INTO file_state ("userId", "fileId", "isFileOwner", "firstVisitAt") VALUES
                 ('a', 'fa1', true, 100), ('a', 'fa2', true, NULL), ('b', 'fb1', true, NULL),
                 ('b', 'fb2', true, NULL), ('c', 'fc1', true, NULL),
                 ('a', 'fb1', false, 200), ('c', 'fb2', false, 300))");
}

} // namespace

BOOST_AUTO_TEST_SUITE(app_data_suite, *boost::unit_test::precondition(cluster_available))

BOOST_AUTO_TEST_CASE(snapshot_has_own_and_guest_files_and_states) {
    auto conninfo = fresh_database("t_appdata_snapshot");
    pg_client db(conninfo);
    seed(db);
    auto before = *pg::lsn::parse(*db.exec("SELECT pg_current_wal_lsn()::text"));

    auto [s, st] = load(conninfo, "a", false);
    BOOST_REQUIRE_MESSAGE(s, s.error);
    BOOST_TEST(st.user.at("id").as_string() == "a");
    BOOST_TEST(st.user.at("name").as_string() == "Alice");
    BOOST_TEST(st.user.at("createdAt").as_int64() == 1);
    auto files = ids_of(st.files);
    BOOST_TEST(files == (std::vector<std::string>{"fa1", "fa2", "fb1"}), boost::test_tools::per_element());
    auto states = ids_of(st.file_states, "fileId");
    BOOST_TEST(states == (std::vector<std::string>{"fa1", "fa2", "fb1"}), boost::test_tools::per_element());
    BOOST_TEST(st.guest_file_ids == (std::vector<std::string>{"fb1"}), boost::test_tools::per_element());
    // Types as wal2json has them: numbers, booleans, nulls.
    auto* fa1 = find_row(st.file_states, "fileId", "fa1");
    BOOST_REQUIRE(fa1);
    BOOST_TEST(fa1->at("isFileOwner").as_bool());
    BOOST_TEST(fa1->at("firstVisitAt").as_int64() == 100);
    BOOST_TEST(fa1->at("lastVisitAt").is_null());
    auto* fb1 = find_row(st.files, "id", "fb1");
    BOOST_REQUIRE(fb1);
    BOOST_TEST(fb1->at("ownerId").as_string() == "b");
    BOOST_TEST(fb1->at("shared").as_bool());
    BOOST_TEST(fb1->at("lastPublished").as_int64() == 0);

    // The LSN is a position no earlier than the seed's commits.
    auto at = pg::lsn::parse(st.lsn);
    BOOST_REQUIRE(at);
    BOOST_TEST((before <= *at));

    // A user who follows nothing and a user with nothing of their own.
    auto [s2, b] = load(conninfo, "b", false);
    BOOST_REQUIRE(s2);
    BOOST_TEST(ids_of(b.files) == (std::vector<std::string>{"fb1", "fb2"}), boost::test_tools::per_element());
    BOOST_TEST(b.guest_file_ids.empty());

    auto ids = with_connection<std::pair<server::pg_status, std::vector<std::string>>>(
        conninfo, [&](server::pg_connection& c) { return server::app::guest_file_ids(c, "c", 5s); });
    BOOST_REQUIRE(ids.first);
    BOOST_TEST(ids.second == (std::vector<std::string>{"fb2"}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(missing_user_fails_or_is_created_once) {
    auto conninfo = fresh_database("t_appdata_create");
    auto [s, st] = load(conninfo, "nobody", false);
    BOOST_TEST(!s);
    BOOST_TEST(s.sqlstate == "P0002");
    pg_client db(conninfo);
    BOOST_TEST(*db.exec(R"(SELECT count(*) FROM "user")") == "0");

    auto [s2, created] = load(conninfo, "new-user", true);
    BOOST_REQUIRE_MESSAGE(s2, s2.error);
    BOOST_TEST(created.user.at("id").as_string() == "new-user");
    BOOST_TEST(created.user.at("name").as_string() == "new-user");
    const auto t = created.user.at("createdAt").as_int64();
    BOOST_TEST(t > 1'600'000'000'000); // milliseconds since the epoch
    BOOST_TEST(created.user.at("updatedAt").as_int64() == t);
    BOOST_TEST(created.files.empty());
    BOOST_TEST(created.file_states.empty());

    // Loading again neither fails nor touches the row.
    auto [s3, again] = load(conninfo, "new-user", true);
    BOOST_REQUIRE(s3);
    BOOST_TEST(again.user == created.user);
    BOOST_TEST(*db.exec(R"(SELECT count(*) FROM "user")") == "1");
}

BOOST_AUTO_TEST_CASE(a_dead_connection_is_an_error_value) {
    auto conninfo = fresh_database("t_appdata_dead");
    auto r = with_connection<load_result>(conninfo, [&](server::pg_connection& c) {
        c.close();
        return server::app::load_user_state(c, "a", true, 2s);
    });
    BOOST_TEST(!r.first);
}

// The snapshot's rows equal the rows of the replicator's row_update events
// for the same rows: a client merges both without converting anything.
BOOST_AUTO_TEST_CASE(rows_have_the_shape_of_row_update_events) {
    auto conninfo = fresh_database("t_appdata_shape");
    state_dir dir;
    // Declared before the io threads: they outlive every handler call.
    std::mutex m;
    std::vector<pg::user_delivery> got;
    io_threads t;
    server::replicator::handlers h;
    h.on_deliveries = [&](std::vector<pg::user_delivery> d) {
        std::lock_guard l(m);
        for (auto& x : d) got.push_back(std::move(x));
    };
    server::replicator_config cfg;
    cfg.conninfo = conninfo;
    cfg.slot_name = "t_appdata_shape";
    cfg.state_path = (dir.path / "replicator.sqlite").string();
    cfg.backoff_initial = 100ms;
    auto r = server::make_replicator(t.io.get_executor(), t.blocking.get_executor(), cfg, h);
    r->start();
    BOOST_REQUIRE(eventually([&] { return r->stats().state == "streaming"; }, 20s));

    pg_client db(conninfo);
    db.exec(R"(INSERT INTO "user" (id, name, "createdAt", "updatedAt") VALUES ('a', 'A', 1, 1), ('b', 'B', 1, 1))");
    // Register "a" as an active user of the replicator, as the user actor does.
    {
        // Shared with the callback: set_value may still be returning when get() does.
        auto registered = std::make_shared<std::promise<bool>>();
        auto at = *pg::lsn::parse(*db.exec("SELECT pg_current_wal_lsn()::text"));
        auto done = registered->get_future();
        r->with_history([&, registered](pg::replication_history* hist) {
            if (!hist) return registered->set_value(false);
            std::vector<std::string> guests{"fb"};
            (void)hist->register_user("a", at, guests, "boot", 0);
            registered->set_value(true);
        });
        BOOST_REQUIRE(done.get());
    }
    // Every column kind: text, nullable text, jsonb (printed as text by
    // wal2json), bigint beyond 2^53, booleans, NULLs, a CHECKed enum text.
    db.exec(R"(UPDATE "user" SET name = 'Alice', locale = 'fr', color = '#ff0000',
                 preferences = '{"theme": "dark", "n": [1, 2.5, null]}', "updatedAt" = 9007199254740993
               WHERE id = 'a')");
    db.exec(R"(INSERT INTO file (id, "ownerId", name, "publishedSlug", shared, "sharedLinkType", "createdAt", "updatedAt")
               VALUES ('fa', 'a', 'Ünïcødé "quoted" \ name', 'slug-a', false, 'view', 5, 6),
                      ('fb', 'b', 'B file', 'slug-b', true, 'edit', 7, 8))");
    db.exec(R"(INSERT INTO file_state ("userId", "fileId", "isFileOwner", "isPinned", "firstVisitAt", "lastSessionState")
               VALUES ('a', 'fa', true, true, 42, '{"x":1}'), ('a', 'fb', false, false, NULL, NULL))");
    db.exec(R"(UPDATE file SET name = 'B file renamed' WHERE id = 'fb')");

    // The last row_update event per (table, key) that reached "a".
    std::map<std::string, json::object> streamed;
    auto collect = [&] {
        std::lock_guard l(m);
        streamed.clear();
        for (auto& d : got) {
            BOOST_TEST(d.user_id == "a");
            for (auto& e : d.changes()) {
                auto& ev = e.as_object();
                if (ev.at("type").as_string() != "row_update") continue;
                auto& row = ev.at("row").as_object();
                std::string table(ev.at("table").as_string());
                std::string key = table == "file_state"
                                      ? std::string(row.at("fileId").as_string())
                                      : std::string(row.at("id").as_string());
                streamed[table + ":" + key] = row;
            }
        }
        return streamed.size() == 5 && streamed.contains("file:fb") &&
               streamed["file:fb"].at("name").as_string() == "B file renamed";
    };
    BOOST_REQUIRE(eventually(collect, 10s));

    auto [s, st] = load(conninfo, "a", false);
    BOOST_REQUIRE_MESSAGE(s, s.error);
    BOOST_TEST_INFO("snapshot " << json::serialize(st.user) << " stream " << json::serialize(streamed["user:a"]));
    BOOST_TEST(st.user == streamed["user:a"]);
    BOOST_TEST(st.user.at("preferences").is_string());
    BOOST_TEST(st.user.at("updatedAt").as_int64() == 9007199254740993);
    for (const char* id : {"fa", "fb"}) {
        auto* row = find_row(st.files, "id", id);
        BOOST_REQUIRE(row);
        BOOST_TEST_INFO("file " << id << ": snapshot " << json::serialize(*row) << " stream "
                                << json::serialize(streamed[std::string("file:") + id]));
        BOOST_TEST(*row == streamed[std::string("file:") + id]);
    }
    for (const char* id : {"fa", "fb"}) {
        auto* row = find_row(st.file_states, "fileId", id);
        BOOST_REQUIRE(row);
        BOOST_TEST_INFO("file_state " << id << ": snapshot " << json::serialize(*row) << " stream "
                                      << json::serialize(streamed[std::string("file_state:") + id]));
        BOOST_TEST(*row == streamed[std::string("file_state:") + id]);
    }
    auto stopped = std::make_shared<std::promise<void>>();
    auto stopped_f = stopped->get_future();
    r->stop([stopped] { stopped->set_value(); });
    BOOST_REQUIRE(stopped_f.wait_for(10s) == std::future_status::ready);
}

BOOST_AUTO_TEST_SUITE_END()
