// tlsyncd (server::server, as main.cpp runs it) with --storage on the test
// cluster: an edit made over a real websocket survives a restart, the admin
// API sees stored rooms, and an unreachable Postgres fails startup naming
// --storage.

#include "pg_room_test_util.hpp"
#include "running_server.hpp"
#include "user_test_server.hpp"

#include "core/tldraw_schema.hpp"
#include "server/server.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <cstdlib>
#include <thread>

using namespace tlsync;
using namespace tlsync::test;
using namespace std::chrono_literals;

namespace {

server::config server_config(const std::string& conninfo, const std::string& data_dir) {
    auto cfg = storage_server_config(conninfo, data_dir, "server-test");
    cfg.admin_token = "secret";
    return cfg;
}

// The page's name as a connect response's diff puts it.
std::string page_name_in(const json::object& connect) {
    const auto* diff = connect.if_contains("diff");
    if (!diff || !diff->is_object()) return {};
    const auto* page = diff->as_object().if_contains("page:page");
    if (!page || !page->is_array() || page->as_array().size() < 2) return {};
    const auto& record = page->as_array()[1];
    if (!record.is_object() || !record.as_object().contains("name")) return {};
    return std::string(record.as_object().at("name").as_string());
}

// PUT with a JSON body on a fresh connection; {status, body}.
std::pair<int, std::string> http_put(std::uint16_t port, const std::string& target,
                                     const std::string& body) {
    namespace beast = boost::beast;
    namespace http = beast::http;
    boost::asio::io_context io;
    boost::asio::ip::tcp::socket socket(io);
    socket.connect({boost::asio::ip::make_address("127.0.0.1"), port});
    http::request<http::string_body> req{http::verb::put, target, 11};
    req.set(http::field::host, "127.0.0.1");
    req.set(http::field::authorization, "Bearer secret");
    req.set(http::field::content_type, "application/json");
    req.body() = body;
    req.prepare_payload();
    http::write(socket, req);
    beast::flat_buffer buffer;
    http::response<http::string_body> res;
    http::read(socket, buffer, res);
    return {static_cast<int>(res.result_int()), res.body()};
}

// A tldraw StoreSnapshot of the default room with its page renamed.
std::string store_snapshot(const std::string& page_name) {
    const auto initial = core::default_initial_snapshot();
    json::object store;
    for (const auto& d : initial.documents) {
        auto state = d.state;
        if (state.at("id") == "page:page") state["name"] = page_name;
        store[state.at("id").as_string()] = state;
    }
    return json::serialize(json::object{{"store", store}, {"schema", *initial.schema}});
}

// scripts/pg-test-cluster down|up on the test cluster.
void cluster_ctl(const std::string& what) {
    const std::string cmd = std::string(TLSYNC_SOURCE_DIR) + "/scripts/pg-test-cluster " + what +
                            " '" + cluster().dir + "'" + (what == "down" ? " fast" : "") +
                            " >/dev/null";
    BOOST_REQUIRE_MESSAGE(std::system(cmd.c_str()) == 0, cmd);
}

std::string fresh_empty_database(const std::string& name) {
    pg_client admin(cluster().conninfo);
    admin.exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)");
    admin.exec("CREATE DATABASE " + name);
    return cluster().db(name);
}

} // namespace

BOOST_AUTO_TEST_SUITE(pg_room_server_suite, *boost::unit_test::precondition(cluster_available))

