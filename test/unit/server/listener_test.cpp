// tlsyncd's HTTP and websocket front end on a loopback port, with a fake room
// service standing in for the rooms.

#include "net_test_util.hpp"

#include "server/metrics.hpp"

using namespace tlsync::test;
using tlsync::server::global_metrics;
using tlsync::server::reject_reason;

namespace {

using ws_stream = websocket::stream<beast::tcp_stream>;

net::awaitable<void> ws_open(ws_stream& ws, tcp::endpoint ep, std::string target) {
    beast::get_lowest_layer(ws).expires_after(5s);
    co_await beast::get_lowest_layer(ws).async_connect(ep, net::use_awaitable);
    beast::get_lowest_layer(ws).expires_never();
    auto t = websocket::stream_base::timeout::suggested(beast::role_type::client);
    t.handshake_timeout = 5s;
    t.idle_timeout = 5s;
    ws.set_option(t);
    co_await ws.async_handshake("localhost", target, net::use_awaitable);
}

net::awaitable<std::string> ws_read(ws_stream& ws) {
    beast::flat_buffer b;
    co_await ws.async_read(b, net::use_awaitable);
    co_return beast::buffers_to_string(b.data());
}

// Reads until the server closes; returns the close code it sent.
net::awaitable<std::uint16_t> ws_read_until_closed(ws_stream& ws) {
    for (;;) {
        beast::flat_buffer b;
        auto [ec, n] = co_await ws.async_read(b, use_tuple);
        if (ec == websocket::error::closed) co_return ws.reason().code;
        if (ec) throw boost::system::system_error(ec);
    }
}

std::uint64_t rejections(reject_reason r) {
    return global_metrics().rejections[static_cast<std::size_t>(r)].value();
}

} // namespace

BOOST_AUTO_TEST_SUITE(listener_loopback)

BOOST_AUTO_TEST_CASE(http_routes_over_a_socket) {
    running_server s;
    auto res = http_once(s.endpoint(), http::verb::get, "/healthz");
    BOOST_TEST(res.result_int() == 200);
    BOOST_TEST(res.body() == "ok\n");
    res = http_once(s.endpoint(), http::verb::get, "/metrics");
    BOOST_TEST(res.result_int() == 200);
    BOOST_TEST(res.body().find("tlsync_connections_total") != std::string::npos);
    BOOST_TEST(http_once(s.endpoint(), http::verb::get, "/nope").result_int() == 404);
    BOOST_TEST(http_once(s.endpoint(), http::verb::delete_, "/healthz").result_int() == 405);
    BOOST_TEST(http_once(s.endpoint(), http::verb::get, "/connect/r1?sessionId=a").result_int() == 426);
    BOOST_TEST(http_once(s.endpoint(), http::verb::get, "/connect/r%20x?sessionId=a").result_int() == 400);
    BOOST_TEST(http_once(s.endpoint(), http::verb::get, "/connect/r1?storeId=a").result_int() == 400);
    BOOST_TEST(s.stop() == 0);
}

BOOST_AUTO_TEST_CASE(keep_alive_serves_several_requests) {
    running_server s;
    run_client<int>([&]() -> net::awaitable<int> {
        beast::tcp_stream stream(co_await net::this_coro::executor);
        stream.expires_after(5s);
        co_await stream.async_connect(s.endpoint(), net::use_awaitable);
        beast::flat_buffer buffer;
        for (int i = 0; i < 3; ++i) {
            auto res = co_await roundtrip(stream, buffer, http::verb::get, i == 1 ? "/nope" : "/healthz");
            BOOST_TEST(res.result_int() == (i == 1 ? 404 : 200));
            BOOST_TEST(res.keep_alive());
        }
        co_return 0;
    });
}

BOOST_AUTO_TEST_CASE(websocket_session_round_trip) {
    running_server s;
    run_client<int>([&]() -> net::awaitable<int> {
        ws_stream ws(co_await net::this_coro::executor);
        co_await ws_open(ws, s.endpoint(), "/connect/room1?sessionId=tab1&storeId=st");
        ws.text(true);
        co_await ws.async_write(net::buffer(std::string(R"({"type":"ping"})")), net::use_awaitable);
        BOOST_TEST(co_await ws_read(ws) == R"({"type":"pong"})");
        BOOST_TEST(ws.got_text());
        // A data message's fragments arrive as one message.
        BOOST_TEST(co_await ws_read(ws) == R"({"type":"data","data":["a","b"]})");
        // Binary frames are decoded as text, like upstream.
        ws.binary(true);
        co_await ws.async_write(net::buffer(std::string(R"({"type":"ping"})")), net::use_awaitable);
        BOOST_TEST(co_await ws_read(ws) == R"({"type":"pong"})");
        (void)co_await ws_read(ws);
        co_await ws.async_close(websocket::close_code::normal, net::use_awaitable);
        co_return 0;
    });
    auto room = s.rooms->room("room1");
    BOOST_REQUIRE(room);
    BOOST_TEST(room->has("join:tab1"));
    BOOST_TEST(room->has("message:ping"));
    BOOST_TEST(eventually([&] { return room->has("leave"); }));
}

