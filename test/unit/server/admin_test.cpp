// The admin API against real room actors (no sockets: the handler is called
// as the HTTP session calls it).

#include "core/tldraw_schema.hpp"
#include "proto/codec.hpp"
#include "server/admin.hpp"
#include "server/room_service.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/json/parse.hpp>
#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <random>

using namespace tlsync;
using namespace std::chrono_literals;
namespace net = boost::asio;
namespace http = boost::beast::http;

namespace {

struct admin_fixture {
    std::filesystem::path dir = std::filesystem::temp_directory_path() /
                                ("tlsync-admin-" + std::to_string(std::random_device{}()));
    server::config cfg;
    net::io_context io;
    net::thread_pool blocking{1};
    std::shared_ptr<server::room_service> service;
    server::admin_handler admin;

    admin_fixture() {
        cfg.data_dir = dir.string();
        cfg.admin_token = "secret";
        cfg.flush_interval = 20ms;
        service = server::make_room_service(io.get_executor(), blocking.get_executor(), cfg,
                                            core::make_tldraw_schema());
        admin = server::make_admin_handler(service, cfg);
    }
    ~admin_fixture() {
        blocking.join();
        std::filesystem::remove_all(dir);
    }

    server::http_response call(http::verb verb, std::string target, std::string body = {},
                               std::string token = "secret") {
        server::http_request req{verb, target, 11};
        if (!token.empty()) req.set(http::field::authorization, "Bearer " + token);
        req.body() = std::move(body);
        std::optional<server::http_response> res;
        net::co_spawn(io, admin(req), [&](std::exception_ptr e, server::http_response r) {
            if (e) std::rethrow_exception(e);
            res = std::move(r);
        });
        for (auto until = std::chrono::steady_clock::now() + 5s;
             !res && std::chrono::steady_clock::now() < until;) {
            io.restart();
            io.run_for(5ms);
        }
        BOOST_REQUIRE(res.has_value());
        return std::move(*res);
    }
};

} // namespace

BOOST_AUTO_TEST_SUITE(admin_api)

BOOST_FIXTURE_TEST_CASE(requires_the_bearer_token, admin_fixture) {
    BOOST_TEST(call(http::verb::get, "/admin/rooms", {}, "").result_int() == 401);
    BOOST_TEST(call(http::verb::get, "/admin/rooms", {}, "wrong").result_int() == 401);
    BOOST_TEST(call(http::verb::get, "/admin/rooms").result_int() == 200);
}

BOOST_FIXTURE_TEST_CASE(update_snapshot_and_listing, admin_fixture) {
    BOOST_TEST(call(http::verb::get, "/admin/rooms/nope/snapshot").result_int() == 404);
    BOOST_TEST(call(http::verb::get, "/admin/rooms/bad.id").result_int() == 400);
    // a server-side update creates the room and renames the page
    auto res = call(http::verb::post, "/admin/rooms/r1/update",
                    R"({"diff":{"page:page":["patch",{"name":["put","From admin"]}]}})");
    BOOST_TEST(res.result_int() == 200);
    res = call(http::verb::get, "/admin/rooms/r1/snapshot");
    BOOST_REQUIRE(res.result_int() == 200);
    BOOST_TEST(res.body().find("From admin") != std::string::npos);
    const auto snapshot = res.body();
    // an invalid record is refused with the validator's message
    res = call(http::verb::post, "/admin/rooms/r1/update",
               R"({"puts":[{"id":"page:x","typeName":"page","name":5}]})");
    BOOST_TEST(res.result_int() == 400);
    BOOST_TEST(res.body().find("invalid record") != std::string::npos);
    BOOST_TEST(call(http::verb::post, "/admin/rooms/r1/update", "{nope").result_int() == 400);
    // loading the snapshot into another room reproduces it
    BOOST_TEST(call(http::verb::put, "/admin/rooms/r2/snapshot", snapshot).result_int() == 200);
    res = call(http::verb::get, "/admin/rooms/r2/snapshot");
    BOOST_TEST(res.body().find("From admin") != std::string::npos);
    res = call(http::verb::get, "/admin/rooms");
    const auto rooms = boost::json::parse(res.body()).at("rooms").as_array();
    BOOST_TEST(rooms.size() == 2u);
    BOOST_TEST(call(http::verb::post, "/admin/rooms/r1/sessions/none/close").result_int() == 404);
    BOOST_TEST(call(http::verb::delete_, "/admin/rooms").result_int() == 405);
}

BOOST_FIXTURE_TEST_CASE(replicator_diagnostics_needs_the_token_and_a_replicator, admin_fixture) {
    // Without --postgres there is no provider: 404 (after the token check).
    BOOST_TEST(call(http::verb::get, "/replicator/diagnostics", {}, "").result_int() == 401);
    BOOST_TEST(call(http::verb::get, "/replicator/diagnostics").result_int() == 404);
    admin = server::make_admin_handler(service, cfg, []() -> net::awaitable<boost::json::object> {
        co_return boost::json::object{{"replicator", boost::json::object{{"state", "streaming"}}}};
    });
    BOOST_TEST(call(http::verb::get, "/replicator/diagnostics", {}, "wrong").result_int() == 401);
    auto res = call(http::verb::get, "/replicator/diagnostics");
    BOOST_TEST(res.result_int() == 200);
    BOOST_TEST(boost::json::parse(res.body()).at("replicator").at("state").as_string() == "streaming");
    BOOST_TEST(call(http::verb::post, "/replicator/diagnostics").result_int() == 405);
}

BOOST_AUTO_TEST_SUITE_END()
