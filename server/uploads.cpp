#include "server/uploads.hpp"

#include "proto/messages.hpp"
#include "server/auth.hpp"
#include "server/http_routes.hpp"
#include "server/log.hpp"
#include "server/metrics.hpp"
#include "server/room_registry.hpp"

#include <boost/asio/async_result.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fcntl.h>
#include <functional>
#include <random>
#include <sys/stat.h>
#include <unistd.h>

namespace tlsync::server {

namespace fs = std::filesystem;

namespace {

constexpr std::string_view header_magic = "tlsync-upload 1\n";
constexpr std::size_t max_header_bytes = 512;
// Files stored under an earlier, larger --max-upload-bytes are still served, up to this.
constexpr off_t max_stored_bytes = off_t{1} << 30;

http_response refuse(const http_request& req, http::status status, std::string why) {
    global_metrics().uploads_refused.inc();
    return text_response(status, std::move(why), req.version(), req.keep_alive());
}

std::string lower_ascii(std::string_view s) {
    std::string out(s);
    for (auto& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
}

// write(2) until done or an error.
bool write_all(int fd, std::string_view data) {
    while (!data.empty()) {
        const auto n = ::write(fd, data.data(), data.size());
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
}

std::string temp_suffix() {
    thread_local std::mt19937_64 rng{std::random_device{}()};
    return ".tmp-" + std::to_string(rng());
}

// Runs `f()` on `pool` and resumes the coroutine with its result on the
// coroutine's own executor. Callers pass a named std::function, never a
// lambda temporary: GCC 12 destroys lambda temporaries with non-trivial
// captures inside co_await expressions twice (see server/admin.cpp).
template <class R, class F> net::awaitable<R> on_pool(net::any_io_executor pool, F f) {
    auto initiate = [pool = std::move(pool), f = std::move(f)](auto handler) mutable {
        net::post(pool, [f = std::move(f), handler = std::move(handler)]() mutable {
            R result = f();
            auto ex = net::get_associated_executor(handler);
            net::post(ex, [handler = std::move(handler), result = std::move(result)]() mutable {
                std::move(handler)(std::move(result));
            });
        });
    };
    co_return co_await net::async_initiate<decltype(net::use_awaitable), void(R)>(
        std::move(initiate), net::use_awaitable);
}

} // namespace

std::variant<http_response, upload_call> route_upload(const http_request& req) {
    const auto [path, query] = split_target(req.target());
    const auto method = req.method();
    if (method != http::verb::get && method != http::verb::head && method != http::verb::put) {
        auto res = refuse(req, http::status::method_not_allowed,
                          "method " + std::string(req.method_string()) +
                              " not allowed; use GET, HEAD or PUT");
        res.set(http::field::allow, "GET, HEAD, PUT");
        return res;
    }
    auto id = percent_decode(path.substr(uploads_prefix.size()), false);
    if (!id || !valid_room_id(*id))
        return refuse(req, http::status::bad_request,
                      "invalid upload id: expected 1-128 characters of A-Z a-z 0-9 _ -");
    upload_call call{std::move(*id), {}};
    if (auto room = query_param(query, "room"); room && !room->empty()) {
        if (!valid_room_id(*room))
            return refuse(req, http::status::bad_request,
                          "invalid room id: expected 1-128 characters of A-Z a-z 0-9 _ -");
        call.room = std::move(*room);
    }
    return call;
}

std::optional<std::string> upload_content_type(std::string_view content_type) {
    static constexpr std::array<std::string_view, 9> allowed{
        "image/png",     "image/jpeg", "image/gif",  "image/webp",     "image/avif",
        "image/svg+xml", "video/mp4",  "video/webm", "video/quicktime"};
    auto type = content_type.substr(0, content_type.find(';'));
    while (!type.empty() && (type.back() == ' ' || type.back() == '\t'))
        type.remove_suffix(1);
    while (!type.empty() && (type.front() == ' ' || type.front() == '\t'))
        type.remove_prefix(1);
    auto canonical = lower_ascii(type);
    for (const auto a : allowed)
        if (canonical == a) return canonical;
    return std::nullopt;
}

std::string encode_upload_header(std::string_view content_type, std::string_view room) {
    std::string h(header_magic);
    h.append("content-type: ").append(content_type).append("\nroom: ").append(room).append("\n\n");
    return h;
}

std::optional<stored_upload_header> parse_upload_header(std::string_view file) {
    if (!file.starts_with(header_magic)) return std::nullopt;
    const auto end = file.find("\n\n");
    if (end == std::string_view::npos || end > max_header_bytes) return std::nullopt;
    stored_upload_header h;
    h.body_offset = end + 2;
    auto lines = file.substr(header_magic.size(), end + 1 - header_magic.size());
    while (!lines.empty()) {
        const auto nl = lines.find('\n');
        const auto line = lines.substr(0, nl);
        lines.remove_prefix(nl + 1);
        if (line.starts_with("content-type: "))
            h.content_type = line.substr(14);
        else if (line.starts_with("room: "))
            h.room = line.substr(6);
    }
    if (!upload_content_type(h.content_type)) return std::nullopt; // damaged, or edited by hand
    return h;
}

void set_upload_headers(http_response& res, std::string_view content_type) {
    res.set(http::field::server, "tlsyncd");
    res.set(http::field::content_type, content_type);
    res.set("X-Content-Type-Options", "nosniff");
    res.set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; sandbox");
}

upload_service::upload_service(fs::path dir, std::size_t max_bytes,
                               std::shared_ptr<const authenticator> auth,
                               net::any_io_executor blocking)
    : dir_(std::move(dir)), max_bytes_(max_bytes), auth_(std::move(auth)),
      blocking_(std::move(blocking)) {}

std::variant<http_response, upload_service::ticket>
upload_service::admit(const http_request& header, std::int64_t now) {
    auto routed = route_upload(header);
    if (auto* res = std::get_if<http_response>(&routed)) return std::move(*res);
    const auto& call = std::get<upload_call>(routed);
    if (max_bytes_ == 0)
        return refuse(header, http::status::forbidden,
                      "uploads are disabled (--max-upload-bytes 0)");
    if (auth_) {
        if (call.room.empty())
            return refuse(header, http::status::bad_request,
                          "with access tokens, uploads need ?room={roomId}");
        const auto d = auth_->check_room(header, call.room, now);
        if (!d.allowed) {
            log::info("upload refused",
                      {{"room", call.room}, {"reason", d.reason}, {"why", d.detail}});
            const bool forbidden = d.reason == proto::close_reason::forbidden;
            auto res =
                refuse(header, forbidden ? http::status::forbidden : http::status::unauthorized,
                       forbidden ? "this token does not open room " + call.room
                                 : "a valid access token is required");
            if (!forbidden) res.set(http::field::www_authenticate, "Bearer");
            return res;
        }
        if (d.readonly)
            return refuse(header, http::status::forbidden,
                          "this token may only read room " + call.room);
    }
    std::optional<std::uint64_t> length;
    if (const auto text = header[http::field::content_length]; !text.empty()) {
        std::uint64_t n = 0;
        const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
        if (ec == std::errc{} && end == text.data() + text.size()) length = n;
    }
    if (!length || header.chunked())
        return refuse(header, http::status::length_required, "uploads need a Content-Length");
    if (*length > max_bytes_)
        return refuse(header, http::status::payload_too_large,
                      "upload too large: " + std::to_string(*length) + " bytes, the limit is " +
                          std::to_string(max_bytes_));
    if (!upload_content_type(header[http::field::content_type]))
        return refuse(
            header, http::status::unsupported_media_type,
            "unsupported content type '" +
                std::string(header[http::field::content_type].substr(0, 100)) +
                "': png, jpeg, gif, webp, avif or svg images, mp4, webm or quicktime videos");
    if (in_flight_.fetch_add(1) >= max_uploads_in_flight) {
        in_flight_.fetch_sub(1);
        auto res = refuse(header, http::status::service_unavailable,
                          "too many uploads in progress; retry");
        res.set(http::field::retry_after, "1");
        return res;
    }
    return ticket{&in_flight_};
}

upload_service::put_result upload_service::put(const std::string& id, std::string_view content_type,
                                               std::string_view room, std::string_view body,
                                               std::string& error) {
    std::error_code ec;
    fs::create_directories(dir_, ec);
    const auto final_path = dir_ / id;
    if (fs::exists(final_path, ec)) return put_result::exists;
    const auto temp = dir_ / (id + temp_suffix());
    const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
    if (fd < 0) {
        error = std::strerror(errno);
        return put_result::failed;
    }
    const bool ok = write_all(fd, encode_upload_header(content_type, room)) &&
                    write_all(fd, body) && ::fsync(fd) == 0;
    if (!ok) error = std::strerror(errno);
    ::close(fd);
    // link(2) fails with EEXIST instead of replacing: two PUTs of one id, one wins.
    const int linked = ok ? ::link(temp.c_str(), final_path.c_str()) : -1;
    const int link_errno = errno;
    ::unlink(temp.c_str());
    if (!ok) return put_result::failed;
    if (linked != 0) {
        if (link_errno == EEXIST) return put_result::exists;
        error = std::strerror(link_errno);
        return put_result::failed;
    }
    return put_result::created;
}

std::optional<upload_service::got> upload_service::get(const std::string& id, std::string& error) {
    const auto path = dir_ / id;
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno != ENOENT) error = std::strerror(errno);
        return std::nullopt;
    }
    struct stat st {};
    got g;
    if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size <= max_stored_bytes) {
        g.file.resize(static_cast<std::size_t>(st.st_size));
        std::size_t done = 0;
        while (done < g.file.size()) {
            const auto n = ::read(fd, g.file.data() + done, g.file.size() - done);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) break;
            done += static_cast<std::size_t>(n);
        }
        g.file.resize(done);
    }
    ::close(fd);
    auto header = parse_upload_header(g.file);
    if (!header) {
        error = "not a stored upload (damaged?)";
        return std::nullopt;
    }
    g.header = std::move(*header);
    return g;
}