BOOST_AUTO_TEST_CASE(garbage_json_is_rejected_with_4099) {
    running_server s;
    const auto code = run_client<std::uint16_t>([&]() -> net::awaitable<std::uint16_t> {
        ws_stream ws(co_await net::this_coro::executor);
        co_await ws_open(ws, s.endpoint(), "/connect/room1?sessionId=tab1");
        co_await ws.async_write(net::buffer(std::string("{not json")), net::use_awaitable);
        const auto code = co_await ws_read_until_closed(ws);
        BOOST_TEST(std::string(ws.reason().reason.data(), ws.reason().reason.size()) == "UNKNOWN_ERROR");
        co_return code;
    });
    BOOST_TEST(code == 4099);
    BOOST_TEST(s.rooms->room("room1")->has("reject:UNKNOWN_ERROR"));
    BOOST_TEST(eventually([&] { return s.rooms->room("room1")->has("leave"); }));
}

BOOST_AUTO_TEST_CASE(invalid_utf8_binary_frame_is_rejected) {
    running_server s;
    const auto code = run_client<std::uint16_t>([&]() -> net::awaitable<std::uint16_t> {
        ws_stream ws(co_await net::this_coro::executor);
        co_await ws_open(ws, s.endpoint(), "/connect/room1?sessionId=tab1");
        ws.binary(true);
        co_await ws.async_write(net::buffer(std::string("{\"type\":\"\xFF\"}")), net::use_awaitable);
        co_return co_await ws_read_until_closed(ws);
    });
    BOOST_TEST(code == 4099);
    BOOST_TEST(s.rooms->room("room1")->has("reject:UNKNOWN_ERROR"));
}

BOOST_AUTO_TEST_CASE(oversized_frame_closes_with_1009) {
    auto cfg = test_config();
    cfg.max_frame_bytes = 1024;
    running_server s(cfg);
    const auto before = rejections(reject_reason::message_too_large);
    const auto code = run_client<std::uint16_t>([&]() -> net::awaitable<std::uint16_t> {
        ws_stream ws(co_await net::this_coro::executor);
        co_await ws_open(ws, s.endpoint(), "/connect/room1?sessionId=tab1");
        // The server may close before the whole frame is written: ignore the write's result.
        (void)co_await ws.async_write(net::buffer(std::string(2000, ' ')), use_tuple);
        beast::flat_buffer b;
        auto [ec, n] = co_await ws.async_read(b, use_tuple);
        // Beast fails the connection at once: the close frame may be lost to a
        // reset when our unread bytes were still in the server's buffer.
        if (ec == websocket::error::closed) co_return ws.reason().code;
        BOOST_TEST_MESSAGE("connection cut: " << ec.message());
        co_return (ec && ec != beast::error::timeout && ec != net::error::operation_aborted) ? 1009 : 0;
    });
    BOOST_TEST(code == 1009);
    BOOST_TEST(eventually([&] { return s.rooms->room("room1")->has("leave"); }));
    BOOST_TEST(rejections(reject_reason::message_too_large) == before + 1);
}

BOOST_AUTO_TEST_CASE(reassembled_message_over_the_limit_closes_with_1009) {
    auto cfg = test_config();
    cfg.max_frame_bytes = 1024;
    cfg.max_message_bytes = 1500;
    running_server s(cfg);
    const auto before = rejections(reject_reason::message_too_large);
    const auto code = run_client<std::uint16_t>([&]() -> net::awaitable<std::uint16_t> {
        ws_stream ws(co_await net::this_coro::executor);
        co_await ws_open(ws, s.endpoint(), "/connect/room1?sessionId=tab1");
        const std::string body(900, ' ');
        co_await ws.async_write(net::buffer("1_{\"type\":\"ping\"" + body), net::use_awaitable);
        co_await ws.async_write(net::buffer("0_" + body + "}"), net::use_awaitable);
        co_return co_await ws_read_until_closed(ws);
    });
    BOOST_TEST(code == 1009);
    BOOST_TEST(rejections(reject_reason::message_too_large) == before + 1);
    BOOST_TEST(eventually([&] { return s.rooms->room("room1")->has("leave"); }));
    BOOST_TEST(!s.rooms->room("room1")->has("reject:UNKNOWN_ERROR"));
}

