#pragma once
// Helpers for the in-process network tests: a fake room service that records
// what connections tell rooms, a tlsyncd server on an ephemeral port, client
// coroutines run with a deadline, and a throwaway self-signed certificate.

#include "server/room_service.hpp"
#include "server/server.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <boost/test/unit_test.hpp>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <future>
#include <map>
#include <optional>
#include <mutex>
#include <random>
#include <thread>

namespace tlsync::test {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;

inline constexpr auto use_tuple = net::as_tuple(net::use_awaitable);

// Polls `pred` until it holds or 5 s pass.
inline bool eventually(const std::function<bool()>& pred) {
    for (auto until = std::chrono::steady_clock::now() + 5s; std::chrono::steady_clock::now() < until;) {
        if (pred()) return true;
        std::this_thread::sleep_for(5ms);
    }
    return pred();
}

class fake_room : public server::room_actor {
public:
    explicit fake_room(std::string id) : id_(std::move(id)) {}
    const std::string& id() const noexcept override { return id_; }

    void join(core::socket_ref s, bool, std::weak_ptr<server::session_sink> sink) override {
        std::optional<std::uint16_t> closed;
        {
            std::lock_guard l(m_);
            sinks_[s.socket_id] = sink;
            events_.push_back("join:" + s.session_id);
            closed = closed_with_;
        }
        // Like room_actor: a socket that joins a room already shut down (its
        // handshake ended just as shutdown began) is closed the same way.
        if (closed)
            if (auto live = sink.lock()) live->close(*closed, "");
    }
    // Shutdown: closes every session, and every later joiner, with `code`.
    void close_all(std::uint16_t code) {
        {
            std::lock_guard l(m_);
            closed_with_ = code;
        }
        for (auto& s : live_sinks()) s->close(code, "");
    }
    void message(core::socket_ref s, proto::client_message msg) override {
        auto sink = sink_of(s.socket_id);
        if (std::holds_alternative<proto::ping_request>(msg)) {
            record("message:ping");
            if (!sink) return;
            sink->deliver({core::outbound_kind::pong, {core::make_shared_text(R"({"type":"pong"})")}});
            sink->deliver({core::outbound_kind::data,
                           {core::make_shared_text("\"a\""), core::make_shared_text("\"b\"")}});
        } else if (std::holds_alternative<proto::push_request>(msg)) {
            record("message:push");
            if (sink && big_reply_bytes > 0)
                sink->deliver({core::outbound_kind::custom,
                               {core::make_shared_text(std::string(big_reply_bytes, 'x'))}});
        } else {
            record("message:connect");
        }
    }
    void leave(core::socket_ref) override { record("leave"); }
    void reject(core::socket_ref s, std::string reason) override {
        record("reject:" + reason);
        if (auto sink = sink_of(s.socket_id)) sink->close(4099, reason);
    }
    void visit(std::function<void(core::room*)> f) override { f(nullptr); }

    bool has(const std::string& e) {
        std::lock_guard l(m_);
        return std::find(events_.begin(), events_.end(), e) != events_.end();
    }
    std::vector<std::shared_ptr<server::session_sink>> live_sinks() {
        std::lock_guard l(m_);
        std::vector<std::shared_ptr<server::session_sink>> out;
        for (auto& [id, w] : sinks_)
            if (auto s = w.lock()) out.push_back(s);
        return out;
    }

    std::size_t big_reply_bytes = 0;

private:
    void record(std::string e) {
        std::lock_guard l(m_);
        events_.push_back(std::move(e));
    }
    std::shared_ptr<server::session_sink> sink_of(std::uint64_t id) {
        std::lock_guard l(m_);
        auto it = sinks_.find(id);
        return it == sinks_.end() ? nullptr : it->second.lock();
    }

    std::string id_;
    std::mutex m_;
    std::vector<std::string> events_;
    std::map<std::uint64_t, std::weak_ptr<server::session_sink>> sinks_;
    std::optional<std::uint16_t> closed_with_;
};

class fake_service : public server::room_service {
public:
    std::shared_ptr<server::room_actor> acquire(std::string_view id) override {
        std::lock_guard l(m_);
        if (stopped_) return nullptr;
        auto& r = rooms_[std::string(id)];
        if (!r) {
            r = std::make_shared<fake_room>(std::string(id));
            r->big_reply_bytes = big_reply_bytes;
        }
        return r;
    }
    std::vector<std::shared_ptr<server::room_actor>> rooms() const override {
        std::lock_guard l(m_);
        std::vector<std::shared_ptr<server::room_actor>> out;
        for (auto& [id, r] : rooms_) out.push_back(r);
        return out;
    }
    void shutdown(std::uint16_t code, std::function<void()> done) override {
        std::vector<std::shared_ptr<fake_room>> all;
        {
            std::lock_guard l(m_);
            stopped_ = true;
            for (auto& [id, r] : rooms_) all.push_back(r);
        }
        for (auto& r : all) r->close_all(code);
        done();
    }
    std::shared_ptr<fake_room> room(const std::string& id) {
        std::lock_guard l(m_);
        auto it = rooms_.find(id);
        return it == rooms_.end() ? nullptr : it->second;
    }

