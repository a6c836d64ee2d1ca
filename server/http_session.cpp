#include "server/http_session.hpp"

#include "server/address_limiter.hpp"
#include "server/auth.hpp"
#include "server/http_routes.hpp"
#include "server/log.hpp"
#include "server/metrics.hpp"
#include "server/static_files.hpp"
#include "server/uploads.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/detect_ssl.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl.hpp>

#include <array>

namespace tlsync::server {

namespace {

constexpr auto use_tuple = net::as_tuple(net::use_awaitable);
constexpr std::size_t header_limit = 16 * 1024;

using tls_stream = beast::ssl_stream<beast::tcp_stream>;

// Ways an HTTP connection normally ends; anything else is worth a warning.
bool expected_end(const beast::error_code& ec) noexcept {
    return ec == http::error::end_of_stream || ec == net::error::operation_aborted ||
           ec == net::error::eof || ec == net::ssl::error::stream_truncated ||
           ec == net::error::connection_reset || ec == beast::error::timeout;
}

void report(const beast::error_code& ec, std::string_view what, const std::string& peer) {
    if (expected_end(ec)) {
        if (log::enabled(log_level::debug))
            log::debug("connection ended", {{"peer", peer}, {"op", what}, {"error", ec.message()}});
        return;
    }
    log::warn("connection error", {{"peer", peer}, {"op", what}, {"error", ec.message()}});
}

net::awaitable<void> shut_down(beast::tcp_stream& stream, const config&) {
    beast::error_code ec;
    stream.socket().shutdown(net::ip::tcp::socket::shutdown_send, ec);
    co_return;
}

net::awaitable<void> shut_down(tls_stream& stream, const config& cfg) {
    beast::get_lowest_layer(stream).expires_after(cfg.handshake_timeout);
    (void)co_await stream.async_shutdown(use_tuple); // a peer that just leaves is fine
}

template <class Stream>
net::awaitable<bool> write_response(Stream& stream, http_response& res, const config& cfg,
                                    const std::string& peer) {
    beast::get_lowest_layer(stream).expires_after(cfg.handshake_timeout);
    auto [ec, n] = co_await http::async_write(stream, res, use_tuple);
    if (ec) {
        report(ec, "write", peer);
        co_return false;
    }
    co_return true;
}

// After refusing an upload from its header: read and drop what the client
// still sends (up to 16 MiB, within the handshake timeout) before closing.
// Closing with unread bytes makes the kernel send a reset, and a browser then
// reports a network error instead of the refusal it was sent.
template <class Stream>
net::awaitable<void> discard_body(Stream& stream, beast::flat_buffer& buffer, const config& cfg) {
    constexpr std::size_t drain_limit = 16u << 20;
    buffer.consume(buffer.size());
    beast::get_lowest_layer(stream).expires_after(cfg.handshake_timeout);
    std::array<char, 16 * 1024> scratch;
    for (std::size_t drained = 0; drained < drain_limit;) {
        auto [ec, n] = co_await stream.async_read_some(net::buffer(scratch), use_tuple);
        if (ec) break;
        drained += n;
    }
}

using upgrade_result = std::optional<websocket_upgrade>;

template <class Stream>
net::awaitable<upgrade_result> serve_http(Stream& stream, beast::flat_buffer& buffer,
                                          std::shared_ptr<connection_context> ctx, std::string peer,
                                          bool busy) {
    const config& cfg = ctx->cfg;
    for (bool first = true;; first = false) {
        // Shutdown's cancellation may have landed between two operations.
        const auto state = co_await net::this_coro::cancellation_state;
        if (state.cancelled() != net::cancellation_type::none) {
            co_await shut_down(stream, cfg);
            co_return std::nullopt;
        }
        // Built afresh per request: a parser reads exactly one message.
        http::request_parser<http::string_body> parser;
        parser.header_limit(header_limit);
        // Beast checks Content-Length against the limit while parsing the
        // header, before we know the target: start at the large limit and
        // narrow it once the header says this is not an admin request.
        parser.body_limit(cfg.max_http_body_bytes);
        // One deadline covers a request's header and body; on a kept-alive
        // connection it is also how long an idle client may wait.
        beast::get_lowest_layer(stream).expires_after(cfg.handshake_timeout);
        auto [ec, n] = co_await http::async_read_header(stream, buffer, parser, use_tuple);
        // An asset upload is judged on its header (token, size, type,
        // capacity) before its body is read; a refused one closes the
        // connection rather than read a body it will not store.
        std::optional<upload_service::ticket> upload_slot;
        if (!ec && ctx->uploads && is_upload_put(parser.get()) && !busy) {
            auto admitted = ctx->uploads->admit(parser.get(), unix_seconds());
            if (auto* refusal = std::get_if<http_response>(&admitted)) {
                refusal->keep_alive(false);
                if (co_await write_response(stream, *refusal, cfg, peer)) {
                    if (!parser.is_done()) co_await discard_body(stream, buffer, cfg);
                    co_await shut_down(stream, cfg);
                }
                co_return std::nullopt;
            }
            upload_slot.emplace(std::get<upload_service::ticket>(std::move(admitted)));
            parser.body_limit(ctx->uploads->max_bytes());
            if (beast::iequals(parser.get()[http::field::expect], "100-continue")) {
                http::response<http::empty_body> go_on{http::status::continue_, parser.get().version()};
                go_on.set(http::field::server, "tlsyncd");
                auto [cec, cn] = co_await http::async_write(stream, go_on, use_tuple);
                if (cec) {
                    report(cec, "write", peer);
                    co_return std::nullopt;
                }
            }
        }
        if (!ec && !parser.is_done()) {
            if (!upload_slot && !allows_large_body(parser.get().target())) {
                const auto length = parser.content_length();
                if (length && *length > small_body_limit)
                    ec = http::error::body_limit;
                else
                    parser.body_limit(small_body_limit);
            }
            if (!ec) std::tie(ec, n) = co_await http::async_read(stream, buffer, parser, use_tuple);
        }
        if (ec == http::error::end_of_stream) {
            co_await shut_down(stream, cfg);
            co_return std::nullopt;
        }
        if (ec == http::error::body_limit || ec == http::error::header_limit) {
            const bool body = ec == http::error::body_limit;
            auto res = text_response(body ? http::status::payload_too_large
                                          : http::status::request_header_fields_too_large,
                                     body ? "request body too large" : "request header too large",
                                     11, false);
            if (co_await write_response(stream, res, cfg, peer)) co_await shut_down(stream, cfg);
            co_return std::nullopt;
        }
        if (ec) {
            if (ec == beast::error::timeout && first)
                global_metrics().count_rejection(reject_reason::handshake_timeout);
            report(ec, "read", peer);
            co_return std::nullopt;
        }
        global_metrics().http_requests.inc();
        http_request req = parser.release();

        if (busy) {
            global_metrics().count_rejection(reject_reason::too_many_connections);
            log::warn("connection rejected", {{"peer", peer}, {"reason", "too_many_connections"}});
            auto res = text_response(http::status::service_unavailable, "server busy", req.version(), false);
            res.set(http::field::retry_after, "5");
            if (co_await write_response(stream, res, cfg, peer)) co_await shut_down(stream, cfg);
            co_return std::nullopt;
        }

        auto routed = route_request(req, static_cast<bool>(ctx->admin), static_cast<bool>(ctx->site));
        if (std::holds_alternative<admin_call>(routed)) routed = co_await ctx->admin(req);
        if (auto* file = std::get_if<static_call>(&routed)) routed = ctx->site->serve(req, file->file);
        if (auto* call = std::get_if<upload_call>(&routed)) {
            if (!ctx->uploads)
                routed = text_response(http::status::not_found, "uploads are not served here", req.version(),
                                       req.keep_alive());
            else
                routed = co_await ctx->uploads->handle(req, std::move(*call));
            upload_slot.reset();
        }
        if (auto* target = std::get_if<connect_target>(&routed)) {
            if (auto refused = authorize(ctx->auth.get(), req, *target, unix_seconds())) routed = std::move(*refused);
        }
        if (std::holds_alternative<connect_target>(routed) && ctx->connection_rate &&
            !ctx->connection_rate->allow(address_of_peer(peer), core::token_bucket::steady_now())) {
            global_metrics().count_rejection(reject_reason::connection_rate);
            log::info("connection rejected", {{"peer", peer}, {"reason", "connection_rate"}});
            auto res = text_response(http::status::too_many_requests,
                                     "too many new connections from this address; retry in a second",
                                     req.version(), false);
            res.set(http::field::retry_after, "1");
            routed = std::move(res);
        }
        if (auto* target = std::get_if<connect_target>(&routed)) {
            // The websocket's own timeouts take over from here.
            beast::get_lowest_layer(stream).expires_never();
            websocket_upgrade upgrade{
                decltype(websocket_upgrade::stream)(std::in_place_type<Stream>, std::move(stream)),
                std::move(req), std::move(*target)};
            co_return upgrade;
        }
        auto& res = std::get<http_response>(routed);
        if (res.result_int() >= 400 && log::enabled(log_level::debug))
            log::debug("http request refused", {{"peer", peer}, {"target", req.target()},
                                                 {"status", std::to_string(res.result_int())}});
        if (!co_await write_response(stream, res, cfg, peer)) co_return std::nullopt;
        if (!res.keep_alive()) {
            co_await shut_down(stream, cfg);
            co_return std::nullopt;
        }
    }
}

} // namespace

net::awaitable<upgrade_result> run_connection(beast::tcp_stream stream,
                                              std::shared_ptr<connection_context> ctx,
                                              std::string peer, bool busy) {
    // Shutdown first asks nicely (total: idle HTTP reads end, websockets are
    // left to their close handshake), then insists (terminal).
    co_await net::this_coro::reset_cancellation_state(net::enable_total_cancellation());
    // Errors are values here: after a cancellation the next operation must
    // report operation_aborted rather than throw out of the coroutine.
    co_await net::this_coro::throw_if_cancelled(false);
    beast::flat_buffer buffer;
    if (ctx->tls) {
        stream.expires_after(ctx->cfg.handshake_timeout);
        auto [ec, is_tls] = co_await beast::async_detect_ssl(stream, buffer, use_tuple);
        if (ec) {
            if (ec == beast::error::timeout)
                global_metrics().count_rejection(reject_reason::handshake_timeout);
            report(ec, "detect", peer);
            co_return std::nullopt;
        }
        if (is_tls) {
            tls_stream secure(std::move(stream), *ctx->tls);
            // The detector's bytes are the start of the ClientHello.
            auto [hec, used] = co_await secure.async_handshake(net::ssl::stream_base::server,
                                                               buffer.data(), use_tuple);
            if (hec) {
                if (hec == beast::error::timeout)
                    global_metrics().count_rejection(reject_reason::handshake_timeout);
                report(hec, "tls handshake", peer);
                co_return std::nullopt;
            }
            buffer.consume(used);
            co_return co_await serve_http(secure, buffer, std::move(ctx), std::move(peer), busy);
        }
    }
    co_return co_await serve_http(stream, buffer, std::move(ctx), std::move(peer), busy);
}

} // namespace tlsync::server
