#include "server/user_socket.hpp"

#include "core/token_bucket.hpp"
#include "core/user_protocol.hpp"
#include "server/http_routes.hpp"
#include "server/log.hpp"
#include "server/metrics.hpp"
#include "server/user_actor.hpp"
#include "server/user_hub.hpp"
#include "server/user_socket_stream.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>

#include <atomic>
#include <deque>
#include <optional>

namespace tlsync::server {

namespace websocket = beast::websocket;

namespace {

constexpr auto use_tuple = net::as_tuple(net::use_awaitable);
// What one writer wake-up gathers into one write at most; the rest waits
// for the next round.
constexpr std::size_t max_write_batch_bytes = 256 * 1024;
std::atomic<std::uint64_t> next_user_socket_id{1};

websocket::close_reason close_reason_of(std::uint16_t code, std::string_view text) {
    if (text.size() > 123) {
        std::size_t n = 123;
        while (n > 0 && (static_cast<unsigned char>(text[n]) & 0xC0) == 0x80) --n;
        text = text.substr(0, n);
    }
    websocket::close_reason r(code);
    r.reason.assign(text.data(), text.size());
    return r;
}

bool expected_end(const beast::error_code& ec) noexcept {
    return ec == websocket::error::closed || ec == net::error::operation_aborted || ec == net::error::eof ||
           ec == net::ssl::error::stream_truncated || ec == net::error::connection_reset ||
           ec == beast::error::timeout || ec == websocket::error::message_too_big;
}

template <class Stream>
class user_socket final : public user_sink, public std::enable_shared_from_this<user_socket<Stream>> {
public:
    user_socket(Stream&& stream, std::shared_ptr<connection_context> ctx, std::shared_ptr<user_hub> hub,
                user_target target, std::string peer)
        : ws_(std::move(stream)), executor_(ws_.get_executor()), ctx_(std::move(ctx)), hub_(std::move(hub)),
          target_(std::move(target)), peer_(std::move(peer)), id_(next_user_socket_id.fetch_add(1)),
          wake_(executor_), write_deadline_(executor_) {
        wake_.expires_at(net::steady_timer::time_point::max());
        if (const auto rate = ctx_->cfg.max_messages_per_second; rate > 0)
            message_rate_.emplace(static_cast<double>(rate), 2.0 * static_cast<double>(rate),
                                  core::token_bucket::steady_now());
    }

    ~user_socket() override {
        if (actor_ && !left_) actor_->leave(id_);
    }

    // Any thread. Counted before the post, so the bound covers frames still
    // on their way to the strand.
    void send(std::vector<std::shared_ptr<const std::string>> frames) override {
        if (frames.empty()) return;
        std::size_t n = 0;
        for (auto& f : frames) n += f->size();
        const std::size_t bytes = queued_bytes_.fetch_add(n) + n;
        const std::size_t count = queued_frames_.fetch_add(frames.size()) + frames.size();
        if (bytes > ctx_->cfg.max_outbound_queue_bytes || count > user_socket_max_frames) {
            release(n, frames.size());
            net::post(executor_, [self = this->shared_from_this()] { self->overflow(); });
            return;
        }
        net::post(executor_, [self = this->shared_from_this(), f = std::move(frames)]() mutable {
            self->enqueue(std::move(f));
        });
    }
    using user_sink::send;

    void close(std::uint16_t code, std::string reason) override {
        net::post(executor_, [self = this->shared_from_this(), code, r = std::move(reason)] {
            self->request_close(code, r);
        });
    }

    std::size_t queued_bytes() const noexcept override { return queued_bytes_.load(); }
    std::size_t queued_frames() const noexcept override { return queued_frames_.load(); }

