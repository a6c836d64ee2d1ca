#include "user_test_server.hpp"

#include "core/tldraw_schema.hpp"
#include "server/admin.hpp"
#include "server/http_session.hpp"
#include "server/user_socket.hpp"
#include "server/ws_connection.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/json/parse.hpp>

#include <future>

namespace tlsync::test {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;

temp_data_dir::temp_data_dir() {
    std::string t = "/tmp/tlsync-users-XXXXXX";
    if (!mkdtemp(t.data())) throw std::runtime_error("mkdtemp");
    path = t;
}
temp_data_dir::~temp_data_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
}

namespace {

// What the listener does with an upgrade: user sockets to run_user_websocket,
// the rest to run_websocket.
net::awaitable<void> serve(tcp::socket socket, std::shared_ptr<server::connection_context> ctx) {
    auto upgrade = co_await server::run_connection(beast::tcp_stream(std::move(socket)), ctx, "test", false);
    if (!upgrade) co_return;
    if (upgrade->target.user) co_await server::run_user_websocket(std::move(*upgrade), ctx, "test");
    else co_await server::run_websocket(std::move(*upgrade), ctx, "test");
}

net::awaitable<void> accept_loop(std::shared_ptr<tcp::acceptor> a, std::shared_ptr<server::connection_context> ctx,
                                 net::io_context& io) {
    for (;;) {
        auto [ec, s] = co_await a->async_accept(net::make_strand(io), net::as_tuple(net::use_awaitable));
        if (ec) co_return;
        auto ex = s.get_executor();
        net::co_spawn(ex, serve(std::move(s), ctx), net::detached);
    }
}

} // namespace

user_test_server::user_test_server(const std::string& conninfo, const std::string& slot,
                                   const std::function<void(server::config&)>& tweak) {
    cfg_.data_dir = dir_.path.string();
    cfg_.postgres = conninfo;
    cfg_.replicator_slot = slot;
    cfg_.app_users_insecure = true;
    cfg_.admin_token = "secret";
    cfg_.room_unload_delay = 200ms;
    cfg_.shutdown_timeout = 5s;
    if (tweak) tweak(cfg_);
    ctx_ = std::make_shared<server::connection_context>();
    ctx_->cfg = cfg_;
    rooms_ = server::make_room_service(t_.io.get_executor(), t_.blocking.get_executor(), ctx_->cfg,
                                       core::make_tldraw_schema());
    ctx_->rooms = rooms_;
    if (!cfg_.postgres.empty()) {
        server::user_plane_options o;
        o.backoff_initial = 100ms;
        o.backoff_max = 1s;
        o.own_thread = true;
        plane_ = server::make_user_plane(plane_t_.io.get_executor(), t_.blocking.get_executor(), ctx_->cfg, rooms_, o);
    }
    ctx_->admin = server::make_admin_handler(rooms_, ctx_->cfg, plane_.repl ? plane_.diagnostics()
                                                                            : server::diagnostics_provider{});
    acceptor_ = std::make_shared<tcp::acceptor>(net::make_strand(t_.io), tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
    port_ = acceptor_->local_endpoint().port();
    net::co_spawn(acceptor_->get_executor(), accept_loop(acceptor_, ctx_, t_.io), net::detached);
    if (plane_.repl) plane_.start();
}

user_test_server::~user_test_server() {
    net::post(acceptor_->get_executor(), [a = acceptor_] {
        boost::system::error_code ec;
        a->close(ec);
    });
    auto done = std::make_shared<std::promise<void>>();
    auto f = done->get_future();
    if (plane_.repl) plane_.stop([done] { done->set_value(); });
    else done->set_value();
    (void)f.wait_for(10s);
    auto rooms_done = std::make_shared<std::promise<void>>();
    auto rf = rooms_done->get_future();
    rooms_->shutdown(1012, [rooms_done] { rooms_done->set_value(); });
    (void)rf.wait_for(10s);
    ctx_->tracker.cancel_all(net::cancellation_type::terminal);
    // Slots outlive their databases: free this one for the next tests.
    if (!cfg_.postgres.empty()) {
        pg_client db(cfg_.postgres);
        (void)eventually([&] {
            return db.try_exec("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                               "WHERE slot_name = '" + cfg_.replicator_slot + "'").has_value();
        }, 5s);
    }
    // Every thread ends before any member goes: the plane posts to t_'s pool
    // (and to rooms on t_), t_'s sockets post to the plane's strands.
    t_.stop_io();
    plane_t_.stop_io();
    t_.blocking.join();
    plane_t_.blocking.join();
}

bool user_test_server::wait_streaming(std::chrono::milliseconds t) {
    return eventually([&] { return plane_.repl->stats().state == "streaming"; }, t);
}

// ---- ws_client ------------------------------------------------------------------

ws_client::~ws_client() {
    if (ws_) {
        net::post(io_, [this] {
            beast::error_code ec;
            beast::get_lowest_layer(*ws_).socket().close(ec);
        });
    }
    if (thread_.joinable()) thread_.join();
}

bool ws_client::connect(std::uint16_t port, const std::string& target) {
    ws_.emplace(io_);
    beast::error_code ec;
    beast::get_lowest_layer(*ws_).connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port), ec);
    if (ec) return false;
    ws_->handshake("127.0.0.1:" + std::to_string(port), target, ec);
    if (ec) return false;
    read_loop();
    thread_ = std::thread([this] { io_.run(); });
    return true;
}