BOOST_AUTO_TEST_CASE(slow_consumer_is_closed_with_1008) {
    auto cfg = test_config();
    cfg.max_outbound_queue_bytes = 4096;
    running_server s(cfg);
    s.rooms->big_reply_bytes = 8192; // one reply over the whole bound
    const auto before = rejections(reject_reason::slow_consumer);
    std::string reason;
    const auto code = run_client<std::uint16_t>([&]() -> net::awaitable<std::uint16_t> {
        ws_stream ws(co_await net::this_coro::executor);
        co_await ws_open(ws, s.endpoint(), "/connect/room1?sessionId=tab1");
        co_await ws.async_write(net::buffer(std::string(R"({"type":"push","clientClock":1})")),
                                net::use_awaitable);
        const auto code = co_await ws_read_until_closed(ws);
        reason.assign(ws.reason().reason.data(), ws.reason().reason.size());
        co_return code;
    });
    BOOST_TEST(code == 1008);
    BOOST_TEST(reason == "slow consumer");
    BOOST_TEST(rejections(reject_reason::slow_consumer) == before + 1);
    BOOST_TEST(eventually([] { return global_metrics().outbound_queue_bytes.value() == 0; }));
}

BOOST_AUTO_TEST_CASE(over_max_connections_answers_503) {
    auto cfg = test_config();
    cfg.max_connections = 1;
    running_server s(cfg);
    net::io_context idle_io;
    tcp::socket idle(idle_io);
    idle.connect(s.endpoint()); // holds the only slot
    BOOST_REQUIRE(eventually([] { return global_metrics().connections_open.value() >= 1; }));
    std::this_thread::sleep_for(100ms); // the gauge is process-wide: let this accept land
    auto res = http_once(s.endpoint(), http::verb::get, "/healthz");
    BOOST_TEST(res.result_int() == 503);
    BOOST_TEST(res.body() == "server busy\n");
    idle.close();
}

BOOST_AUTO_TEST_CASE(shutdown_closes_sessions_with_1012_and_cuts_idle_connections) {
    auto s = std::make_unique<running_server>();
    std::promise<void> connected;
    std::uint16_t code = 0;
    bool idle_cut = false;
    std::string stage = "start", failure;
    std::thread client([&] {
        try {
            code = run_client<std::uint16_t>([&]() -> net::awaitable<std::uint16_t> {
                auto ex = co_await net::this_coro::executor;
                // An idle keep-alive HTTP connection...
                beast::tcp_stream idle(ex);
                stage = "idle connect";
                co_await idle.async_connect(s->endpoint(), net::use_awaitable);
                beast::flat_buffer buffer;
                stage = "idle request";
                (void)co_await roundtrip(idle, buffer, http::verb::get, "/healthz");
                // ...and a websocket session.
                ws_stream ws(ex);
                stage = "websocket handshake";
                co_await ws_open(ws, s->endpoint(), "/connect/room1?sessionId=tab1");
                connected.set_value();
                stage = "websocket read";
                const auto code = co_await ws_read_until_closed(ws);
                char byte;
                auto [ec, n] = co_await idle.async_read_some(net::buffer(&byte, 1), use_tuple);
                idle_cut = ec == net::error::eof || ec == net::error::connection_reset;
                co_return code;
            });
        } catch (const std::exception& e) {
            failure = stage + ": " + e.what();
            if (stage != "websocket read") connected.set_value();
        }
    });
    connected.get_future().wait();
    const auto t0 = std::chrono::steady_clock::now();
    // Checked after the join: the client thread's helpers log to Boost.Test,
    // which is not thread-safe (a race TSan reported).
    const int stopped = s->stop();
    const auto took = std::chrono::steady_clock::now() - t0;
    client.join();
    BOOST_TEST(stopped == 0);
    BOOST_TEST((took < 3s));
    BOOST_TEST(failure.empty(), failure);
    BOOST_TEST(code == 1012);
    BOOST_TEST(idle_cut);
}

BOOST_AUTO_TEST_CASE(bind_failure_names_the_flags) {
    running_server s;
    auto cfg = test_config();
    cfg.port = s.port();
    tlsync::server::server second(cfg, [](auto, auto, const auto&) {
        return std::make_shared<fake_service>();
    });
    const auto error = second.open();
    BOOST_TEST(error.find("--port") != std::string::npos);
    BOOST_TEST(error.find("--host") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