    net::awaitable<void> run(std::shared_ptr<user_socket> self, http_request req) {
        (void)self;
        const config& cfg = ctx_->cfg;
        auto timeouts = websocket::stream_base::timeout::suggested(beast::role_type::server);
        timeouts.handshake_timeout = cfg.handshake_timeout;
        timeouts.idle_timeout = cfg.idle_timeout;
        timeouts.keep_alive_pings = true;
        ws_.set_option(timeouts);
        ws_.set_option(websocket::stream_base::decorator(
            [](websocket::response_type& res) { res.set(http::field::server, "tlsyncd"); }));
        ws_.read_message_max(core::user::default_max_client_frame);
        ws_.auto_fragment(false);
        ws_.text(true);
        beast::get_lowest_layer(ws_).expires_never();
        ws_.next_layer().set_owner(this->weak_from_this());
        {
            const http_request request = std::move(req);
            auto [ec] = co_await ws_.async_accept(request, use_tuple);
            if (ec) {
                note_end(ec, "accept");
                co_return;
            }
        }
        actor_ = hub_->attach(target_.user_id);
        if (!actor_) {
            auto r = close_reason_of(websocket::close_code::service_restart, "server shutting down");
            (void)co_await ws_.async_close(r, use_tuple);
            co_return;
        }
        global_metrics().user_sockets_open.add();
        std::optional<core::pg::lsn> seen;
        if (target_.lsn) seen = core::pg::lsn::parse(*target_.lsn);
        log::info("user socket connected", {{"user", target_.user_id}, {"socket", std::to_string(id_)},
                                            {"peer", peer_}, {"lsn", target_.lsn.value_or("")}});
        actor_->join(id_, this->weak_from_this(), seen);

        const auto state = co_await net::this_coro::cancellation_state;
        if (state.cancelled() != net::cancellation_type::none)
            request_close(websocket::close_code::service_restart, "server shutting down");
        // Only terminal cancellation cuts the socket; the polite phase of a
        // shutdown is the hub's 1012 close.
        co_await net::this_coro::reset_cancellation_state(net::enable_terminal_cancellation());
        net::co_spawn(executor_, writer(), [self = this->shared_from_this()](std::exception_ptr e) {
            if (!e) return;
            try {
                std::rethrow_exception(e);
            } catch (const std::exception& x) {
                log::error("user socket writer failed", {{"user", self->target_.user_id}, {"error", x.what()}});
            }
            self->abort();
        });
        co_await reader();
        leave();
        global_metrics().user_sockets_open.sub();
        log::info("user socket disconnected", {{"user", target_.user_id}, {"socket", std::to_string(id_)},
                                               {"reason", end_reason_},
                                               {"close_code", std::to_string(close_code_.value_or(ws_.reason().code))}});
    }

private:
    net::awaitable<void> reader() {
        co_await net::this_coro::throw_if_cancelled(false);
        beast::flat_buffer buffer;
        for (;;) {
            auto [ec, n] = co_await ws_.async_read(buffer, use_tuple);
            if (ec) {
                if (close_sent_ && ec == net::error::operation_aborted) ec = websocket::error::closed;
                note_end(ec, "read");
                stopped_ = true;
                wake_.cancel();
                if (ec != websocket::error::closed) abort();
                co_return;
            }
            // --max-messages-per-second, as on room sockets: past it the
            // socket is closed (1008) and nothing more of it reaches the actor.
            if (!closing_ && message_rate_ && !message_rate_->try_take(core::token_bucket::steady_now()))
                rate_limited();
            if (!closing_) {
                const std::string_view text(static_cast<const char*>(buffer.data().data()), buffer.size());
                global_metrics().count_in(msg_type::other, text.size());
                actor_->message(id_, core::user::decode_client(text));
            }
            buffer.consume(buffer.size());
            if (buffer.capacity() > 64 * 1024) buffer.shrink_to_fit();
        }
    }

    net::awaitable<void> writer() {
        co_await net::this_coro::throw_if_cancelled(false);
        for (;;) {
            if (stopped_) co_return;
            if (!queue_.empty()) {
                if (auto ec = co_await write_queued()) {
                    note_end(ec, "write");
                    abort();
                    co_return;
                }
                continue;
            }
            if (close_reason_) {
                const auto reason = *std::exchange(close_reason_, std::nullopt);
                auto [ec] = co_await ws_.async_close(reason, use_tuple);
                if (ec) note_end(ec, "close");
                else close_sent_ = true;
                co_return;
            }
            (void)co_await wake_.async_wait(use_tuple);
            const auto state = co_await net::this_coro::cancellation_state;
            if (state.cancelled() != net::cancellation_type::none) co_return;
        }
    }

    // Writes what is queued (up to max_write_batch_bytes) as one frame per
    // message, corked so that the frames leave in one write; the queue's
    // bound is released once they are on the wire.
    net::awaitable<beast::error_code> write_queued() {
        auto& layer = ws_.next_layer();
        writing_ = true;
        arm_write_deadline(ctx_->cfg.idle_timeout);
        layer.cork();
        std::size_t bytes = 0, frames = 0;
        beast::error_code ec;
        while (!queue_.empty() && bytes < max_write_batch_bytes) {
            auto frame = std::move(queue_.front());
            queue_.pop_front();
            bytes += frame->size();
            ++frames;
            auto [wec, n] = co_await ws_.async_write(net::buffer(*frame), use_tuple);
            if (wec) {
                ec = wec;
                break;
            }
            global_metrics().count_out(msg_type::other, n);
        }
        const auto fec = co_await layer.flush();
        if (!ec) ec = fec;
        writing_ = false;
        disarm_write_deadline();
        release(bytes, frames);
        co_return ec;
    }

    void enqueue(std::vector<std::shared_ptr<const std::string>> frames) {
        if (closing_ || stopped_) {
            std::size_t n = 0;
            for (auto& f : frames) n += f->size();
            release(n, frames.size());
            return;
        }
        for (auto& f : frames) queue_.push_back(std::move(f));
        wake_.cancel_one();
    }

    void overflow() {
        if (closing_ || stopped_) return;
        log::warn("slow user socket: outbound queue over its limit; closing",
                  {{"user", target_.user_id}, {"socket", std::to_string(id_)}, {"peer", peer_}});
        global_metrics().user_slow_closes.inc();
        global_metrics().count_rejection(reject_reason::slow_consumer);
        for (auto& f : queue_) release(f->size());
        queue_.clear();
        // 1008 (policy): the client reconnects with its last LSN and resumes
        // or reloads; nothing of this socket is kept.
        request_close(websocket::close_code::policy_error, "slow consumer");
        leave(); // no more frames for this socket; the user unregisters if it was the last
        if (writing_) arm_write_deadline(ctx_->cfg.handshake_timeout);
    }

