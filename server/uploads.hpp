#pragma once
// Assets pasted into a board (images, videos), stored by tlsyncd:
//
//   PUT  /uploads/{id}[?room={roomId}]  body: the file; Content-Type recorded
//        201 stored; 400 bad id/room; 401/403 token (--auth jwt: a token
//        allowed to write `room`, which is then required); 403 uploads off;
//        409 the id exists (uploads are immutable); 411 no Content-Length;
//        413 over --max-upload-bytes; 415 a type not on the list below;
//        503 too many uploads in progress.
//   GET|HEAD /uploads/{id}  the file with its type, cached as immutable; 404.
//
// Ids follow the room id rules (1-128 of A-Z a-z 0-9 _ -); the app picks 22
// random characters, so a GET needs no token: knowing the id is the right to
// read, as for tldraw's own asset stores.
//
// On disk: <data-dir>/uploads/<id>, a short text header (format version,
// content type, room) then the bytes; written to a temporary file and linked
// into place, so a reader never sees half a file and an id is never
// overwritten. An upload is refused from its header, before its body is
// read; the body is then read into memory (at most --max-upload-bytes, at
// most max_uploads_in_flight at once) and written on the blocking pool.

#include "server/connection_context.hpp"

#include <atomic>
#include <cstddef>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace tlsync::server {

class authenticator;

inline constexpr std::string_view uploads_prefix = "/uploads/";
inline constexpr std::size_t max_uploads_in_flight = 8;

// A routed /uploads/{id} request (id and room validated).
struct upload_call {
    std::string id;
    std::string room; // empty when not given
};

// Parses /uploads/{id}[?room=]: the call, or the 400/405 response.
[[nodiscard]] std::variant<http_response, upload_call> route_upload(const http_request& req);

// The canonical (lower-case, parameters dropped) type when `content_type` is
// one tlsyncd stores: png, jpeg, gif, webp, avif, svg+xml images, mp4, webm,
// quicktime videos. Anything else (text/html above all) is refused.
[[nodiscard]] std::optional<std::string> upload_content_type(std::string_view content_type);

// The stored form: header, blank line, bytes.
[[nodiscard]] std::string encode_upload_header(std::string_view content_type,
                                               std::string_view room);
struct stored_upload_header {
    std::string content_type;
    std::string room;
    std::size_t body_offset = 0; // where the bytes start
};
[[nodiscard]] std::optional<stored_upload_header> parse_upload_header(std::string_view file);

// Headers every upload response carries: the type as stored, no sniffing,
// and a sandboxing CSP, so an SVG opened directly runs no script.
void set_upload_headers(http_response& res, std::string_view content_type);

class upload_service : public std::enable_shared_from_this<upload_service> {
  public:
    // `dir`: <data-dir>/uploads (created on first upload); `max_bytes` 0: PUT refused.
    upload_service(std::filesystem::path dir, std::size_t max_bytes,
                   std::shared_ptr<const authenticator> auth, net::any_io_executor blocking);

    // Releases an in-flight slot when destroyed.
    class ticket {
      public:
        explicit ticket(std::atomic<std::size_t>* n) : n_(n) {}
        ticket(ticket&& o) noexcept : n_(std::exchange(o.n_, nullptr)) {}
        ticket& operator=(ticket&&) = delete;
        ~ticket() {
            if (n_) n_->fetch_sub(1);
        }

      private:
        std::atomic<std::size_t>* n_;
    };

    // Decides a PUT from its header alone (auth, size, type, capacity): the
    // refusal to send (the connection then closes: its body is not read), or
    // a slot held until the upload is stored.
    [[nodiscard]] std::variant<http_response, ticket> admit(const http_request& header,
                                                            std::int64_t now_seconds);

    // Serves a routed request (PUT after admit; GET, HEAD). File I/O runs on
    // the blocking pool; the coroutine resumes on the caller's executor.
    [[nodiscard]] net::awaitable<http_response> handle(const http_request& req, upload_call call);

    [[nodiscard]] std::size_t max_bytes() const noexcept { return max_bytes_; }

    // Blocking; for the pool (and tests).
    enum class put_result { created, exists, failed };
    [[nodiscard]] put_result put(const std::string& id, std::string_view content_type,
                                 std::string_view room, std::string_view body, std::string& error);
    struct got {
        std::string file; // header + bytes
        stored_upload_header header;
    };
    [[nodiscard]] std::optional<got> get(const std::string& id, std::string& error);

  private:
    std::filesystem::path dir_;
    std::size_t max_bytes_;
    std::shared_ptr<const authenticator> auth_;
    net::any_io_executor blocking_;
    std::atomic<std::size_t> in_flight_{0};
};

} // namespace tlsync::server
