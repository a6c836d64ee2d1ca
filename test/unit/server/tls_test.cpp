// TLS and plain connections on the same port (async_detect_ssl), with a
// throwaway self-signed certificate.

#include "net_test_util.hpp"

#include "server/tls.hpp"

#include <openssl/ssl.h>

using namespace tlsync::test;

namespace {

using tls_stream = beast::ssl_stream<beast::tcp_stream>;

net::ssl::context client_context() {
    net::ssl::context ctx(net::ssl::context::tls_client);
    ctx.set_verify_mode(net::ssl::verify_none); // self-signed
    return ctx;
}

tlsync::server::config tls_config(const self_signed_cert& cert) {
    auto cfg = test_config();
    cfg.tls_cert = cert.cert.string();
    cfg.tls_key = cert.key.string();
    return cfg;
}

} // namespace

BOOST_AUTO_TEST_SUITE(tls)

BOOST_AUTO_TEST_CASE(context_is_tls12_or_later) {
    self_signed_cert cert;
    auto r = tlsync::server::make_tls_context(tls_config(cert));
    BOOST_REQUIRE_MESSAGE(r.context, r.error);
    BOOST_TEST(SSL_CTX_get_min_proto_version(r.context->native_handle()) == TLS1_2_VERSION);
}

BOOST_AUTO_TEST_CASE(unreadable_key_names_the_flag) {
    self_signed_cert cert;
    auto cfg = tls_config(cert);
    cfg.tls_key = (cert.dir / "missing.pem").string();
    auto r = tlsync::server::make_tls_context(cfg);
    BOOST_TEST(!r.context);
    BOOST_TEST(r.error.find("--tls-key") != std::string::npos);

    tlsync::server::server s(cfg, [](auto, auto, const auto&) { return std::make_shared<fake_service>(); });
    BOOST_TEST(s.open().find("--tls-key") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(https_wss_and_plain_share_the_port) {
    self_signed_cert cert;
    running_server s(tls_config(cert));
    auto client_ctx = client_context();

    // Plain HTTP still works on a TLS-enabled port.
    BOOST_TEST(http_once(s.endpoint(), http::verb::get, "/healthz").result_int() == 200);

    run_client<int>([&]() -> net::awaitable<int> {
        auto ex = co_await net::this_coro::executor;
        tls_stream stream(ex, client_ctx);
        beast::get_lowest_layer(stream).expires_after(5s);
        co_await beast::get_lowest_layer(stream).async_connect(s.endpoint(), net::use_awaitable);
        co_await stream.async_handshake(net::ssl::stream_base::client, net::use_awaitable);
        beast::flat_buffer buffer;
        auto res = co_await roundtrip(stream, buffer, http::verb::get, "/healthz");
        BOOST_TEST(res.result_int() == 200);
        BOOST_TEST(res.body() == "ok\n");
        const auto* version = SSL_get_version(stream.native_handle());
        BOOST_TEST((std::string(version) == "TLSv1.3" || std::string(version) == "TLSv1.2"));
        co_return 0;
    });

    run_client<int>([&]() -> net::awaitable<int> {
        auto ex = co_await net::this_coro::executor;
        websocket::stream<tls_stream> ws(ex, client_ctx);
        beast::get_lowest_layer(ws).expires_after(5s);
        co_await beast::get_lowest_layer(ws).async_connect(s.endpoint(), net::use_awaitable);
        co_await ws.next_layer().async_handshake(net::ssl::stream_base::client, net::use_awaitable);
        beast::get_lowest_layer(ws).expires_never();
        ws.set_option(websocket::stream_base::timeout::suggested(beast::role_type::client));
        co_await ws.async_handshake("localhost", "/connect/room1?sessionId=tab1", net::use_awaitable);
        co_await ws.async_write(net::buffer(std::string(R"({"type":"ping"})")), net::use_awaitable);
        beast::flat_buffer b;
        co_await ws.async_read(b, net::use_awaitable);
        BOOST_TEST(beast::buffers_to_string(b.data()) == R"({"type":"pong"})");
        co_await ws.async_close(websocket::close_code::normal, net::use_awaitable);
        co_return 0;
    });
    BOOST_TEST(s.rooms->room("room1")->has("message:ping"));
    BOOST_TEST(s.stop() == 0);
}

BOOST_AUTO_TEST_SUITE_END()