BOOST_AUTO_TEST_CASE(an_edit_over_a_websocket_survives_a_restart) {
    // An empty database: the server applies the room tables' migrations itself.
    const auto conninfo = fresh_empty_database("t_room_server");
    temp_data_dir dir;
    {
        running_server s(server_config(conninfo, dir.path.string()));
        BOOST_TEST_REQUIRE(s.error.empty(), s.error);
        ws_client c;
        BOOST_REQUIRE(c.connect(s.srv.port(), "/connect/board?sessionId=s1&storeId=st1"));
        c.send(connect_message());
        BOOST_REQUIRE(c.wait_for("connect", 1));
        BOOST_TEST(page_name_in(c.of_type("connect")[0]) == "Page 1");
        c.send(
            R"({"type":"push","clientClock":1,"diff":{"page:page":["patch",{"name":["put","Stored in Postgres"]}]}})");
        // The push_result comes batched in a data message.
        BOOST_REQUIRE(c.wait_for("data", 1));
        const auto data = json::serialize(c.of_type("data")[0]);
        BOOST_TEST(data.find(R"("type":"push_result")") != std::string::npos, data);
        BOOST_TEST(data.find(R"("action":"commit")") != std::string::npos, data);
        // Written behind within --flush-interval, without waiting for shutdown.
        pg_client db(conninfo);
        BOOST_TEST(eventually(
            [&] {
                return db.exec("SELECT state FROM tlsync_room_document WHERE room_id = 'board' AND "
                               "id = 'page:page'")
                           .value_or("")
                           .find("Stored in Postgres") != std::string::npos;
            },
            5s));
        c.close();
        // The admin API creates a room from a snapshot.
        const auto [put_status, put_body] = http_put(
            s.srv.port(), "/admin/rooms/made-by-admin/snapshot", store_snapshot("Made by admin"));
        BOOST_TEST(put_status == 200, put_body);
    }
    // No room file: the rooms are in Postgres.
    BOOST_TEST(!std::filesystem::exists(dir.path / "rooms" / "board.sqlite"));

    running_server again(server_config(conninfo, dir.path.string()));
    BOOST_TEST_REQUIRE(again.error.empty(), again.error);
    ws_client c;
    BOOST_REQUIRE(c.connect(again.srv.port(), "/connect/board?sessionId=s2&storeId=st2"));
    c.send(connect_message());
    BOOST_REQUIRE(c.wait_for("connect", 1));
    BOOST_TEST(page_name_in(c.of_type("connect")[0]) == "Stored in Postgres");

    // The admin API answers for stored rooms that are not loaded, and 404s others.
    auto [status, body] = http_get(again.srv.port(), "/admin/rooms/board/snapshot", "secret");
    BOOST_TEST(status == 200);
    BOOST_TEST(body.find("Stored in Postgres") != std::string::npos);
    BOOST_TEST(http_get(again.srv.port(), "/admin/rooms/never-made", "secret").first == 404);
    const auto made = http_get(again.srv.port(), "/admin/rooms/made-by-admin/snapshot", "secret");
    BOOST_TEST(made.first == 200);
    BOOST_TEST(made.second.find("Made by admin") != std::string::npos);
    c.close();
}

BOOST_AUTO_TEST_CASE(an_unreachable_postgres_fails_startup_naming_storage) {
    temp_data_dir dir;
    auto cfg = server_config(
        "host=127.0.0.1 port=1 user=postgres dbname=postgres connect_timeout=2", dir.path.string());
    running_server s(cfg);
    // The message starts with the flag it is about (not "--data-dir: --storage: ...").
    BOOST_TEST(s.error.starts_with("--storage: cannot connect to PostgreSQL"), s.error);
}

// Postgres goes away under a loaded room: the acknowledged edit stays in
// memory, the flush fails and is retried with backoff, the room's sessions
// are closed with 1011 (they come back read-only), and once Postgres is back
// the edit is written.
BOOST_AUTO_TEST_CASE(an_edit_made_while_postgres_is_down_is_written_when_it_is_back) {
    const auto conninfo = fresh_empty_database("t_room_outage");
    temp_data_dir dir;
    running_server s(server_config(conninfo, dir.path.string()));
    BOOST_TEST_REQUIRE(s.error.empty(), s.error);
    ws_client c;
    BOOST_REQUIRE(c.connect(s.srv.port(), "/connect/board?sessionId=s1&storeId=st1"));
    c.send(connect_message());
    BOOST_REQUIRE(c.wait_for("connect", 1));

    cluster_ctl("down");
    c.send(
        R"({"type":"push","clientClock":1,"diff":{"page:page":["patch",{"name":["put","Written later"]}]}})");
    BOOST_REQUIRE(c.wait_for("data", 1));
    BOOST_TEST(json::serialize(c.of_type("data")[0]).find(R"("action":"commit")") !=
               std::string::npos);
    BOOST_TEST_REQUIRE(c.wait_closed(10s));
    BOOST_TEST(c.close_code() == 1011);
    BOOST_TEST(c.close_reason().find("storage unavailable") != std::string::npos, c.close_reason());
    cluster_ctl("up");

    pg_client db(conninfo);
    BOOST_TEST(eventually(
        [&] {
            return db.try_exec("SELECT state FROM tlsync_room_document WHERE room_id = 'board' AND "
                               "id = 'page:page'")
                       .value_or("")
                       .find("Written later") != std::string::npos;
        },
        30s));
}

BOOST_AUTO_TEST_SUITE_END()