void ws_client::read_loop() {
    if (paused_ || read_pending_ || closed_) return;
    read_pending_ = true;
    ws_->async_read(buffer_, [this](beast::error_code ec, std::size_t) {
        read_pending_ = false;
        if (ec) {
            std::lock_guard l(m_);
            close_code_ = ws_->reason().code;
            close_reason_ = std::string(ws_->reason().reason.c_str());
            closed_ = true;
            return;
        }
        auto text = beast::buffers_to_string(buffer_.data());
        buffer_.consume(buffer_.size());
        {
            std::lock_guard l(m_);
            boost::system::error_code pec;
            auto v = boost::json::parse(text, pec);
            if (!pec && v.is_object()) {
                frames_.push_back(v.as_object());
            } else {
                boost::json::object bad;
                bad["type"] = "<bad>";
                bad["raw"] = text;
                frames_.push_back(std::move(bad));
            }
        }
        read_loop();
    });
}

void ws_client::pause_reading(bool paused) {
    paused_ = paused;
    if (!paused) net::post(io_, [this] { read_loop(); });
}

void ws_client::send(std::string text) {
    net::post(io_, [this, text = std::move(text)]() mutable {
        outbox_.push_back(std::move(text));
        if (!writing_) write_next();
    });
}

void ws_client::write_next() {
    if (outbox_.empty() || closed_) {
        writing_ = false;
        return;
    }
    writing_ = true;
    auto msg = std::make_shared<std::string>(std::move(outbox_.front()));
    outbox_.pop_front();
    ws_->async_write(net::buffer(*msg), [this, msg](beast::error_code, std::size_t) { write_next(); });
}

void ws_client::close() {
    net::post(io_, [this] {
        ws_->async_close(websocket::close_code::normal, [](beast::error_code) {});
    });
}

std::vector<boost::json::object> ws_client::frames() {
    std::lock_guard l(m_);
    return frames_;
}

std::vector<boost::json::object> ws_client::of_type(const std::string& type) {
    std::vector<boost::json::object> out;
    for (auto& f : frames())
        if (auto* t = f.if_contains("type"); t && t->is_string() && t->get_string() == type) out.push_back(f);
    return out;
}

bool ws_client::wait_for(const std::string& type, std::size_t n, std::chrono::milliseconds t) {
    return eventually([&] { return of_type(type).size() >= n; }, t);
}

int ws_client::close_code() {
    std::lock_guard l(m_);
    return close_code_;
}

std::string ws_client::close_reason() {
    std::lock_guard l(m_);
    return close_reason_;
}

bool ws_client::wait_closed(std::chrono::milliseconds t) {
    return eventually([&] { return closed_.load(); }, t);
}

std::pair<int, std::string> http_get(std::uint16_t port, const std::string& target, const std::string& bearer,
                                     bool upgrade) {
    net::io_context io;
    beast::tcp_stream s(io);
    s.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
    http::request<http::string_body> req{http::verb::get, target, 11};
    req.set(http::field::host, "127.0.0.1");
    if (!bearer.empty()) req.set(http::field::authorization, "Bearer " + bearer);
    if (upgrade) {
        req.set(http::field::upgrade, "websocket");
        req.set(http::field::connection, "Upgrade");
        req.set(http::field::sec_websocket_key, "dGhlIHNhbXBsZSBub25jZQ==");
        req.set(http::field::sec_websocket_version, "13");
    }
    http::write(s, req);
    beast::flat_buffer b;
    http::response<http::string_body> res;
    http::read(s, b, res);
    return {res.result_int(), res.body()};
}

std::vector<std::int64_t> sequence_numbers(const std::vector<boost::json::object>& changes) {
    std::vector<std::int64_t> out;
    for (auto& c : changes) out.push_back(c.at("sequenceNumber").as_int64());
    return out;
}

} // namespace tlsync::test
