#pragma once
// The web app's files (web/dist, --web-root): which file a request names,
// its content type and caching, and a small in-memory cache.
//
//   GET /, /r/{room}, /index.html  index.html        Cache-Control: no-cache
//   GET /assets/<name>             hashed by Vite    public, max-age=1 year, immutable
//   GET /<other file>              as it is          no-cache
// Every response has an ETag (a hash of the bytes); If-None-Match gets 304.
//
// The rules are sans-io and unit-tested; static_site does the I/O. Files are
// read whole, on the I/O thread, when first asked for (they are a few MB in
// all and come from the page cache), kept in memory up to a byte budget, and
// read again when a stat() shows another size or mtime (a rebuilt dist/).
// Files larger than the per-file bound are refused (404 and a warning), so a
// stray big file cannot stall an I/O thread.

#include "server/connection_context.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace tlsync::server {

// The file (relative to the web root, '/'-separated) that a request path
// names, or nullopt when it names none that may be served: a path whose
// segments are empty, "." or "..", start with '.', or hold anything but
// A-Z a-z 0-9 . _ - (after %-decoding), or that is deeper than 8 segments or
// longer than 512 bytes. The app's own routes ("/", "/r/{anything}") name
// index.html: the app decides what to show.
[[nodiscard]] std::optional<std::string> static_file_for(std::string_view url_path);

// The Content-Type for a file name, by extension (case-insensitive);
// application/octet-stream for unknown ones.
[[nodiscard]] std::string_view content_type_for(std::string_view file_name) noexcept;

// Cache-Control for a file: Vite's content-hashed files under assets/ never
// change ("immutable"), everything else is revalidated on each use.
[[nodiscard]] std::string_view cache_control_for(std::string_view relative_path) noexcept;

// A strong ETag for the bytes: "\"<64-bit FNV-1a hex>-<size hex>\"".
[[nodiscard]] std::string make_etag(std::string_view bytes);

// Whether an If-None-Match header value matches `etag` (a list, "*", W/ prefixes).
[[nodiscard]] bool etag_matches(std::string_view if_none_match, std::string_view etag) noexcept;

// Where the web app is, for --web-root: "off" disables it; a directory given
// must hold index.html (else `error`); "auto" looks for web/dist next to the
// source tree the binary was built in (<exe>/../../web/dist for build*/server/
// tlsyncd), then ./web/dist. Not found with "auto": no root, no error.
struct web_root_result {
    std::optional<std::filesystem::path> root;
    std::string error;  // names the flag
    std::string looked; // where "auto" looked, for the log line
};
[[nodiscard]] web_root_result find_web_root(std::string_view setting,
                                            const std::filesystem::path& exe);

class static_site {
  public:
    struct limits {
        std::size_t max_file_bytes = 32u << 20; // larger files are not served
        std::size_t cache_bytes = 64u << 20;    // kept in memory at most
    };
    explicit static_site(std::filesystem::path root) : static_site(std::move(root), limits{}) {}
    static_site(std::filesystem::path root, limits l);

    // Answers a GET or HEAD for `relative` (from static_file_for): 200 with
    // the bytes, 304, or 404. Thread-safe.
    [[nodiscard]] http_response serve(const http_request& req, const std::string& relative);

    [[nodiscard]] const std::filesystem::path& root() const noexcept { return root_; }

  private:
    struct file {
        std::shared_ptr<const std::string> bytes;
        std::string etag;
        std::uintmax_t size = 0;
        std::filesystem::file_time_type mtime;
    };
    [[nodiscard]] std::optional<file> load(const std::string& relative);

    std::filesystem::path root_;
    limits limits_;
    std::mutex mutex_; // guards cache_ and cached_bytes_ only; no I/O under it
    std::unordered_map<std::string, file> cache_;
    std::size_t cached_bytes_ = 0;
};

} // namespace tlsync::server