    std::size_t big_reply_bytes = 0;

private:
    mutable std::mutex m_;
    bool stopped_ = false;
    std::map<std::string, std::shared_ptr<fake_room>> rooms_;
};

inline server::config test_config() {
    server::config cfg;
    cfg.host = "127.0.0.1";
    cfg.port = 0;
    cfg.threads = 2;
    cfg.shutdown_timeout = 3s;
    cfg.handshake_timeout = 3s;
    return cfg;
}

// tlsyncd's server on 127.0.0.1:<ephemeral> with a fake room service,
// served by a background thread.
class running_server {
public:
    explicit running_server(server::config cfg = test_config())
        : srv_(cfg, [r = rooms](net::any_io_executor, net::any_io_executor, const server::config&) {
              return r;
          }) {
        const auto error = srv_.open();
        BOOST_REQUIRE_MESSAGE(error.empty(), error);
        thread_ = std::thread([this] { exit_code_ = srv_.run(); });
        BOOST_REQUIRE(eventually([&] { return srv_.running(); }));
    }
    ~running_server() { stop(); }

    int stop() {
        if (thread_.joinable()) {
            srv_.request_stop();
            thread_.join();
        }
        return exit_code_;
    }
    std::uint16_t port() const { return srv_.port(); }
    tcp::endpoint endpoint() const { return {net::ip::make_address("127.0.0.1"), port()}; }

    std::shared_ptr<fake_service> rooms = std::make_shared<fake_service>();

private:
    server::server srv_;
    std::thread thread_;
    std::atomic<int> exit_code_{-1};
};

// Runs a client coroutine on its own io_context; fails the test after `limit`.
template <class T>
T run_client(std::function<net::awaitable<T>()> f, std::chrono::seconds limit = 10s) {
    net::io_context ioc;
    auto fut = net::co_spawn(ioc, f(), net::use_future);
    ioc.run_for(limit);
    BOOST_REQUIRE_MESSAGE(fut.wait_for(0s) == std::future_status::ready, "client timed out");
    return fut.get();
}

using response = http::response<http::string_body>;

template <class Stream>
net::awaitable<response> roundtrip(Stream& stream, beast::flat_buffer& buffer, http::verb verb,
                                   std::string target, bool keep_alive = true) {
    http::request<http::empty_body> req{verb, target, 11};
    req.set(http::field::host, "localhost");
    req.keep_alive(keep_alive);
    co_await http::async_write(stream, req, net::use_awaitable);
    response res;
    co_await http::async_read(stream, buffer, res, net::use_awaitable);
    co_return res;
}

// One request on a fresh plain connection.
inline response http_once(tcp::endpoint ep, http::verb verb, std::string target) {
    return run_client<response>([&]() -> net::awaitable<response> {
        beast::tcp_stream stream(co_await net::this_coro::executor);
        stream.expires_after(5s);
        co_await stream.async_connect(ep, net::use_awaitable);
        beast::flat_buffer buffer;
        co_return co_await roundtrip(stream, buffer, verb, target, false);
    });
}

// A self-signed P-256 certificate for CN=localhost, valid for an hour.
struct self_signed_cert {
    std::filesystem::path dir, cert, key;
    self_signed_cert() {
        dir = std::filesystem::temp_directory_path() /
              ("tlsync-tls-" + std::to_string(std::random_device{}()));
        std::filesystem::create_directories(dir);
        cert = dir / "cert.pem";
        key = dir / "key.pem";
        EVP_PKEY* pkey = EVP_EC_gen("P-256");
        BOOST_REQUIRE(pkey);
        X509* x = X509_new();
        X509_set_version(x, 2);
        ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
        X509_gmtime_adj(X509_getm_notBefore(x), 0);
        X509_gmtime_adj(X509_getm_notAfter(x), 3600);
        X509_set_pubkey(x, pkey);
        X509_NAME* name = X509_get_subject_name(x);
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                   reinterpret_cast<const unsigned char*>("localhost"), -1, -1, 0);
        X509_set_issuer_name(x, name);
        BOOST_REQUIRE(X509_sign(x, pkey, EVP_sha256()) > 0);
        FILE* f = std::fopen(cert.c_str(), "w");
        PEM_write_X509(f, x);
        std::fclose(f);
        f = std::fopen(key.c_str(), "w");
        PEM_write_PrivateKey(f, pkey, nullptr, nullptr, 0, nullptr, nullptr);
        std::fclose(f);
        X509_free(x);
        EVP_PKEY_free(pkey);
    }
    ~self_signed_cert() {
        std::error_code ec;
        std::filesystem::remove_all(dir, ec);
    }
};

} // namespace tlsync::test
