// bench_relay: the I/O ceiling for scripts/bench. A websocket broadcast
// server with no sync logic: every message a client sends (other than
// connect and ping) goes, byte for byte, to every other client of the same
// room. It batches like tlsyncd does (at most one immediate frame and one
// flush per 16 ms window per connection, the batch wrapped as
// {"type":"data","data":[...]}, copied into one buffer per write), so frames
// and syscalls per delivered message are comparable and only the sync work
// differs. One thread.
//
//   bench_relay [--host 127.0.0.1] [--port 0] [--debounce-ms 16]
//
// Same URL scheme as tlsyncd: /connect/{room}, GET /healthz. Logs
// "relay listening on HOST:PORT" on stderr.

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;
using clock_type = std::chrono::steady_clock;
constexpr auto use_tuple = net::as_tuple(net::use_awaitable);

constexpr std::string_view connect_reply =
    R"({"type":"connect","connectRequestId":"relay","hydrationType":"wipe_all","protocolVersion":8,)"
    R"("schema":{},"serverClock":0,"diff":{},"isReadonly":false})";
constexpr std::string_view pong_reply = R"({"type":"pong"})";
constexpr std::size_t max_queue_bytes = 64u << 20;

std::chrono::milliseconds debounce{16};

class connection;
using room_map = std::unordered_map<std::string, std::vector<connection*>>;

class connection : public std::enable_shared_from_this<connection> {
  public:
    connection(tcp::socket socket, room_map& rooms)
        : ws_(std::move(socket)), rooms_(rooms), wake_(ws_.get_executor()) {
        wake_.expires_at(clock_type::time_point::max());
    }

    net::awaitable<void> run(http::request<http::string_body> req, std::string room) {
        ws_.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
        ws_.read_message_max(64u << 20);
        ws_.auto_fragment(false);
        ws_.text(true);
        if (auto [ec] = co_await ws_.async_accept(req, use_tuple); ec) co_return;
        room_ = std::move(room);
        rooms_[room_].push_back(this);
        using namespace net::experimental::awaitable_operators;
        co_await (reader() && writer());
        auto& members = rooms_[room_];
        std::erase(members, this);
        if (members.empty()) rooms_.erase(room_);
    }

    // Called by peers, on the one thread.
    void deliver(const std::shared_ptr<const std::string>& m) {
        if (done_) return;
        queued_bytes_ += m->size();
        if (queued_bytes_ > max_queue_bytes) { // a slow consumer, as tlsyncd would close it
            done_ = true;
            beast::get_lowest_layer(ws_).close();
            return;
        }
        batch_.push_back(m);
        // During a debounce wait the flush is already due: no wake-up (a
        // cancel and re-arm per delivered message would cost more than the send).
        if (idle_) wake_.cancel_one();
    }

  private:
    net::awaitable<void> reader() {
        beast::flat_buffer buffer;
        for (;;) {
            auto [ec, n] = co_await ws_.async_read(buffer, use_tuple);
            if (ec) break;
            const std::string_view msg(static_cast<const char*>(buffer.cdata().data()),
                                       buffer.size());
            if (msg.starts_with(R"({"type":"connect")"))
                reply(connect_reply);
            else if (msg.starts_with(R"({"type":"ping")"))
                reply(pong_reply);
            else {
                auto shared = std::make_shared<const std::string>(msg);
                for (connection* peer : rooms_[room_])
                    if (peer != this) peer->deliver(shared);
            }
            buffer.consume(buffer.size());
        }
        done_ = true;
        idle_ = true; // the writer must see the end whatever it waits for
        wake_.cancel();
    }

    void reply(std::string_view m) {
        replies_.emplace_back(m);
        wake_.cancel_one();
    }

