// batched_write_stream under a websocket on a loopback connection: frames
// written while corked leave only at flush, whole and in order; writes after
// the connection failed fail, and so does the flush.

#include "server/user_socket_stream.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;
using tlsync::server::batched_write_stream;
using namespace net::experimental::awaitable_operators;

constexpr auto use_tuple = net::as_tuple(net::use_awaitable);

using server_ws = websocket::stream<batched_write_stream<beast::tcp_stream>>;
using client_ws = websocket::stream<beast::tcp_stream>;

struct ends {
    std::shared_ptr<int> owner = std::make_shared<int>(0);
    std::unique_ptr<server_ws> server;
    std::unique_ptr<client_ws> client;
};

net::awaitable<ends> connect_pair() {
    auto ex = co_await net::this_coro::executor;
    tcp::acceptor acceptor(ex, tcp::endpoint(net::ip::address_v4::loopback(), 0));
    ends p;
    p.client = std::make_unique<client_ws>(ex);
    co_await beast::get_lowest_layer(*p.client).async_connect(acceptor.local_endpoint(), net::use_awaitable);
    auto socket = co_await acceptor.async_accept(net::use_awaitable);
    p.server = std::make_unique<server_ws>(std::move(socket));
    p.server->next_layer().set_owner(p.owner);
    p.server->text(true);
    // The handshake's own writes go through the layer uncorked.
    co_await (p.server->async_accept(net::use_awaitable) &&
              p.client->async_handshake("localhost", "/", net::use_awaitable));
    co_return p;
}

template <class T> T run(net::io_context& io, net::awaitable<T> a) {
    auto f = net::co_spawn(io, std::move(a), net::use_future);
    io.run_for(10s);
    return f.get();
}

} // namespace

BOOST_AUTO_TEST_SUITE(user_socket_stream)

BOOST_AUTO_TEST_CASE(corked_frames_leave_at_flush_whole_and_in_order) {
    net::io_context io;
    auto got = run(io, []() -> net::awaitable<std::vector<std::string>> {
        auto p = co_await connect_pair();
        auto& layer = p.server->next_layer();
        layer.cork();
        const std::vector<std::string> frames = {R"({"type":"changes","n":1})", std::string(70'000, 'x'),
                                                 R"({"type":"commit"})"};
        for (const auto& f : frames) co_await p.server->async_write(net::buffer(f), net::use_awaitable);
        // Nothing reached the connection yet.
        BOOST_TEST(beast::get_lowest_layer(*p.client).socket().available() == 0u);
        const auto ec = co_await layer.flush();
        BOOST_TEST(!ec);
        std::vector<std::string> out;
        for (std::size_t i = 0; i < frames.size(); ++i) {
            beast::flat_buffer b;
            co_await p.client->async_read(b, net::use_awaitable);
            out.push_back(beast::buffers_to_string(b.data()));
        }
        BOOST_TEST((out == frames));
        co_return out;
    }());
    BOOST_TEST(got.size() == 3u);
}

BOOST_AUTO_TEST_CASE(a_failed_connection_fails_writes_and_flush) {
    net::io_context io;
    auto failed = run(io, []() -> net::awaitable<bool> {
        auto p = co_await connect_pair();
        auto& layer = p.server->next_layer();
        beast::get_lowest_layer(*p.server).close();
        layer.cork();
        co_await p.server->async_write(net::buffer(std::string("lost")), use_tuple);
        const auto ec = co_await layer.flush();
        BOOST_TEST(ec.failed());
        auto [wec, n] = co_await p.server->async_write(net::buffer(std::string("after")), use_tuple);
        BOOST_TEST(wec.failed());
        co_return ec.failed() && wec.failed();
    }());
    BOOST_TEST(failed);
}

BOOST_AUTO_TEST_SUITE_END()
