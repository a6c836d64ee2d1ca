#include "server/static_files.hpp"

#include "server/http_routes.hpp"
#include "server/log.hpp"

#include <algorithm>
#include <array>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <system_error>

namespace tlsync::server {

namespace fs = std::filesystem;

namespace {

constexpr std::size_t max_path_bytes = 512;
constexpr std::size_t max_segments = 8;
constexpr std::string_view index_file = "index.html";

bool allowed_segment(std::string_view s) noexcept {
    if (s.empty() || s.front() == '.') return false; // ".", "..", hidden files
    return std::ranges::all_of(s, [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '.' || c == '_' || c == '-';
    });
}

char lower(char c) noexcept {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

bool iequals(std::string_view a, std::string_view b) noexcept {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                              [](char x, char y) { return lower(x) == lower(y); });
}

std::string_view trim(std::string_view s) noexcept {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
        s.remove_suffix(1);
    return s;
}

} // namespace

std::optional<std::string> static_file_for(std::string_view url_path) {
    if (url_path == "/" || url_path.starts_with("/r/")) return std::string(index_file);
    if (!url_path.starts_with('/') || url_path.size() > max_path_bytes) return std::nullopt;
    auto decoded = percent_decode(url_path.substr(1), false);
    if (!decoded) return std::nullopt;
    std::string_view rest = *decoded;
    std::size_t segments = 0;
    while (true) {
        const auto slash = rest.find('/');
        if (!allowed_segment(rest.substr(0, slash)) || ++segments > max_segments)
            return std::nullopt;
        if (slash == std::string_view::npos) break;
        rest.remove_prefix(slash + 1);
    }
    return decoded;
}

std::string_view content_type_for(std::string_view file_name) noexcept {
    struct entry {
        std::string_view ext, type;
    };
    static constexpr std::array<entry, 21> types{{
        {"html", "text/html; charset=utf-8"},
        {"js", "text/javascript; charset=utf-8"},
        {"mjs", "text/javascript; charset=utf-8"},
        {"css", "text/css; charset=utf-8"},
        {"json", "application/json"},
        {"map", "application/json"},
        {"txt", "text/plain; charset=utf-8"},
        {"svg", "image/svg+xml"},
        {"png", "image/png"},
        {"jpg", "image/jpeg"},
        {"jpeg", "image/jpeg"},
        {"gif", "image/gif"},
        {"webp", "image/webp"},
        {"avif", "image/avif"},
        {"ico", "image/x-icon"},
        {"woff2", "font/woff2"},
        {"woff", "font/woff"},
        {"ttf", "font/ttf"},
        {"wasm", "application/wasm"},
        {"webmanifest", "application/manifest+json"},
        {"xml", "application/xml"},
    }};
    const auto slash = file_name.rfind('/');
    const auto base = slash == std::string_view::npos ? file_name : file_name.substr(slash + 1);
    const auto dot = base.rfind('.');
    if (dot == std::string_view::npos || dot == 0) return "application/octet-stream";
    const auto ext = base.substr(dot + 1);
    for (const auto& e : types)
        if (iequals(e.ext, ext)) return e.type;
    return "application/octet-stream";
}

std::string_view cache_control_for(std::string_view relative_path) noexcept {
    if (relative_path.starts_with("assets/")) return "public, max-age=31536000, immutable";
    return "no-cache";
}

std::string make_etag(std::string_view bytes) {
    std::uint64_t h = 0xcbf29ce484222325ull;
    for (unsigned char c : bytes) {
        h ^= c;
        h *= 0x100000001b3ull;
    }
    char buf[64];
    const int n = std::snprintf(buf, sizeof buf, "\"%016llx-%zx\"",
                                static_cast<unsigned long long>(h), bytes.size());
    return std::string(buf, static_cast<std::size_t>(n));
}

bool etag_matches(std::string_view if_none_match, std::string_view etag) noexcept {
    while (!if_none_match.empty()) {
        const auto comma = if_none_match.find(',');
        auto item = trim(if_none_match.substr(0, comma));
        if_none_match =
            comma == std::string_view::npos ? std::string_view{} : if_none_match.substr(comma + 1);
        if (item == "*") return true;
        if (item.starts_with("W/")) item.remove_prefix(2); // If-None-Match compares weakly
        if (!item.empty() && item == etag) return true;
    }
    return false;
}

web_root_result find_web_root(std::string_view setting, const fs::path& exe) {
    web_root_result r;
    std::error_code ec;
    const auto has_index = [&](const fs::path& dir) {
        return fs::is_regular_file(dir / index_file, ec);
    };
    if (setting == "off") return r;
    if (setting != "auto") {
        const fs::path dir{std::string(setting)};
        if (!has_index(dir))
            r.error = "--web-root: no index.html in '" + std::string(setting) +
                      "' (build the app with scripts/setup, or --web-root off)";
        else
            r.root = fs::absolute(dir, ec);
        return r;
    }
    std::vector<fs::path> candidates;
    if (!exe.empty()) {
        candidates.push_back(exe.parent_path() / "../../web/dist"); // <repo>/build*/server/tlsyncd
        candidates.push_back(exe.parent_path() / "../share/tlsync/web"); // an install prefix
    }
    candidates.push_back(fs::current_path(ec) / "web/dist");
    for (const auto& c : candidates) {
        const auto dir = fs::weakly_canonical(c, ec);
        const auto shown = ec ? c : dir;
        r.looked += (r.looked.empty() ? "" : ", ") + shown.string();
        if (has_index(shown)) {
            r.root = shown;
            return r;
        }
    }
    return r;
}

static_site::static_site(fs::path root, limits l) : root_(std::move(root)), limits_(l) {}

std::optional<static_site::file> static_site::load(const std::string& relative) {
    const auto path = root_ / relative;
    std::error_code ec;
    const auto status = fs::status(path, ec);
    if (ec || !fs::is_regular_file(status)) return std::nullopt;
    const auto size = fs::file_size(path, ec);
    const auto mtime = fs::last_write_time(path, ec);
    if (ec) return std::nullopt;
    {
        std::lock_guard lock(mutex_);
        if (auto it = cache_.find(relative); it != cache_.end()) {
            if (it->second.size == size && it->second.mtime == mtime) return it->second;
            cached_bytes_ -= it->second.size;
            cache_.erase(it);
        }
    }
    if (size > limits_.max_file_bytes) {
        log::warn("web file too large to serve",
                  {{"file", path.string()}, {"bytes", std::to_string(size)}});
        return std::nullopt;
    }
    std::ifstream in(path, std::ios::binary);
    std::string bytes;
    bytes.reserve(static_cast<std::size_t>(size));
    bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    if (in.bad() || bytes.size() > limits_.max_file_bytes) return std::nullopt;
    file f;
    f.etag = make_etag(bytes);
    f.size = bytes.size();
    f.mtime = mtime;
    f.bytes = std::make_shared<const std::string>(std::move(bytes));
    if (f.size != size) return f; // changed while read: serve it, cache the next read
    std::lock_guard lock(mutex_);
    if (cached_bytes_ + f.size <= limits_.cache_bytes && cache_.emplace(relative, f).second)
        cached_bytes_ += f.size;
    return f;
}

http_response static_site::serve(const http_request& req, const std::string& relative) {
    const auto f = load(relative);
    if (!f) {
        const bool app = relative == index_file;
        return text_response(http::status::not_found,
                             app ? "web app missing: no index.html in the web root"
                                 : "not found: /" + relative,
                             req.version(), req.keep_alive());
    }
    http_response res{http::status::ok, req.version()};
    res.set(http::field::server, "tlsyncd");
    res.set(http::field::content_type, content_type_for(relative));
    res.set(http::field::cache_control, cache_control_for(relative));
    res.set(http::field::etag, f->etag);
    res.set("X-Content-Type-Options", "nosniff");
    res.keep_alive(req.keep_alive());
    if (const auto inm = req[http::field::if_none_match];
        !inm.empty() && etag_matches(inm, f->etag)) {
        res.result(http::status::not_modified);
        return res; // no body, no Content-Length (RFC 9110 15.4.5)
    }
    if (req.method() != http::verb::head) res.body() = *f->bytes;
    res.content_length(f->size);
    return res;
}

} // namespace tlsync::server