net::awaitable<http_response> upload_service::handle(const http_request& req, upload_call call) {
    auto self = shared_from_this();
    const auto etag = "\"" + call.id + "\""; // an id's bytes never change
    if (req.method() == http::verb::put) {
        const auto type = upload_content_type(req[http::field::content_type]).value_or("");
        std::string error;
        std::function<put_result()> store = [self, &call, &req, &type, &error] {
            return self->put(call.id, type, call.room, req.body(), error);
        };
        const auto result = co_await on_pool<put_result>(blocking_, std::move(store));
        if (result == put_result::exists)
            co_return refuse(req, http::status::conflict,
                             "upload " + call.id + " exists; uploads cannot be replaced");
        if (result == put_result::failed) {
            log::error("cannot store upload", {{"upload", call.id}, {"error", error}});
            co_return refuse(req, http::status::internal_server_error, "cannot store the upload");
        }
        global_metrics().uploads.inc();
        global_metrics().upload_bytes.inc(req.body().size());
        log::info("upload stored", {{"upload", call.id},
                                    {"room", call.room},
                                    {"type", type},
                                    {"bytes", std::to_string(req.body().size())}});
        auto res = text_response(http::status::created, "stored", req.version(), req.keep_alive());
        res.set(http::field::location, std::string(uploads_prefix) + call.id);
        co_return res;
    }
    if (const auto inm = req[http::field::if_none_match]; !inm.empty() && inm == etag) {
        http_response res{http::status::not_modified, req.version()};
        res.set(http::field::server, "tlsyncd");
        res.set(http::field::etag, etag);
        res.keep_alive(req.keep_alive());
        co_return res;
    }
    std::string error;
    std::function<std::optional<got>()> read = [self, &call, &error] {
        return self->get(call.id, error);
    };
    auto found = co_await on_pool<std::optional<got>>(blocking_, std::move(read));
    if (!found) {
        if (!error.empty())
            log::warn("cannot read upload", {{"upload", call.id}, {"error", error}});
        co_return text_response(http::status::not_found, "no upload " + call.id, req.version(),
                                req.keep_alive());
    }
    http_response res{http::status::ok, req.version()};
    set_upload_headers(res, found->header.content_type);
    res.set(http::field::cache_control, "public, max-age=31536000, immutable");
    res.set(http::field::etag, etag);
    res.keep_alive(req.keep_alive());
    const auto size = found->file.size() - found->header.body_offset;
    if (req.method() != http::verb::head) {
        found->file.erase(0, found->header.body_offset);
        res.body() = std::move(found->file);
    }
    res.content_length(size);
    co_return res;
}

} // namespace tlsync::server