    net::awaitable<void> writer() {
        std::string frame; // reused: no allocation per flush once grown
        std::vector<std::shared_ptr<const std::string>> sending;
        auto last_flush = clock_type::now() - debounce;
        while (!done_) {
            if (!replies_.empty()) {
                const std::string m = std::move(replies_.front());
                replies_.erase(replies_.begin());
                if (auto [ec, n] = co_await ws_.async_write(net::buffer(m), use_tuple); ec) break;
                continue;
            }
            if (!batch_.empty()) {
                const auto due = last_flush + debounce;
                if (clock_type::now() < due) { // inside the window: wait for its end
                    wake_.expires_at(due);
                    (void)co_await wake_.async_wait(use_tuple);
                    wake_.expires_at(clock_type::time_point::max());
                    if (clock_type::now() < due) continue; // woken early (a reply, the end)
                }
                // One contiguous buffer: Beast walks a long buffer sequence
                // once per 64 pieces written, which costs more than the copy.
                sending.swap(batch_);
                frame.assign(R"({"type":"data","data":[)");
                for (std::size_t i = 0; i < sending.size(); ++i) {
                    if (i) frame += ',';
                    frame += *sending[i];
                }
                frame += "]}";
                last_flush = clock_type::now();
                auto [ec, n] = co_await ws_.async_write(net::buffer(frame), use_tuple);
                for (const auto& m : sending)
                    queued_bytes_ -= m->size();
                sending.clear();
                if (ec) break;
                continue;
            }
            idle_ = true;
            (void)co_await wake_.async_wait(use_tuple);
            idle_ = false;
        }
        done_ = true;
        if (ws_.is_open()) (void)co_await ws_.async_close(websocket::close_code::normal, use_tuple);
    }

    websocket::stream<beast::tcp_stream> ws_;
    room_map& rooms_;
    std::string room_;
    net::steady_timer wake_; // the writer's condition variable, and its debounce timer
    std::vector<std::shared_ptr<const std::string>> batch_;
    std::vector<std::string> replies_;
    std::size_t queued_bytes_ = 0;
    bool done_ = false;
    bool idle_ = false; // the writer waits for work, not for a debounce window
};

net::awaitable<void> serve(tcp::socket socket, room_map& rooms) {
    beast::tcp_stream stream(std::move(socket));
    beast::flat_buffer buffer;
    http::request<http::string_body> req;
    stream.expires_after(std::chrono::seconds(10));
    if (auto [ec, n] = co_await http::async_read(stream, buffer, req, use_tuple); ec) co_return;
    stream.expires_never();
    const std::string_view target = req.target();
    const std::string_view path = target.substr(0, target.find('?'));
    if (websocket::is_upgrade(req) && path.starts_with("/connect/") && path.size() > 9) {
        stream.socket().set_option(tcp::no_delay(true));
        auto c = std::make_shared<connection>(stream.release_socket(), rooms);
        co_await c->run(std::move(req), std::string(path.substr(9)));
        co_return;
    }
    http::response<http::string_body> res{
        path == "/healthz" ? http::status::ok : http::status::not_found, req.version()};
    res.set(http::field::content_type, "text/plain");
    res.body() = path == "/healthz" ? "ok" : "not found";
    res.keep_alive(false);
    res.prepare_payload();
    (void)co_await http::async_write(stream, res, use_tuple);
}

void log_exception(std::exception_ptr e) {
    if (!e) return;
    try {
        std::rethrow_exception(e);
    } catch (const std::exception& x) {
        std::fprintf(stderr, "relay: %s\n", x.what());
    }
}

net::awaitable<void> listen(tcp::acceptor& acceptor, room_map& rooms) {
    for (;;) {
        auto [ec, socket] = co_await acceptor.async_accept(use_tuple);
        if (ec == net::error::operation_aborted) co_return;
        if (ec) continue; // e.g. out of file descriptors: keep serving the others
        net::co_spawn(acceptor.get_executor(), serve(std::move(socket), rooms), log_exception);
    }
}

} // namespace

int main(int argc, char** argv) {
    std::string host = "127.0.0.1";
    unsigned short port = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string a = argv[i];
        if (a == "--host")
            host = argv[i + 1];
        else if (a == "--port")
            port = static_cast<unsigned short>(std::stoi(argv[i + 1]));
        else if (a == "--debounce-ms")
            debounce = std::chrono::milliseconds(std::stoi(argv[i + 1]));
        else {
            std::fprintf(stderr, "usage: bench_relay [--host H] [--port P] [--debounce-ms N]\n");
            return 2;
        }
    }
    net::io_context ioc(1);
    room_map rooms;
    tcp::acceptor acceptor(ioc, {net::ip::make_address(host), port});
    std::fprintf(stderr, "relay listening on %s:%u\n", host.c_str(),
                 acceptor.local_endpoint().port());
    net::signal_set signals(ioc, SIGINT, SIGTERM);
    signals.async_wait([&](auto, int) { ioc.stop(); });
    net::co_spawn(ioc, listen(acceptor, rooms), log_exception);
    ioc.run();
}
