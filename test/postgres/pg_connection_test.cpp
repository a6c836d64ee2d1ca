// server/pg_connection and server/pg_migrations against the test cluster.

#include "pg_test_util.hpp"

#include "server/pg_connection.hpp"
#include "server/pg_migrations.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_future.hpp>

using namespace tlsync;
using namespace tlsync::test;
using namespace std::chrono_literals;
namespace net = boost::asio;

BOOST_AUTO_TEST_SUITE(pg_connection_suite, *boost::unit_test::precondition(cluster_available))

BOOST_AUTO_TEST_CASE(query_with_parameters_and_nulls) {
    auto conninfo = cluster().conninfo;
    auto r = run_co([&](net::any_io_executor ex) -> net::awaitable<std::string> {
        server::pg_connection c(ex);
        auto s = co_await c.connect(conninfo, 10s);
        if (!s) co_return "connect: " + s.error;
        server::pg_rows rows;
        server::pg_params p;
        p.emplace_back("41");
        p.emplace_back(std::nullopt);
        p.emplace_back("it's");
        s = co_await c.exec("SELECT $1::int + 1, $2::text IS NULL, $3::text", p, &rows, 5s);
        if (!s) co_return "exec: " + s.error;
        if (rows.get(0, 0) != "42" || rows.get(0, 1) != "t" || rows.get(0, 2) != "it's") co_return "wrong values";
        if (rows.get(1, 0) || rows.get(0, 9)) co_return "out of range should be nullopt";
        co_return "ok";
    });
    BOOST_TEST(r == "ok");
}

BOOST_AUTO_TEST_CASE(errors_are_values_with_sqlstate) {
    auto conninfo = cluster().conninfo;
    auto r = run_co([&](net::any_io_executor ex) -> net::awaitable<std::string> {
        server::pg_connection c(ex);
        (void)co_await c.connect(conninfo, 10s);
        auto s = co_await c.exec_simple("SELECT * FROM no_such_table", nullptr, 5s);
        if (s) co_return "expected an error";
        if (s.sqlstate != "42P01") co_return "sqlstate " + s.sqlstate;
        // The connection survives a statement error.
        server::pg_rows rows;
        s = co_await c.exec_simple("SELECT 1", &rows, 5s);
        co_return s && rows.get(0, 0) == "1" ? "ok" : "connection unusable after an error";
    });
    BOOST_TEST(r == "ok");
}

BOOST_AUTO_TEST_CASE(connect_failures_and_deadlines) {
    auto r = run_co([&](net::any_io_executor ex) -> net::awaitable<std::string> {
        server::pg_connection c(ex);
        // Nothing listens on port 1.
        auto s = co_await c.connect("host=127.0.0.1 port=1 user=postgres connect_timeout=5", 5s);
        if (s) co_return "connected to port 1?";
        // A statement outliving its deadline.
        s = co_await c.connect(cluster().conninfo, 10s);
        if (!s) co_return "connect: " + s.error;
        auto t0 = std::chrono::steady_clock::now();
        s = co_await c.exec_simple("SELECT pg_sleep(5)", nullptr, 200ms);
        auto took = std::chrono::steady_clock::now() - t0;
        if (s || !s.timed_out) co_return "expected a timeout";
        if (took > 2s) co_return "timeout too late";
        co_return "ok";
    });
    BOOST_TEST(r == "ok");
}

BOOST_AUTO_TEST_CASE(migrations_apply_once_in_order) {
    BOOST_TEST(server::check_migration_list(server::app_migrations()).empty());
    std::vector<server::pg_migration> gap = {{1, "001_a", "SELECT 1"}, {3, "003_c", "SELECT 1"}};
    BOOST_TEST(!server::check_migration_list(gap).empty());

    auto conninfo = fresh_database("t_migrations"); // applies them once
    auto r = run_co([&](net::any_io_executor ex) -> net::awaitable<std::string> {
        server::pg_connection c(ex);
        (void)co_await c.connect(conninfo, 10s);
        auto again = co_await server::migrate(c, server::app_migrations());
        if (!again.status) co_return again.status.error;
        if (!again.applied.empty()) co_return "re-applied";
        if (again.schema_version != static_cast<int>(server::app_migrations().size())) co_return "wrong version";
        // A failing migration leaves nothing behind.
        std::vector<server::pg_migration> more(server::app_migrations());
        more.push_back({static_cast<int>(more.size()) + 1, "999_bad",
                        "CREATE TABLE half_done (x int); SELECT * FROM no_such_table;"});
        auto bad = co_await server::migrate(c, more);
        if (bad.status) co_return "bad migration succeeded";
        server::pg_rows rows;
        (void)co_await c.exec_simple("SELECT to_regclass('half_done') IS NULL, max(version) FROM tlsync_schema_migrations",
                                     &rows, 5s);
        if (rows.get(0, 0) != "t") co_return "half-applied migration";
        // A database migrated by a newer server is refused.
        (void)co_await c.exec_simple("INSERT INTO tlsync_schema_migrations (version, name) VALUES (99, 'future')",
                                     nullptr, 5s);
        auto newer = co_await server::migrate(c, server::app_migrations());
        if (newer.status || newer.status.error.find("newer") == std::string::npos) co_return "newer schema accepted";
        co_return "ok";
    });
    BOOST_TEST(r == "ok");
    pg_client db(conninfo);
    BOOST_TEST(*db.exec("SELECT relreplident FROM pg_class WHERE relname = 'file'") == "f"); // FULL
    BOOST_TEST(*db.exec("SELECT relreplident FROM pg_class WHERE relname = 'file_state'") == "d");
}

BOOST_AUTO_TEST_SUITE_END()
