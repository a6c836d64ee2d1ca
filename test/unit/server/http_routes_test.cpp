// Request routing and query parsing, without sockets.

#include "server/http_routes.hpp"
#include "server/tls.hpp"
#include "server/ws_connection.hpp"

#include <boost/test/unit_test.hpp>

#include <openssl/ssl.h>

using namespace tlsync::server;
namespace http = boost::beast::http;

namespace {

http_request get(std::string target, bool upgrade = false) {
    http_request req{http::verb::get, target, 11};
    req.set(http::field::host, "localhost");
    if (upgrade) {
        req.set(http::field::connection, "Upgrade");
        req.set(http::field::upgrade, "websocket");
        req.set(http::field::sec_websocket_key, "dGhlIHNhbXBsZSBub25jZQ==");
        req.set(http::field::sec_websocket_version, "13");
    }
    return req;
}

http_response response_of(route_result r) {
    BOOST_REQUIRE(std::holds_alternative<http_response>(r));
    return std::get<http_response>(std::move(r));
}

} // namespace

BOOST_AUTO_TEST_SUITE(http_routes)

BOOST_AUTO_TEST_CASE(split_target_separates_path_and_query) {
    BOOST_TEST(split_target("/a/b?x=1&y").first == "/a/b");
    BOOST_TEST(split_target("/a/b?x=1&y").second == "x=1&y");
    BOOST_TEST(split_target("/a").second == "");
    BOOST_TEST(split_target("/a?x#frag").second == "x");
}

BOOST_AUTO_TEST_CASE(percent_decoding) {
    BOOST_TEST(percent_decode("a%20b+c", true).value() == "a b c");
    BOOST_TEST(percent_decode("a+b", false).value() == "a+b");
    BOOST_TEST(percent_decode("%41%7a", false).value() == "Az");
    BOOST_TEST(!percent_decode("%4", false));
    BOOST_TEST(!percent_decode("%", false));
    BOOST_TEST(!percent_decode("%zz", false));
    BOOST_TEST(!percent_decode("a%00", false)); // NUL never reaches a room or a log
}

BOOST_AUTO_TEST_CASE(query_params_take_the_first_value_decoded) {
    BOOST_TEST(query_param("sessionId=abc&storeId=x%2Dy", "storeId").value() == "x-y");
    BOOST_TEST(query_param("sessionId=a&sessionId=b", "sessionId").value() == "a");
    BOOST_TEST(query_param("sessionId", "sessionId").value() == "");
    BOOST_TEST(!query_param("session=abc", "sessionId"));
    BOOST_TEST(!query_param("", "sessionId"));
    BOOST_TEST(query_param("a=1&&session%49d=z", "sessionId").value() == "z");
}

