#pragma once
// The layer under a user socket's websocket::stream that turns the frames of
// one writer wake-up into one write on the connection. A user receives many
// small `changes` messages, one websocket message each (the protocol has no
// batch form); written one by one they cost a sendmsg each, which was the
// largest single cost of a backlog catch-up after recording.
//
// Every write Beast makes through this layer (messages, and its own pings,
// pongs and close frames) is appended to `pending_` and completes at once;
// the bytes go out in order by one drain at a time. While the writer has the
// layer `cork`ed, nothing is drained; `flush` uncorks and completes once
// everything appended so far is on the wire, so the writer still releases its
// queue's byte bound only for bytes the peer has been sent, and its write
// deadline still covers a peer that does not read. A drain error closes the
// connection and fails every later write and flush with it.
//
// Confined to the connection's strand, like the websocket above it.

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/role.hpp>
#include <boost/beast/core/stream_traits.hpp>
#include <boost/beast/websocket/teardown.hpp>

#include <memory>
#include <string>
#include <utility>

namespace tlsync::server {

namespace detail {

namespace net = boost::asio;
namespace beast = boost::beast;

template <class Next> class batched_write_stream {
public:
    using next_layer_type = Next;
    using executor_type = typename Next::executor_type;

    template <class... Args>
    explicit batched_write_stream(Args&&... args)
        : next_(std::forward<Args>(args)...), drained_(next_.get_executor()) {
        drained_.expires_at(net::steady_timer::time_point::max());
    }

    executor_type get_executor() noexcept { return next_.get_executor(); }
    Next& next_layer() noexcept { return next_; }
    const Next& next_layer() const noexcept { return next_; }

    // What keeps the layer alive while a drain is in flight (the socket
    // that owns the websocket). Set before the first write.
    void set_owner(std::weak_ptr<void> owner) { owner_ = std::move(owner); }

    void cork() noexcept { corked_ = true; }

    // Uncorks and waits until everything written so far is on the wire.
    net::awaitable<beast::error_code> flush() {
        corked_ = false;
        start_drain();
        while (!error_ && (draining_ || !pending_.empty()))
            (void)co_await drained_.async_wait(net::as_tuple(net::use_awaitable));
        co_return error_;
    }

    template <class MutableBuffers, class Token>
    auto async_read_some(const MutableBuffers& buffers, Token&& token) {
        return next_.async_read_some(buffers, std::forward<Token>(token));
    }

    template <class ConstBuffers, class Token>
    auto async_write_some(const ConstBuffers& buffers, Token&& token) {
        return net::async_initiate<Token, void(beast::error_code, std::size_t)>(
            [this](auto handler, const ConstBuffers& b) {
                std::size_t n = 0;
                if (!error_) {
                    for (auto it = net::buffer_sequence_begin(b); it != net::buffer_sequence_end(b); ++it) {
                        const net::const_buffer part(*it);
                        pending_.append(static_cast<const char*>(part.data()), part.size());
                        n += part.size();
                    }
                    if (!corked_) start_drain();
                }
                // Never completes inside the initiating call.
                auto ex = net::get_associated_executor(handler, get_executor());
                net::post(ex, beast::bind_front_handler(std::move(handler), error_, n));
            },
            token, buffers);
    }

private:
    void start_drain() {
        if (draining_ || pending_.empty() || error_) return;
        draining_ = true;
        sending_.swap(pending_);
        pending_.clear();
        net::async_write(next_, net::buffer(sending_),
                         [this, keep = owner_.lock()](beast::error_code ec, std::size_t) {
                             draining_ = false;
                             // A catch-up's batch may be large; an idle
                             // socket keeps only a small buffer.
                             if (sending_.capacity() > 64 * 1024) sending_ = std::string();
                             else sending_.clear();
                             if (ec) {
                                 error_ = ec;
                                 pending_.clear();
                                 beast::get_lowest_layer(next_).close();
                             } else if (!corked_) {
                                 start_drain();
                             }
                             if (error_ || !draining_) drained_.cancel();
                         });
    }

    Next next_;
    std::weak_ptr<void> owner_;
    std::string pending_; // appended since the drain in flight started
    std::string sending_; // the drain in flight
    net::steady_timer drained_;
    beast::error_code error_;
    bool corked_ = false;
    bool draining_ = false;
};

// Beast's websocket close finds the teardown of the layer below by ADL.
template <class Next>
void teardown(beast::role_type role, batched_write_stream<Next>& s, beast::error_code& ec) {
    using beast::websocket::teardown;
    teardown(role, s.next_layer(), ec);
}

template <class Next, class Handler>
void async_teardown(beast::role_type role, batched_write_stream<Next>& s, Handler&& handler) {
    using beast::websocket::async_teardown;
    async_teardown(role, s.next_layer(), std::forward<Handler>(handler));
}

} // namespace detail

using detail::batched_write_stream;

} // namespace tlsync::server