    void rate_limited() {
        const auto limit = std::to_string(ctx_->cfg.max_messages_per_second);
        log::warn("user socket sends too fast; closing",
                  {{"user", target_.user_id}, {"socket", std::to_string(id_)}, {"peer", peer_},
                   {"limit", limit}});
        global_metrics().count_rejection(reject_reason::rate_limited);
        request_close(websocket::close_code::policy_error,
                      "rate limited: more than " + limit + " messages a second");
    }

    void request_close(std::uint16_t code, std::string_view reason) {
        if (closing_ || stopped_) return;
        closing_ = true;
        close_code_ = code;
        close_reason_ = close_reason_of(code, reason);
        wake_.cancel_one();
    }

    void release(std::size_t bytes, std::size_t frames = 1) noexcept {
        queued_bytes_.fetch_sub(bytes);
        queued_frames_.fetch_sub(frames);
    }

    void arm_write_deadline(std::chrono::milliseconds after) {
        const auto generation = ++write_generation_;
        write_deadline_.expires_after(after);
        write_deadline_.async_wait([weak = this->weak_from_this(), generation](beast::error_code ec) {
            if (ec) return;
            auto self = weak.lock();
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

    void leave() {
        if (left_ || !actor_) return;
        left_ = true;
        actor_->leave(id_);
    }

    void note_end(const beast::error_code& ec, std::string_view what) {
        if (end_reason_.empty()) end_reason_ = ec.message() + " (" + std::string(what) + ")";
        if (!expected_end(ec))
            log::warn("user socket error", {{"user", target_.user_id}, {"peer", peer_}, {"op", what},
                                            {"error", ec.message()}});
    }

    websocket::stream<batched_write_stream<Stream>> ws_;
    net::any_io_executor executor_;
    std::shared_ptr<connection_context> ctx_;
    std::shared_ptr<user_hub> hub_;
    user_target target_;
    std::string peer_;
    const std::uint64_t id_;
    std::shared_ptr<user_actor> actor_;
    std::optional<core::token_bucket> message_rate_; // --max-messages-per-second
    std::deque<std::shared_ptr<const std::string>> queue_;
    std::atomic<std::size_t> queued_bytes_{0};
    std::atomic<std::size_t> queued_frames_{0};
    net::steady_timer wake_;
    net::steady_timer write_deadline_;
    std::uint64_t write_generation_ = 0;
    std::optional<websocket::close_reason> close_reason_;
    std::optional<std::uint16_t> close_code_;
    std::string end_reason_;
    bool writing_ = false;
    bool close_sent_ = false;
    bool closing_ = false;
    bool stopped_ = false;
    bool left_ = false;
};

// Answers the upgrade request with a plain HTTP refusal.
template <class Stream>
net::awaitable<void> refuse(Stream& stream, const http_request& req, http::status status, std::string body,
                            const config& cfg) {
    auto res = text_response(status, std::move(body), req.version(), false);
    beast::get_lowest_layer(stream).expires_after(cfg.handshake_timeout);
    (void)co_await http::async_write(stream, res, use_tuple);
    beast::error_code ec;
    beast::get_lowest_layer(stream).socket().shutdown(net::ip::tcp::socket::shutdown_send, ec);
}

// A coroutine: everything by value (the upgrade it came from is gone once
// run_user_websocket has returned the awaitable).
template <class Stream>
net::awaitable<void> serve(Stream stream, http_request req, user_target target,
                           std::shared_ptr<connection_context> ctx, std::string peer) {
    auto hub = ctx->rooms ? ctx->rooms->users() : nullptr;
    if (!hub) {
        co_await refuse(stream, req, http::status::not_found,
                        "user sockets need Postgres: start tlsyncd with --postgres", ctx->cfg);
        co_return;
    }
    if (!target.authenticated && !ctx->cfg.app_users_insecure) {
        co_await refuse(stream, req, http::status::forbidden,
                        "user sockets need an access token naming the user (--auth jwt), or "
                        "--app-users-insecure, which trusts the user id in the URL (insecure)",
                        ctx->cfg);
        co_return;
    }
    auto s = std::make_shared<user_socket<Stream>>(std::move(stream), std::move(ctx), std::move(hub),
                                                   std::move(target), std::move(peer));
    co_await s->run(s, std::move(req));
}

} // namespace

net::awaitable<void> run_user_websocket(websocket_upgrade upgrade, std::shared_ptr<connection_context> ctx,
                                        std::string peer) {
    user_target target = upgrade.target.user.value_or(user_target{});
    return std::visit(
        [&](auto& stream) {
            using stream_type = std::decay_t<decltype(stream)>;
            return serve<stream_type>(std::move(stream), std::move(upgrade.req), std::move(target), std::move(ctx),
                         std::move(peer));
        },
        upgrade.stream);
}

} // namespace tlsync::server