BOOST_AUTO_TEST_CASE(healthz_and_metrics) {
    auto res = response_of(route_request(get("/healthz"), false));
    BOOST_TEST(res.result_int() == 200);
    BOOST_TEST(res.body() == "ok\n");
    res = response_of(route_request(get("/metrics"), false));
    BOOST_TEST(res.result_int() == 200);
    BOOST_TEST(std::string(res[http::field::content_type]).find("version=0.0.4") != std::string::npos);
    BOOST_TEST(res.body().find("tlsync_connections_open") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(errors_have_statuses_and_text) {
    auto res = response_of(route_request(get("/nope"), false));
    BOOST_TEST(res.result_int() == 404);
    BOOST_TEST(!res.body().empty());

    auto post = get("/healthz");
    post.method(http::verb::post);
    res = response_of(route_request(post, false));
    BOOST_TEST(res.result_int() == 405);
    BOOST_TEST(res[http::field::allow] == "GET");

    res = response_of(route_request(get("/connect/room1?sessionId=s1"), false));
    BOOST_TEST(res.result_int() == 426);

    res = response_of(route_request(get("/connect/bad.room?sessionId=s1", true), false));
    BOOST_TEST(res.result_int() == 400);
    BOOST_TEST(res.body().find("room id") != std::string::npos);
    res = response_of(route_request(get("/connect/?sessionId=s1", true), false));
    BOOST_TEST(res.result_int() == 400);
    res = response_of(route_request(get("/connect/a/b?sessionId=s1", true), false));
    BOOST_TEST(res.result_int() == 400);

    res = response_of(route_request(get("/connect/room1?storeId=x", true), false));
    BOOST_TEST(res.result_int() == 400);
    BOOST_TEST(res.body().find("sessionId") != std::string::npos);
    res = response_of(route_request(get("/connect/room1?sessionId=&storeId=x", true), false));
    BOOST_TEST(res.result_int() == 400);
}

BOOST_AUTO_TEST_CASE(connect_upgrade_yields_the_target) {
    auto r = route_request(get("/connect/my-room_1?sessionId=tab%201&storeId=st", true), false);
    BOOST_REQUIRE(std::holds_alternative<connect_target>(r));
    const auto& t = std::get<connect_target>(r);
    BOOST_TEST(t.room_id == "my-room_1");
    BOOST_TEST(t.session_id == "tab 1");
    BOOST_TEST(t.store_id == "st");
}

BOOST_AUTO_TEST_CASE(connect_readonly_param) {
    auto r = route_request(get("/connect/r?sessionId=s&readonly=1", true), false);
    BOOST_REQUIRE(std::holds_alternative<connect_target>(r));
    BOOST_TEST(std::get<connect_target>(r).readonly);
    r = route_request(get("/connect/r?sessionId=s&readonly=no", true), false);
    BOOST_TEST(!std::get<connect_target>(r).readonly);
}

BOOST_AUTO_TEST_CASE(admin_hook) {
    BOOST_TEST(response_of(route_request(get("/admin/rooms"), false)).result_int() == 404);
    BOOST_TEST(std::holds_alternative<admin_call>(route_request(get("/admin/rooms"), true)));
    BOOST_TEST(std::holds_alternative<admin_call>(route_request(get("/admin/other"), true)));
    BOOST_TEST(allows_large_body("/admin/rooms/x/snapshot"));
    BOOST_TEST(!allows_large_body("/connect/x"));
}

BOOST_AUTO_TEST_CASE(utf8_validation_of_binary_frames) {
    using detail::valid_utf8;
    BOOST_TEST(valid_utf8(R"({"type":"ping"})"));
    BOOST_TEST(valid_utf8("h\xC3\xA9llo \xF0\x9F\x98\x80"));
    BOOST_TEST(!valid_utf8("\xC3"));             // truncated
    BOOST_TEST(!valid_utf8("\xC0\xAF"));         // overlong
    BOOST_TEST(!valid_utf8("\xED\xA0\x80"));     // surrogate
    BOOST_TEST(!valid_utf8("\xF4\x90\x80\x80")); // above U+10FFFF
    BOOST_TEST(!valid_utf8("\xFF"));
}

BOOST_AUTO_TEST_CASE(tls_context_errors_name_the_flag) {
    config cfg;
    cfg.tls_cert = "/nonexistent/cert.pem";
    cfg.tls_key = "/nonexistent/key.pem";
    auto r = make_tls_context(cfg);
    BOOST_TEST(!r.context);
    BOOST_TEST(r.error.find("--tls-cert") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(app_user_socket_routes) {
    auto r = route_request(get("/app/alice/connect?lsn=16/B374D848", true), false);
    BOOST_REQUIRE(std::holds_alternative<connect_target>(r));
    const auto& t = std::get<connect_target>(r);
    BOOST_REQUIRE(t.user.has_value());
    BOOST_TEST(t.user->user_id == "alice");
    BOOST_TEST(t.user->lsn.value_or("") == "16/B374D848");
    BOOST_TEST(t.room_id.empty());

    auto no_lsn = route_request(get("/app/bob/connect", true), false);
    BOOST_REQUIRE(std::holds_alternative<connect_target>(no_lsn));
    BOOST_TEST(!std::get<connect_target>(no_lsn).user->lsn.has_value());

    BOOST_TEST(response_of(route_request(get("/app/alice/connect?lsn=nope", true), false)).result_int() == 400);
    BOOST_TEST(response_of(route_request(get("/app/al%2Fice/connect", true), false)).result_int() == 400);
    BOOST_TEST(response_of(route_request(get("/app/alice/elsewhere", true), false)).result_int() == 404);
    BOOST_TEST(response_of(route_request(get("/app/alice/connect"), false)).result_int() == 426);
    // Room connects carry no user.
    auto room = route_request(get("/connect/r1?sessionId=s", true), false);
    BOOST_REQUIRE(std::holds_alternative<connect_target>(room));
    BOOST_TEST(!std::get<connect_target>(room).user.has_value());
}

BOOST_AUTO_TEST_CASE(replicator_diagnostics_goes_to_the_admin_api) {
    BOOST_TEST(std::holds_alternative<admin_call>(route_request(get("/replicator/diagnostics"), true)));
    BOOST_TEST(response_of(route_request(get("/replicator/diagnostics"), false)).result_int() == 404);
}

BOOST_AUTO_TEST_SUITE_END()
