#include "server/log.hpp"

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <ctime>
#include <unistd.h>

namespace tlsync::server::log {
namespace {

// Relaxed is enough: a thread that sees a level change a few lines late is
// harmless, and enabled() sits on hot paths.
std::atomic<int> min_level{static_cast<int>(log_level::info)};
std::atomic<bool> json_output{false};

// Length of the well-formed UTF-8 sequence at s[i] and its code point, or 0
// for an invalid byte (overlong forms, surrogates and > U+10FFFF included).
std::size_t utf8_sequence(std::string_view s, std::size_t i, char32_t& cp) {
    const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[i + k]); };
    const unsigned char c = b(0);
    std::size_t n = 0;
    char32_t min = 0;
    if (c < 0x80) {
        cp = c;
        return 1;
    }
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2, cp = c & 0x1F, min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3, cp = c & 0x0F, min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4, cp = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (i + n > s.size()) return 0;
    for (std::size_t k = 1; k < n; ++k) {
        if ((b(k) & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (b(k) & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return n;
}

// C1 controls and the Unicode line/paragraph separators end or garble a line
// in some viewers, so they are escaped like ASCII controls.
bool unprintable(char32_t cp) {
    return cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F) || cp == 0x2028 || cp == 0x2029;
}

constexpr char hex[] = "0123456789abcdef";

void put_u_escape(std::string& out, char32_t cp) {
    out += "\\u";
    for (int shift = 12; shift >= 0; shift -= 4)
        out += hex[(cp >> shift) & 0xF];
}

// A logfmt value: bare when it is a single unambiguous token, otherwise
// quoted with Go strconv.Quote-style escapes (\" \\ \n \r \t, \xNN for ASCII
// controls and invalid bytes, \uNNNN for other unprintables), which is what
// logfmt readers expect.
void put_logfmt_value(std::string& out, std::string_view v) {
    bool quote = v.empty();
    for (std::size_t i = 0; i < v.size() && !quote;) {
        char32_t cp = 0;
        const std::size_t n = utf8_sequence(v, i, cp);
        quote = n == 0 || cp == ' ' || cp == '=' || cp == '"' || unprintable(cp);
        i += n;
    }
    if (!quote) {
        out += v;
        return;
    }
    out += '"';
    for (std::size_t i = 0; i < v.size();) {
        char32_t cp = 0;
        const std::size_t n = utf8_sequence(v, i, cp);
        const auto byte = static_cast<unsigned char>(v[i]);
        if (n == 0 || (n == 1 && unprintable(cp) && cp != '\n' && cp != '\r' && cp != '\t')) {
            out += "\\x";
            out += hex[byte >> 4];
            out += hex[byte & 0xF];
            ++i;
            continue;
        }
        switch (cp) {
        case '"':
            out += "\\\"";
            break;
        case '\\':
            out += "\\\\";
            break;
        case '\n':
            out += "\\n";
            break;
        case '\r':
            out += "\\r";
            break;
        case '\t':
            out += "\\t";
            break;
        default:
            if (unprintable(cp))
                put_u_escape(out, cp);
            else
                out.append(v.substr(i, n));
        }
        i += n;
    }
    out += '"';
}

// Keys come from code, but a stray space or '=' must not break the line.
void put_logfmt_key(std::string& out, std::string_view k) {
    if (k.empty()) out += '_';
    for (char c : k) {
        const auto u = static_cast<unsigned char>(c);
        out += (u <= ' ' || u >= 0x7F || c == '=' || c == '"') ? '_' : c;
    }
}

// A JSON string; invalid UTF-8 becomes U+FFFD so every line stays valid JSON.
void put_json_string(std::string& out, std::string_view v) {
    out += '"';
    for (std::size_t i = 0; i < v.size();) {
        char32_t cp = 0;
        const std::size_t n = utf8_sequence(v, i, cp);
        if (n == 0) {
            out += "\\ufffd";
            ++i;
            continue;
        }
        switch (cp) {
        case '"':
            out += "\\\"";
            break;
        case '\\':
            out += "\\\\";
            break;
        case '\b':
            out += "\\b";
            break;
        case '\f':
            out += "\\f";
            break;
        case '\n':
            out += "\\n";
            break;
        case '\r':
            out += "\\r";
            break;
        case '\t':
            out += "\\t";
            break;
        default:
            if (unprintable(cp))
                put_u_escape(out, cp);
            else
                out.append(v.substr(i, n));
        }
        i += n;
    }
    out += '"';
}

// 2026-11-22T03:04:05.123Z
void put_timestamp(std::string& out, std::chrono::system_clock::time_point ts) {
    using namespace std::chrono;
    const auto millis = floor<milliseconds>(ts).time_since_epoch().count();
    const auto secs = static_cast<std::time_t>(millis >= 0 ? millis / 1000 : (millis - 999) / 1000);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char buf[32];
    const int n = std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                                tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                                tm.tm_sec, static_cast<int>(millis - secs * 1000LL));
    if (n > 0) out.append(buf, static_cast<std::size_t>(n));
}

// One write(2) for the whole line keeps concurrent lines whole (atomic for
// pipes up to PIPE_BUF, and in practice for files and the journal socket);
// the loop only finishes a line the kernel cut short.
void write_stderr(std::string_view line) noexcept {
    const int saved_errno = errno; // callers may be between a failing call and reading errno
    while (!line.empty()) {
        const ssize_t n = ::write(STDERR_FILENO, line.data(), line.size());
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        line.remove_prefix(static_cast<std::size_t>(n));
    }
    errno = saved_errno;
}

} // namespace

namespace detail {

std::string format_line(log_level level, bool json, std::chrono::system_clock::time_point ts,
                        std::string_view message, std::span<const field> fields) {
    std::string out;
    out.reserve(64 + message.size() + fields.size() * 24);
    if (json) {
        out += "{\"ts\":\"";
        put_timestamp(out, ts);
        out += "\",\"level\":\"";
        out += to_string(level);
        out += "\",\"msg\":";
        put_json_string(out, message);
        for (const auto& [k, v] : fields) {
            out += ',';
            put_json_string(out, k);
            out += ':';
            put_json_string(out, v);
        }
        out += "}\n";
    } else {
        out += "ts=";
        put_timestamp(out, ts);
        out += " level=";
        out += to_string(level);
        out += " msg=";
        put_logfmt_value(out, message);
        for (const auto& [k, v] : fields) {
            out += ' ';
            put_logfmt_key(out, k);
            out += '=';
            put_logfmt_value(out, v);
        }
        out += '\n';
    }
    return out;
}

} // namespace detail

void configure(log_level level, bool json) {
    min_level.store(static_cast<int>(level), std::memory_order_relaxed);
    json_output.store(json, std::memory_order_relaxed);
}

bool enabled(log_level level) noexcept {
    return static_cast<int>(level) >= min_level.load(std::memory_order_relaxed);
}

void write(log_level level, std::string_view message,
           std::initializer_list<field> fields) noexcept {
    if (!enabled(level)) return;
    try {
        const auto line = detail::format_line(
            level, json_output.load(std::memory_order_relaxed), std::chrono::system_clock::now(),
            message, std::span<const field>(fields.begin(), fields.size()));
        write_stderr(line);
    } catch (...) {
        // Out of memory while formatting: dropping the line beats throwing
        // from a log call inside an error path.
    }
}

} // namespace tlsync::server::log
