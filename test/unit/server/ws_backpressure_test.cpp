// Input flow control of a websocket connection: while its room has not
// finished the connection's earlier messages (it still holds their receipts),
// the connection stops reading, so TCP pushes back on the client instead of
// messages piling up on the room's strand.

#include "net_test_util.hpp"

using namespace tlsync::test;

namespace tlsync::test {
namespace {

// A room that takes messages and keeps their receipts until told to let go.
class holding_room : public server::room_actor {
public:
    const std::string& id() const noexcept override { return id_; }
    void join(core::socket_ref, bool, std::weak_ptr<server::session_sink> sink) override {
        std::lock_guard l(m_);
        sink_ = std::move(sink);
    }
    void message(core::socket_ref s, proto::client_message m) override { submit(s, std::move(m), nullptr); }
    void submit(core::socket_ref, proto::client_message, std::shared_ptr<const void> receipt) override {
        std::lock_guard l(m_);
        ++received_;
        if (holding_) held_.push_back(std::move(receipt));
    }
    void leave(core::socket_ref) override {}
    void reject(core::socket_ref, std::string) override {}
    void visit(std::function<void(core::room*)> f) override { f(nullptr); }

    std::size_t received() {
        std::lock_guard l(m_);
        return received_;
    }
    void release_all() {
        std::vector<std::shared_ptr<const void>> held;
        {
            std::lock_guard l(m_);
            holding_ = false;
            held.swap(held_);
        }
        held.clear(); // outside the lock: a receipt wakes the connection
    }
    void close_sessions() {
        std::shared_ptr<server::session_sink> s;
        {
            std::lock_guard l(m_);
            s = sink_.lock();
        }
        if (s) s->close(1012, "");
    }

private:
    std::string id_ = "room1";
    std::mutex m_;
    std::weak_ptr<server::session_sink> sink_;
    std::vector<std::shared_ptr<const void>> held_;
    std::size_t received_ = 0;
    bool holding_ = true;
};

class holding_service : public server::room_service {
public:
    std::shared_ptr<server::room_actor> acquire(std::string_view) override { return room; }
    std::vector<std::shared_ptr<server::room_actor>> rooms() const override { return {room}; }
    void shutdown(std::uint16_t, std::function<void()> done) override {
        room->release_all();
        room->close_sessions();
        done();
    }
    std::shared_ptr<holding_room> room = std::make_shared<holding_room>();
};

} // namespace
} // namespace tlsync::test

BOOST_AUTO_TEST_SUITE(ws_backpressure)

BOOST_AUTO_TEST_CASE(reader_waits_for_the_room_then_resumes) {
    auto service = std::make_shared<holding_service>();
    auto cfg = test_config();
    cfg.max_messages_per_second = 0; // 2,000 pings at once: the flood is the point here
    tlsync::server::server srv(cfg,
                               [service](net::any_io_executor, net::any_io_executor,
                                         const tlsync::server::config&) { return service; });
    const auto error = srv.open();
    BOOST_REQUIRE_MESSAGE(error.empty(), error);
    std::thread t([&] { (void)srv.run(); });
    BOOST_REQUIRE(eventually([&] { return srv.running(); }));
    const tcp::endpoint ep{net::ip::make_address("127.0.0.1"), srv.port()};

    constexpr std::size_t sent = 2000;
    std::size_t while_held = 0;
    run_client<int>([&]() -> net::awaitable<int> {
        websocket::stream<beast::tcp_stream> ws(co_await net::this_coro::executor);
        co_await beast::get_lowest_layer(ws).async_connect(ep, net::use_awaitable);
        co_await ws.async_handshake("localhost", "/connect/room1?sessionId=tab1", net::use_awaitable);
        // 2,000 pings: far past the connection's 16 KiB budget, well within
        // what the kernel buffers (~40 KB), so every write completes.
        const std::string ping = R"({"type":"ping"})";
        for (std::size_t i = 0; i < sent; ++i)
            co_await ws.async_write(net::buffer(ping), net::use_awaitable);
        net::steady_timer settle(co_await net::this_coro::executor, 300ms);
        co_await settle.async_wait(net::use_awaitable);
        while_held = service->room->received();
        service->room->release_all();
        co_return 0;
    });
    // 16 KiB / (15 B + 512 B of per-message overhead): the reader stops at 32.
    BOOST_TEST(while_held >= 1u);
    BOOST_TEST(while_held <= 32u);
    BOOST_TEST(eventually([&] { return service->room->received() == sent; }));

    srv.request_stop();
    t.join();
}

BOOST_AUTO_TEST_SUITE_END()
