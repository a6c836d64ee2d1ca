// TLS and plain connections on the same port (async_detect_ssl), with a
// throwaway self-signed certificate.

#include "net_test_util.hpp"

#include "server/tls.hpp"

#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

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

    // The websocket upgrade over TLS reaches the room. (Frames over wss are
    // exercised end to end by test/integration/tls.test.mjs with the real
    // client; a Beast websocket-over-TLS client here cost minutes of build.)
    run_client<int>([&]() -> net::awaitable<int> {
        auto ex = co_await net::this_coro::executor;
        tls_stream stream(ex, client_ctx);
        beast::get_lowest_layer(stream).expires_after(5s);
        co_await beast::get_lowest_layer(stream).async_connect(s.endpoint(), net::use_awaitable);
        co_await stream.async_handshake(net::ssl::stream_base::client, net::use_awaitable);
        http::request<http::empty_body> req{http::verb::get, "/connect/room1?sessionId=tab1", 11};
        req.set(http::field::host, "localhost");
        req.set(http::field::upgrade, "websocket");
        req.set(http::field::connection, "Upgrade");
        req.set(http::field::sec_websocket_key, "dGhlIHNhbXBsZSBub25jZQ==");
        req.set(http::field::sec_websocket_version, "13");
        co_await http::async_write(stream, req, net::use_awaitable);
        beast::flat_buffer buffer;
        http::response_parser<http::empty_body> res;
        res.skip(true); // a 101 has no body; what follows is the websocket
        co_await http::async_read_header(stream, buffer, res, net::use_awaitable);
        BOOST_TEST(res.get().result_int() == 101);
        BOOST_TEST(res.get()[http::field::sec_websocket_accept] == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        // A masked text frame {"type":"ping"}; the room answers with a pong frame.
        const std::string ping = R"({"type":"ping"})";
        std::string frame{'\x81', static_cast<char>(0x80 | ping.size()), 0, 0, 0, 0};
        frame += ping; // mask key 0: the payload goes as is
        co_await net::async_write(stream, net::buffer(frame), net::use_awaitable);
        const std::string pong = R"({"type":"pong"})";
        std::string got(2 + pong.size(), '\0');
        auto from_buffer = std::min(buffer.size(), got.size());
        net::buffer_copy(net::buffer(got), buffer.data(), from_buffer);
        if (from_buffer < got.size())
            co_await net::async_read(stream, net::buffer(got.data() + from_buffer, got.size() - from_buffer),
                                     net::use_awaitable);
        BOOST_TEST(got.substr(2) == pong);
        co_return 0;
    });
    BOOST_TEST(s.rooms->room("room1")->has("message:ping"));
    BOOST_TEST(s.stop() == 0);
}

BOOST_AUTO_TEST_SUITE_END()
