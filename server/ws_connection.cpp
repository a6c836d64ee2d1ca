#include "server/ws_connection.hpp"

#include "core/token_bucket.hpp"

#include "proto/chunk.hpp"
#include "proto/codec.hpp"
#include "server/log.hpp"
#include "server/metrics.hpp"
#include "server/room_actor.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>

#include <atomic>
#include <type_traits>
#include <vector>

namespace tlsync::server {

namespace websocket = beast::websocket;

namespace detail {

bool valid_utf8(std::string_view s) noexcept {
    // RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF.
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    const std::size_t n = s.size();
    std::size_t i = 0;
    while (i < n) {
        const unsigned c = p[i];
        if (c < 0x80) {
            ++i;
            continue;
        }
        std::size_t len = 0;
        unsigned lo = 0x80, hi = 0xBF; // allowed range of the second byte
        if (c >= 0xC2 && c <= 0xDF) len = 2;
        else if (c == 0xE0) len = 3, lo = 0xA0;
        else if (c == 0xED) len = 3, hi = 0x9F;
        else if (c >= 0xE1 && c <= 0xEF) len = 3;
        else if (c == 0xF0) len = 4, lo = 0x90;
        else if (c >= 0xF1 && c <= 0xF3) len = 4;
        else if (c == 0xF4) len = 4, hi = 0x8F;
        else return false;
        if (n - i < len || p[i + 1] < lo || p[i + 1] > hi) return false;
        for (std::size_t k = 2; k < len; ++k)
            if (p[i + k] < 0x80 || p[i + k] > 0xBF) return false;
        i += len;
    }
    return true;
}

} // namespace detail

namespace {

constexpr auto use_tuple = net::as_tuple(net::use_awaitable);
// The buffer the writer joins data messages in is given back past this size,
// so one burst does not pin memory for the rest of the session.
constexpr std::size_t keep_write_buffer_bytes = 64 * 1024;
// Input flow control: the reader reads the next frame only while the room
// has less than this much of the connection's input left to work through,
// so a room that falls behind slows its clients down through TCP instead of
// queueing their messages without bound. A message counts its text plus a
// fixed overhead, so a flood of tiny ones is bounded too.
constexpr std::size_t read_budget_bytes = 16 * 1024;
// The most a first read of a message asks for (a ping is 15 bytes).
constexpr std::size_t idle_read_bytes = 256;
constexpr std::size_t per_message_overhead = 512;
// Data messages queued together are joined into frames of at most this size
// (a single larger message still goes as one frame).
constexpr std::size_t max_coalesced_frame_bytes = 256 * 1024;
// A data message alone with at most this many fragments is written as a
// buffer sequence (prefix, fragments, separators, suffix: one sendmsg) rather
// than copied into the write buffer.
constexpr std::size_t max_fragments_alone = 8;

std::atomic<std::uint64_t> next_socket_id{1};


msg_type type_of(const proto::client_message& m) noexcept {
    if (std::holds_alternative<proto::connect_request>(m)) return msg_type::connect;
    if (std::holds_alternative<proto::push_request>(m)) return msg_type::push;
    return msg_type::ping;
}

msg_type type_of(core::outbound_kind k) noexcept {
    switch (k) {
    case core::outbound_kind::connect: return msg_type::connect;
    case core::outbound_kind::data: return msg_type::data;
    case core::outbound_kind::pong: return msg_type::pong;
    case core::outbound_kind::custom: return msg_type::custom;
    case core::outbound_kind::incompatibility_error: return msg_type::incompatibility_error;
    }
    return msg_type::other;
}

// Ways a websocket normally ends; anything else is worth a warning.
bool expected_end(const beast::error_code& ec) noexcept {
    return ec == websocket::error::closed || ec == websocket::error::message_too_big || ec == net::error::operation_aborted ||
           ec == net::error::eof || ec == net::ssl::error::stream_truncated ||
           ec == net::error::connection_reset || ec == beast::error::timeout;
}

std::string describe_end(const beast::error_code& ec) {
    if (ec == websocket::error::closed) return "closed";
    if (ec == beast::error::timeout) return "timeout";
    if (ec == net::error::operation_aborted) return "cancelled";
    if (ec == websocket::error::message_too_big) return "frame too big";
    return ec.message();
}

// A close reason is at most 123 bytes; cut at a UTF-8 boundary.
websocket::close_reason make_close_reason(std::uint16_t code, std::string_view text) {
    if (text.size() > 123) {
        std::size_t n = 123;
        while (n > 0 && (static_cast<unsigned char>(text[n]) & 0xC0) == 0x80) --n;
        text = text.substr(0, n);
    }
    websocket::close_reason r(code);
    r.reason.assign(text.data(), text.size());
    return r;
}

proto::decode_limits limits_for(const config& cfg) {
    proto::decode_limits limits;
    limits.max_message_bytes = cfg.max_message_bytes;
    return limits;
}

template <class Stream>
class ws_connection final : public session_sink,
                            public std::enable_shared_from_this<ws_connection<Stream>> {
public:
    static constexpr bool is_tls = !std::is_same_v<Stream, beast::tcp_stream>;

    ws_connection(Stream&& stream, std::shared_ptr<connection_context> ctx, connect_target target,
                  std::string peer)
        : ws_(std::move(stream)), executor_(ws_.get_executor()), ctx_(std::move(ctx)),
          target_(std::move(target)), peer_(std::move(peer)),
          ref_{target_.session_id, next_socket_id.fetch_add(1, std::memory_order_relaxed)},
          socket_id_(std::to_string(ref_.socket_id)), limits_(limits_for(ctx_->cfg)),
          assembler_(limits_), write_deadline_(executor_), read_gate_(executor_) {
        if (const auto rate = ctx_->cfg.max_messages_per_second; rate > 0)
            message_rate_.emplace(static_cast<double>(rate), 2.0 * static_cast<double>(rate), core::token_bucket::steady_now());
        read_gate_.expires_at(net::steady_timer::time_point::max());
    }

    ~ws_connection() override {
        // An exception may skip the orderly path; the room must still hear of it.
        if (actor_ && !left_) actor_->leave(ref_);
        if (const auto rest = queued_bytes_.load()) global_metrics().outbound_queue_bytes.sub(rest);
    }

    // Thread-safe. Bytes are counted here, before the post, so the bound also
    // covers messages still in flight to the strand.
    void deliver(core::outbound_message message) override {
        const std::size_t n = message.size();
        const std::size_t queued = queued_bytes_.fetch_add(n) + n;
        global_metrics().outbound_queue_bytes.add(static_cast<std::int64_t>(n));
        if (queued > ctx_->cfg.max_outbound_queue_bytes) {
            release(n);
            net::post(executor_, [self = this->shared_from_this()] { self->overflow(); });
            return;
        }
        net::post(executor_, [self = this->shared_from_this(), m = std::move(message)]() mutable {
            self->enqueue(std::move(m));
        });
    }

    void close(std::optional<std::uint16_t> code, std::string reason) override {
        net::post(executor_, [self = this->shared_from_this(), code, r = std::move(reason)] {
            self->request_close(code.value_or(websocket::close_code::normal), r);
        });
    }

    // `self` keeps the connection alive for the coroutine's life.
    net::awaitable<void> run(std::shared_ptr<ws_connection> self, http_request req) {
        (void)self;
        const config& cfg = ctx_->cfg;
        auto timeouts = websocket::stream_base::timeout::suggested(beast::role_type::server);
        timeouts.handshake_timeout = cfg.handshake_timeout; // also bounds the close handshake
        timeouts.idle_timeout = cfg.idle_timeout;
        // A ping at half the idle time tells a silent-but-alive peer from a dead one.
        timeouts.keep_alive_pings = true;
        ws_.set_option(timeouts);
        ws_.set_option(websocket::stream_base::decorator(
            [](websocket::response_type& res) { res.set(http::field::server, "tlsyncd"); }));
        // permessage-deflate stays off (Beast's default): tldraw's client does not
        // need it, and per-recipient compression would undo sharing encoded patches.
        ws_.read_message_max(cfg.max_frame_bytes);
        ws_.auto_fragment(false); // one outbound message, one frame
        ws_.text(true);
        beast::get_lowest_layer(ws_).expires_never(); // the websocket timeouts take over

        {
            // The request is not needed past the handshake: let it go with
            // this scope rather than keep it for the session's life.
            const http_request request = std::move(req);
            auto [ec] = co_await ws_.async_accept(request, use_tuple);
            if (ec) {
                note_end(ec, "accept");
                co_return;
            }
        }
        actor_ = target_.refusal ? make_refusing_room(target_.room_id, *target_.refusal)
                                 : ctx_->rooms->acquire(target_.room_id);
        if (!actor_) { // shutting down: let the client retry elsewhere or later
            auto r = make_close_reason(websocket::close_code::service_restart, "server shutting down");
            (void)co_await ws_.async_close(r, use_tuple);
            co_return;
        }
        log::info("websocket connected", {{"room", target_.room_id}, {"session", target_.session_id},
                                          {"socket", socket_id_}, {"peer", peer_},
                                          {"tls", is_tls ? "yes" : "no"}});
        actor_->join(ref_, target_.readonly, this->weak_from_this());

        // Shutdown cancelled us during the handshake (before the room knew of
        // this socket, so the room's 1012 missed it): close the same way.
        const auto state = co_await net::this_coro::cancellation_state;
        if (state.cancelled() != net::cancellation_type::none)
            request_close(websocket::close_code::service_restart, "server shutting down");
        // Shutdown's polite (total) phase is the room's 1012 close; only
        // terminal cancellation cuts a websocket. The reader runs in this
        // coroutine so that cancellation reaches its read directly.
        co_await net::this_coro::reset_cancellation_state(net::enable_terminal_cancellation());
        co_await reader();
        leave_room();
        const auto code = close_code_ ? *close_code_ : ws_.reason().code;
        log::info("websocket disconnected",
                  {{"room", target_.room_id}, {"session", target_.session_id}, {"socket", socket_id_},
                   {"reason", end_reason_}, {"close_code", std::to_string(code)}});
    }

private:
    net::awaitable<void> reader() {
        co_await net::this_coro::throw_if_cancelled(false); // ends are values, see end_of_reading
        beast::flat_buffer buffer;
        for (;;) {
            if (!co_await within_read_budget()) {
                end_of_reading(net::error::operation_aborted);
                co_return;
            }
            // An idle session waits with a small buffer: the first read of a
            // message asks for at most idle_read_bytes (Beast would prepare
            // 1.5 KB), the rest of a larger message comes with Beast's sizing.
            boost::system::error_code ec;
            std::size_t limit = idle_read_bytes;
            do {
                auto [e, n] = co_await ws_.async_read_some(buffer, limit, use_tuple);
                ec = e;
                limit = 0;
            } while (!ec && !ws_.is_message_done());
            if (ec) {
                end_of_reading(ec);
                co_return;
            }
            // --max-messages-per-second: past it the room closes the session
            // (4099 RATE_LIMITED) and nothing more of it is read into the room.
            if (!left_ && !rate_limited_ && message_rate_ && !message_rate_->try_take(core::token_bucket::steady_now())) {
                rate_limited_ = true;
                reject(proto::close_reason::rate_limited,
                       "more than " + std::to_string(ctx_->cfg.max_messages_per_second) + " messages a second");
            }
            // After leaving, frames are only drained until the close handshake ends.
            if (!left_ && !rate_limited_) handle_frame(buffer);
            // Freed after every message: a malloc per message is cheap next to
            // decoding it, and most sessions are idle most of the time (W3).
            buffer.consume(buffer.size());
            buffer.shrink_to_fit();
        }
    }

    // Waits while the room has read_budget_bytes or more of our input to get
    // through; false when cancelled meanwhile.
    net::awaitable<bool> within_read_budget() {
        while (unreceipted_bytes_.load() >= read_budget_bytes) {
            reader_parked_.store(true);
            // A receipt may have come in since the check, and seen no one parked.
            if (unreceipted_bytes_.load() < read_budget_bytes) {
                reader_parked_.store(false);
                break;
            }
            (void)co_await read_gate_.async_wait(use_tuple);
            const auto state = co_await net::this_coro::cancellation_state;
            if (state.cancelled() != net::cancellation_type::none) co_return false;
        }
        co_return true;
    }

    // Any thread: the room is done with a message of `n` accounted bytes.
    void receipted(std::size_t n) {
        unreceipted_bytes_.fetch_sub(n);
        if (reader_parked_.exchange(false))
            net::post(executor_, [self = this->shared_from_this()] { self->read_gate_.cancel(); });
    }

    // Released by the room when it is done with the message (room_actor::submit).
    class receipt {
    public:
        receipt(std::weak_ptr<ws_connection> conn, std::size_t bytes)
            : conn_(std::move(conn)), bytes_(bytes) {}
        receipt(const receipt&) = delete;
        receipt& operator=(const receipt&) = delete;
        ~receipt() {
            if (auto c = conn_.lock()) c->receipted(bytes_);
        }

    private:
        std::weak_ptr<ws_connection> conn_;
        std::size_t bytes_;
    };

    // The writer: at most one write in flight, started by enqueue() and
    // request_close() and continued by each write's completion until the
    // queue is empty; then it stops. An idle session's writer holds nothing:
    // no coroutine frame, no pending wait (W3). All on the connection's strand.
    void pump() {
        if (writing_ || stopped_ || write_ended_) return;
        try {
            if (!queue_.empty()) {
                const auto kind = queue_.front().kind;
                const std::size_t bytes = take_frame();
                writing_ = true;
                arm_write_deadline(ctx_->cfg.idle_timeout);
                ws_.async_write(frame_, [self = this->shared_from_this(), kind, bytes](
                                            beast::error_code ec, std::size_t n) { self->wrote(ec, n, kind, bytes); });
                return;
            }
            if (close_reason_) {
                const auto reason = *std::exchange(close_reason_, std::nullopt);
                write_ended_ = true; // the close frame is the last thing written
                ws_.async_close(reason, [self = this->shared_from_this()](beast::error_code ec) {
                    if (ec) self->note_end(ec, "close");
                    else self->close_sent_ = true;
                });
            }
        } catch (const std::exception&) {
            writer_failed(std::current_exception());
        }
    }

    void wrote(beast::error_code ec, std::size_t n, core::outbound_kind kind, std::size_t bytes) {
        writing_ = false;
        disarm_write_deadline();
        if (ec) {
            note_end(ec, "write");
            write_ended_ = true;
            abort();
            return;
        }
        global_metrics().count_out(type_of(kind), n);
        release(bytes);
        finish_frame();
        pump();
    }

    // Moves the next frame's messages out of the queue and points frame_ at
    // its bytes; returns the queued bytes it accounts for. Data messages
    // queued together become one frame in one reused buffer, so a frame is
    // one contiguous write (one sendmsg) however many patches it carries.
    // A message alone (a connect, a pong, or one data message, which the room
    // already joined into one fragment) is sent from its own shared bytes: a
    // 5 MB connect is not copied, nor is a busy room's batch.
    std::size_t take_frame() {
        frame_.clear();
        const std::size_t run =
            core::data_run_length(queue_.begin(), queue_.end(), max_coalesced_frame_bytes);
        if (run == 0 || (run == 1 && queue_.front().parts.size() <= max_fragments_alone)) {
            sending_ = std::move(queue_.front());
            queue_.erase(queue_.begin());
            sending_.for_each_fragment([&](std::string_view f) { frame_.emplace_back(f.data(), f.size()); });
            return sending_.size();
        }
        const auto end = queue_.begin() + static_cast<std::ptrdiff_t>(run);
        core::coalesce_data(queue_.begin(), end, write_buffer_);
        std::size_t bytes = 0;
        for (auto it = queue_.begin(); it != end; ++it) bytes += it->size();
        queue_.erase(queue_.begin(), end);
        frame_.emplace_back(write_buffer_.data(), write_buffer_.size());
        return bytes;
    }

    void finish_frame() {
        frame_.clear();
        sending_.parts.clear();
        write_buffer_.clear();
        if (queue_.empty() && queue_.capacity() > 16) queue_.shrink_to_fit();
        // A burst (a big batch after a stall) must not pin its buffer for the
        // life of an idle session.
        if (write_buffer_.capacity() > keep_write_buffer_bytes) write_buffer_.shrink_to_fit();
    }

    // The actor boundary of the writer: log, and end the connection.
    void writer_failed(std::exception_ptr e) {
        write_ended_ = true;
        try {
            std::rethrow_exception(e);
        } catch (const std::exception& x) {
            log::error("websocket writer failed", {{"room", target_.room_id}, {"socket", socket_id_},
                                                   {"error", x.what()}});
        } catch (...) {
            log::error("websocket writer failed", {{"room", target_.room_id}, {"socket", socket_id_}});
        }
        abort();
    }

    void handle_frame(const beast::flat_buffer& buffer) {
        const std::string_view frame(static_cast<const char*>(buffer.data().data()), buffer.size());
        if (!ws_.got_text() && !detail::valid_utf8(frame)) {
            global_metrics().count_in(msg_type::other, frame.size());
            reject(proto::close_reason::unknown_error, "binary frame is not valid UTF-8");
            return;
        }
        auto result = assembler_.handle_message(frame);
        if (std::holds_alternative<std::monostate>(result)) return; // more chunks to come
        if (const auto* error = std::get_if<proto::assembly_error>(&result)) {
            global_metrics().count_in(msg_type::other, frame.size());
            on_assembly_error(*error);
            return;
        }
        auto& message = std::get<proto::assembled_message>(result);
        auto decoded = proto::decode_client_message(std::move(message.value), limits_);
        if (!decoded) {
            global_metrics().count_in(msg_type::other, message.text.size());
            const auto& e = decoded.error();
            reject(e.close_reason(), std::string(proto::to_string(e.code)) + ": " + e.detail);
            return;
        }
        global_metrics().count_in(type_of(decoded.value()), message.text.size());
        const std::size_t cost = message.text.size() + per_message_overhead;
        unreceipted_bytes_.fetch_add(cost);
        auto r = std::make_shared<const receipt>(this->weak_from_this(), cost);
        actor_->submit(ref_, std::move(decoded).value(), std::move(r));
    }

    void on_assembly_error(const proto::assembly_error& e) {
        if (e.rejects_session()) {
            reject(proto::close_reason::unknown_error, e.message);
            return;
        }
        const bool too_big = e.code == proto::assembly_errc::too_large;
        log::info(too_big ? "message too big; closing" : "invalid chunk; closing",
                  {{"room", target_.room_id}, {"session", target_.session_id},
                   {"socket", socket_id_}, {"detail", e.message}});
        if (too_big) global_metrics().count_rejection(reject_reason::message_too_large);
        // Upstream treats these like a socket error: the session ends, no 4099,
        // so the client reconnects.
        leave_room();
        request_close(too_big ? websocket::close_code::too_big : websocket::close_code::protocol_error,
                      too_big ? "message too big" : "invalid message chunk");
    }

    void reject(std::string_view reason, std::string_view detail) {
        log::info("rejecting session", {{"room", target_.room_id}, {"session", target_.session_id},
                                        {"socket", socket_id_}, {"reason", reason},
                                        {"detail", detail.substr(0, 200)}});
        actor_->reject(ref_, std::string(reason)); // the room answers with close(4099, reason)
    }

    void end_of_reading(beast::error_code ec) {
        // Once our own close handshake has finished, Beast ends the pending read
        // with operation_aborted: that is a normal close.
        if (close_sent_ && ec == net::error::operation_aborted) ec = websocket::error::closed;
        note_end(ec, "read");
        if (ec == beast::error::timeout) global_metrics().count_rejection(reject_reason::idle_timeout);
        if (ec == websocket::error::message_too_big) {
            // Beast has already sent 1009 (message too big) and closes the stream.
            global_metrics().count_rejection(reject_reason::message_too_large);
            close_code_ = websocket::close_code::too_big;
        }
        if (!close_code_ && ec == websocket::error::closed) close_code_ = ws_.reason().code;
        leave_room();
        stopped_ = true;
        // Anything but a finished close handshake (an error, a timeout, a
        // terminal cancellation) leaves the stream unusable: cut it so a write
        // in progress ends too.
        if (ec != websocket::error::closed) abort();
    }

    void enqueue(core::outbound_message m) {
        if (closing_ || stopped_) {
            release(m.size());
            return;
        }
        queue_.push_back(std::move(m));
        pump();
    }

    void overflow() {
        if (closing_ || stopped_) return;
        log::warn("slow consumer: outbound queue over its limit; closing",
                  {{"room", target_.room_id}, {"session", target_.session_id},
                   {"socket", socket_id_}, {"peer", peer_}});
        global_metrics().count_rejection(reject_reason::slow_consumer);
        drop_queue();
        // 1008, not 4099: the client should reconnect and catch up from its clock.
        request_close(websocket::close_code::policy_error, "slow consumer");
        // A write stuck on a full TCP window must not hold the close back for long.
        if (writing_) arm_write_deadline(ctx_->cfg.handshake_timeout);
    }

    void request_close(std::uint16_t code, std::string_view reason) {
        if (closing_ || stopped_) return;
        closing_ = true;
        close_code_ = code;
        close_reason_ = make_close_reason(code, reason);
        pump();
    }

    // The frame being written is out of the queue already (take_frame).
    void drop_queue() {
        for (const auto& m : queue_) release(m.size());
        queue_.clear();
    }

    void release(std::size_t n) noexcept {
        queued_bytes_.fetch_sub(n);
        global_metrics().outbound_queue_bytes.sub(static_cast<std::int64_t>(n));
    }

    void arm_write_deadline(std::chrono::milliseconds after) {
        const auto generation = ++write_generation_;
        write_deadline_.expires_after(after);
        write_deadline_.async_wait([weak = this->weak_from_this(), generation](beast::error_code ec) {
            if (ec) return;
            auto self = weak.lock();
            // The generation guards against a handler queued just as the write ended.
            if (!self || self->write_generation_ != generation || !self->writing_) return;
            if (self->end_reason_.empty()) self->end_reason_ = "write timeout";
            self->abort();
        });
    }

    void disarm_write_deadline() {
        ++write_generation_;
        write_deadline_.cancel();
    }

    void abort() { beast::get_lowest_layer(ws_).close(); }

    void leave_room() {
        if (left_ || !actor_) return;
        left_ = true;
        actor_->leave(ref_);
    }

    void note_end(const beast::error_code& ec, std::string_view what) {
        if (end_reason_.empty()) end_reason_ = describe_end(ec) + " (" + std::string(what) + ")";
        if (!expected_end(ec))
            log::warn("websocket error", {{"room", target_.room_id}, {"session", target_.session_id},
                                          {"socket", socket_id_}, {"peer", peer_}, {"op", what},
                                          {"error", ec.message()}});
    }

    websocket::stream<Stream> ws_;
    net::any_io_executor executor_; // the connection's strand
    std::shared_ptr<connection_context> ctx_;
    connect_target target_;
    std::string peer_;
    core::socket_ref ref_;
    std::string socket_id_; // for log lines
    proto::decode_limits limits_;
    proto::chunk_assembler assembler_;
    std::shared_ptr<room_actor> actor_;
    std::optional<core::token_bucket> message_rate_; // --max-messages-per-second
    bool rate_limited_ = false;

    // A vector, not a deque: std::deque allocates ~600 bytes even when empty,
    // and this queue is empty for most of an idle session's life.
    std::vector<core::outbound_message> queue_;
    std::string write_buffer_;           // coalesced data frames, reused
    core::outbound_message sending_;     // a message written from its own bytes
    std::vector<net::const_buffer> frame_; // what the write in progress sends
    std::atomic<std::size_t> queued_bytes_{0}; // delivered and not yet written or dropped
    net::steady_timer write_deadline_;
    std::uint64_t write_generation_ = 0;
    net::steady_timer read_gate_;                   // the reader waits here for receipts
    std::atomic<std::size_t> unreceipted_bytes_{0}; // input the room has not finished
    std::atomic<bool> reader_parked_{false};
    std::optional<websocket::close_reason> close_reason_; // to send once the queue is written
    std::optional<std::uint16_t> close_code_;             // sent or received, for the log
    std::string end_reason_;
    bool writing_ = false;     // a frame is being written
    bool write_ended_ = false; // the close frame went out, or a write failed: nothing more is written
    bool close_sent_ = false; // our close handshake completed
    bool closing_ = false; // a close was requested: nothing more is queued
    bool stopped_ = false; // reading ended: nothing more is written
    bool left_ = false;    // the room was told
};

template <class Stream>
net::awaitable<void> serve(Stream&& stream, http_request req, connect_target target,
                           std::shared_ptr<connection_context> ctx, std::string peer) {
    auto conn = std::make_shared<ws_connection<Stream>>(std::move(stream), std::move(ctx),
                                                        std::move(target), std::move(peer));
    return conn->run(conn, std::move(req));
}

} // namespace

net::awaitable<void> run_websocket(websocket_upgrade upgrade, std::shared_ptr<connection_context> ctx,
                                   std::string peer) {
    return std::visit(
        [&](auto& stream) {
            return serve(std::move(stream), std::move(upgrade.req), std::move(upgrade.target),
                         std::move(ctx), std::move(peer));
        },
        upgrade.stream);
}

} // namespace tlsync::server
