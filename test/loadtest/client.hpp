#pragma once
// One simulated tldraw client: a websocket, a reader coroutine and a sender
// coroutine on its thread's io_context (one thread per context, so no strand).
// The sender is the only writer (Beast answers pings itself). Included by
// engine.cpp only: this is where Beast's templates are instantiated.

#include "test/loadtest/messages.hpp"
#include "test/loadtest/scan.hpp"
#include "test/loadtest/stats.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/beast/websocket.hpp>

#include <algorithm>
#include <cstring>
#include <string>
#include <type_traits>
#include <utility>

namespace tlsync::loadtest {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;

enum class client_role { regular, seeder };

struct client_env {
    const options& opt;
    const message_builder& msgs;
    run_plan& plan;
    thread_stats& st;
    net::ip::tcp::endpoint endpoint;
};

template <class Stream> class client : public std::enable_shared_from_this<client<Stream>> {
  public:
    static constexpr bool is_tls = !std::is_same_v<Stream, beast::tcp_stream>;

    template <class... StreamArgs>
    client(client_env env, std::uint32_t id, int room, std::int64_t start_ns, client_role role,
           StreamArgs&&... args)
        : env_(env), ws_(std::forward<StreamArgs>(args)...), timer_(ws_.get_executor()), id_(id),
          room_(room), start_ns_(start_ns), role_(role) {}

    net::awaitable<void> run() {
        auto& plan = env_.plan;
        if (start_ns_ > plan.now_ns()) {
            timer_.expires_at(plan.at(start_ns_));
            (void)co_await timer_.async_wait(use_tuple);
        }
        {
            const bool ok = co_await open();
            if (!ok) co_return;
        }
        using namespace net::experimental::awaitable_operators;
        co_await (reader() && sender());
    }

  private:
    static constexpr auto use_tuple = net::as_tuple(net::use_awaitable);

    void fail(const char* what, const beast::error_code& ec, std::string detail = {}) {
        ++env_.st.failures[std::string(what) + ": " + (detail.empty() ? ec.message() : detail)];
        env_.st.failed.add();
    }

    std::string room_name() const { return env_.opt.room_prefix + "-" + std::to_string(room_); }

    net::awaitable<bool> open() {
        auto& st = env_.st;
        const auto& opt = env_.opt;
        const std::int64_t t_start = env_.plan.now_ns();
        st.attempts.add();
        st.first_attempt_ns = std::min(st.first_attempt_ns, t_start);
        const auto timeout =
            std::chrono::milliseconds(static_cast<std::int64_t>(opt.connect_timeout_s * 1000));

        auto& tcp = beast::get_lowest_layer(ws_);
        tcp.expires_after(timeout);
        auto [connect_ec] = co_await tcp.async_connect(env_.endpoint, use_tuple);
        if (connect_ec) {
            fail("connect", connect_ec);
            co_return false;
        }
        beast::error_code ignored;
        tcp.socket().set_option(net::ip::tcp::no_delay(true), ignored); // as browsers do
        if constexpr (is_tls) {
            SSL_set_tlsext_host_name(ws_.next_layer().native_handle(), opt.target.host.c_str());
            auto [tls_ec] =
                co_await ws_.next_layer().async_handshake(net::ssl::stream_base::client, use_tuple);
            if (tls_ec) {
                fail("tls", tls_ec);
                co_return false;
            }
        }
        tcp.expires_never();
        auto timeouts = websocket::stream_base::timeout::suggested(beast::role_type::client);
        timeouts.handshake_timeout = timeout;
        ws_.set_option(timeouts);
        ws_.set_option(websocket::stream_base::decorator([](websocket::request_type& req) {
            req.set(beast::http::field::user_agent, "tlsync-loadtest");
        }));
        ws_.read_message_max(static_cast<std::uint64_t>(opt.max_frame_bytes));
        ws_.auto_fragment(false);
        ws_.text(true);

        const std::string sid = "lt-" + std::to_string(id_) + "-" + std::to_string(t_start);
        const std::string target = opt.target.path_prefix + "/connect/" + room_name() +
                                   "?sessionId=" + sid + "&storeId=" + sid;
        websocket::response_type res;
        auto [upgrade_ec] = co_await ws_.async_handshake(
            res, opt.target.host + ":" + opt.target.port, target, use_tuple);
        if (upgrade_ec) {
            fail("handshake", upgrade_ec,
                 res.result_int() ? "HTTP " + std::to_string(res.result_int()) : std::string());
            co_return false;
        }
        st.handshake_us.record(static_cast<std::uint64_t>((env_.plan.now_ns() - t_start) / 1000));
        // From here the handshake timeout bounds our close handshake only.
        timeouts.handshake_timeout = std::chrono::seconds(3);
        ws_.set_option(timeouts);

        if (opt.connect_buffer_bytes > 0) {
            // Fault the pages in now: the kernel's copy of a multi-megabyte
            // connect response would otherwise take a page fault per 4 KiB
            // inside the timed span (costly under some hypervisors).
            const auto n = static_cast<std::size_t>(opt.connect_buffer_bytes);
            buffer_.reserve(n);
            const auto space = buffer_.prepare(n);
            std::memset(space.data(), 0, space.size());
        }
        env_.msgs.connect(out_, sid);
        connect_sent_ns_ = env_.plan.now_ns();
        auto [write_ec, written] = co_await ws_.async_write(net::buffer(out_), use_tuple);
        if (write_ec) {
            fail("connect message", write_ec);
            co_return false;
        }
        st.bytes_out.add(out_.size());
        out_.clear();
        out_.shrink_to_fit(); // the schema is tens of KB; idle clients should not keep it
        connect_deadline_ns_ = env_.plan.now_ns() + timeout.count() * 1'000'000;
        co_return true;
    }

    // ------------------------------------------------------------ reading

    net::awaitable<void> reader() {
        auto& st = env_.st;
        for (;;) {
            auto [ec, n] = co_await ws_.async_read(buffer_, use_tuple);
            if (ec) {
                on_read_end(ec);
                co_return;
            }
            const std::string_view frame(static_cast<const char*>(buffer_.cdata().data()),
                                         buffer_.size());
            st.frames_in.add();
            st.bytes_in.add(frame.size());
            if (!frame.empty() && frame.front() >= '0' && frame.front() <= '9')
                on_chunk(frame);
            else
                on_message(frame);
            buffer_.consume(buffer_.size());
            if (std::exchange(connected_release_buffer_, false)) buffer_.shrink_to_fit();
        }
    }

    // tldraw's `<pieces left>_<body>` chunking; servers rarely chunk, so this is plain.
    void on_chunk(std::string_view frame) {
        const auto us = frame.find('_');
        if (us == std::string_view::npos) return;
        chunks_.append(frame.substr(us + 1));
        if (frame.substr(0, us) == "0") {
            on_message(chunks_);
            chunks_.clear();
        }
    }

    void on_message(std::string_view msg) {
        auto& st = env_.st;
        auto& plan = env_.plan;
        const std::int64_t now = plan.now_ns();
        const auto r = scan_message(msg, [&](const marker& m) {
            if (m.sender == id_) return; // our own record in a rebase
            if (!plan.in_window(m.sent_ns)) return;
            st.delivered_in_window.add();
            const auto us =
                static_cast<std::uint64_t>(std::max<std::int64_t>(0, now - m.sent_ns) / 1000);
            st.latency_us.record(us);
            if (!env_.opt.intervals_path.empty()) st.record_interval_latency(us);
            if (m.kind == 'p')
                st.latency_presence_us.record(us);
            else if (m.kind == 'e')
                st.latency_edit_us.record(us);
            else
                st.latency_create_us.record(us);
        });
        switch (r.kind) {
        case message_kind::connect:
            if (!connected_) {
                connected_ = true;
                st.connected.add();
                st.connect_us.record(static_cast<std::uint64_t>((now - connect_sent_ns_) / 1000));
                st.connect_bytes_max = std::max<std::uint64_t>(st.connect_bytes_max, msg.size());
                st.last_connected_ns = std::max(st.last_connected_ns, now);
                if (env_.opt.connect_buffer_bytes > 0) connected_release_buffer_ = true;
                plan.room_members[static_cast<std::size_t>(room_)].fetch_add(
                    1, std::memory_order_relaxed);
                timer_.cancel();
            }
            return;
        case message_kind::pong:
            st.pongs.add();
            return;
        case message_kind::incompatibility_error:
            ++st.close_codes["incompatibility_error"];
            return;
        default:
            break;
        }
        if (r.patches) st.patches.add(r.patches);
        if (const auto results = r.commits + r.discards + r.rebases) {
            if (r.commits) st.commits.add(r.commits);
            if (r.discards) st.discards.add(r.discards);
            if (r.rebases) st.rebases.add(r.rebases);
            if ((r.discards || r.rebases) && st.first_not_committed.empty())
                st.first_not_committed.assign(msg.substr(0, 1000));
            outstanding_ -= std::min<std::int64_t>(outstanding_, results);
            if (role_ == client_role::seeder) timer_.cancel();
        }
    }

    void on_read_end(const beast::error_code& ec) {
        auto& st = env_.st;
        if (!closing_) {
            // The server ended it: note how.
            std::string key = "1006";
            if (ec == websocket::error::closed) {
                key = std::to_string(ws_.reason().code);
                const auto& why = ws_.reason().reason;
                if (!why.empty()) key += " " + std::string(why.data(), why.size());
            } else if (ec == beast::error::timeout) {
                key = "timeout";
            }
            ++st.close_codes[key];
            st.closed_by_server.add();
            if (!connected_) fail("connect response", ec, "closed " + key);
        }
        if (connected_)
            env_.plan.room_members[static_cast<std::size_t>(room_)].fetch_sub(
                1, std::memory_order_relaxed);
        connected_ = false;
        closed_ = true;
        timer_.cancel();
    }

    // ------------------------------------------------------------ sending

    net::awaitable<bool> send() {
        auto [ec, n] = co_await ws_.async_write(net::buffer(out_), use_tuple);
        if (ec) {
            closed_ = true;
            co_return false;
        }
        env_.st.bytes_out.add(out_.size());
        co_return true;
    }

    net::awaitable<bool> wait_until(std::int64_t ns) {
        timer_.expires_at(env_.plan.at(ns));
        (void)co_await timer_.async_wait(use_tuple);
        co_return !closed_;
    }

    net::awaitable<bool> wait_connected() {
        while (!connected_ && !closed_) {
            if (env_.plan.now_ns() >= connect_deadline_ns_) {
                fail("connect response", {}, "timeout");
                co_return false;
            }
            co_await wait_until(connect_deadline_ns_);
        }
        co_return connected_;
    }

    // A push counted against the window and the room's peers.
    net::awaitable<bool> send_push(std::int64_t sent_ns) {
        auto& st = env_.st;
        {
            const bool ok = co_await send();
            if (!ok) co_return false;
        }
        st.pushes.add();
        ++outstanding_;
        if (env_.plan.in_window(sent_ns)) {
            st.pushes_in_window.add();
            const int members = env_.plan.room_members[static_cast<std::size_t>(room_)].load(
                std::memory_order_relaxed);
            if (members > 1) st.expected_in_window.add(static_cast<std::uint64_t>(members - 1));
        }
        co_return true;
    }

    net::awaitable<void> sender() {
        const bool connected = co_await wait_connected();
        if (connected) {
            if (role_ == client_role::seeder)
                co_await seed();
            else
                co_await traffic();
        }
        co_await close();
    }

    net::awaitable<void> traffic();
    net::awaitable<void> seed();

    net::awaitable<void> close() {
        if (closed_) co_return;
        closing_ = true;
        (void)co_await ws_.async_close(websocket::close_code::normal, use_tuple);
    }

    client_env env_;
    websocket::stream<Stream> ws_;
    net::steady_timer timer_; // the sender's wake-up: schedule, connect, results, close
    beast::flat_buffer buffer_;
    bool connected_release_buffer_ = false; // --connect-buffer: give it back once connected
    std::string chunks_;
    std::string out_;
    std::uint32_t id_;
    int room_;
    std::int64_t start_ns_;
    client_role role_;
    std::int64_t connect_sent_ns_ = 0;
    std::int64_t connect_deadline_ns_ = 0;
    std::int64_t clock_ = 0;       // clientClock of the last push
    std::int64_t outstanding_ = 0; // pushes without a push_result yet
    bool connected_ = false;
    bool closing_ = false; // we started the close
    bool closed_ = false;  // reading ended
};

} // namespace tlsync::loadtest

#include "test/loadtest/client_traffic.hpp"
