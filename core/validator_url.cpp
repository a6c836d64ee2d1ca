// Just enough of the WHATWG URL parser to know what `new URL(text)` does with
// a link/src URL: whether it fails, and the scheme. Failures come from a
// missing scheme and from hosts (empty, forbidden code points, bad IPv4/IPv6,
// bad ports); paths, queries and fragments never fail. Non-ASCII hosts would
// need IDNA (UTS #46); they are accepted, as Node accepts nearly all.
#include "core/validator.hpp"

#include <array>
#include <cstdint>
#include <string>

namespace tlsync::core::detail {

namespace {

bool is_alpha(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool is_digit(char c) {
    return c >= '0' && c <= '9';
}
bool is_hex(char c) {
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
int hex_value(char c) {
    return is_digit(c) ? c - '0' : (c | 0x20) - 'a' + 10;
}
char lower(char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c | 0x20) : c;
}

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (lower(a[i]) != lower(b[i])) return false;
    return true;
}

bool forbidden_host(unsigned char c) {
    switch (c) {
    case 0:
    case '\t':
    case '\n':
    case '\r':
    case ' ':
    case '#':
    case '/':
    case ':':
    case '<':
    case '>':
    case '?':
    case '@':
    case '[':
    case '\\':
    case ']':
    case '^':
    case '|':
        return true;
    default:
        return false;
    }
}
bool forbidden_domain(unsigned char c) {
    return forbidden_host(c) || c < 0x20 || c == '%' || c == 0x7F;
}

bool parse_ipv6(std::string_view in) {
    std::array<std::uint16_t, 8> address{};
    int piece = 0;
    int compress = -1;
    std::size_t p = 0;
    auto at = [&](std::size_t i) { return i < in.size() ? in[i] : '\0'; };
    if (at(p) == ':') {
        if (at(p + 1) != ':') return false;
        p += 2;
        compress = ++piece;
    }
    while (p < in.size()) {
        if (piece == 8) return false;
        if (in[p] == ':') {
            if (compress != -1) return false;
            ++p;
            compress = ++piece;
            continue;
        }
        unsigned value = 0;
        int length = 0;
        while (length < 4 && p < in.size() && is_hex(in[p])) {
            value = value * 16 + static_cast<unsigned>(hex_value(in[p]));
            ++p;
            ++length;
        }
        if (p < in.size() && in[p] == '.') {
            if (length == 0) return false;
            p -= static_cast<std::size_t>(length);
            if (piece > 6) return false;
            int numbers_seen = 0;
            while (p < in.size()) {
                int ipv4_piece = -1;
                if (numbers_seen > 0) {
                    if (in[p] == '.' && numbers_seen < 4)
                        ++p;
                    else
                        return false;
                }
                if (p >= in.size() || !is_digit(in[p])) return false;
                while (p < in.size() && is_digit(in[p])) {
                    const int n = in[p] - '0';
                    if (ipv4_piece == -1)
                        ipv4_piece = n;
                    else if (ipv4_piece == 0)
                        return false;
                    else
                        ipv4_piece = ipv4_piece * 10 + n;
                    if (ipv4_piece > 255) return false;
                    ++p;
                }
                address[static_cast<std::size_t>(piece)] = static_cast<std::uint16_t>(
                    address[static_cast<std::size_t>(piece)] * 0x100 + ipv4_piece);
                ++numbers_seen;
                if (numbers_seen == 2 || numbers_seen == 4) ++piece;
            }
            if (numbers_seen != 4) return false;
            break;
        }
        if (p < in.size() && in[p] == ':') {
            ++p;
            if (p >= in.size()) return false;
        } else if (p < in.size()) {
            return false;
        }
        address[static_cast<std::size_t>(piece)] = static_cast<std::uint16_t>(value);
        ++piece;
    }
    if (compress != -1) return true; // swapping pieces cannot fail
    return piece == 8;
}

// IPv4 number parser; false on failure.
bool parse_ipv4_number(std::string_view s, std::uint64_t& out) {
    if (s.empty()) return false;
    int radix = 10;
    if (s.size() >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        radix = 16;
        s.remove_prefix(2);
    } else if (s.size() >= 2 && s[0] == '0') {
        radix = 8;
        s.remove_prefix(1);
    }
    out = 0;
    for (char c : s) {
        int d = radix == 16 ? (is_hex(c) ? hex_value(c) : -1) : (is_digit(c) ? c - '0' : -1);
        if (d < 0 || d >= radix) return false;
        out = out * static_cast<std::uint64_t>(radix) + static_cast<std::uint64_t>(d);
        if (out > (1ULL << 40)) out = 1ULL << 40; // saturate: anything this big fails anyway
    }
    return true;
}

// Calls f(label) for each dot-separated label, with WHATWG's trailing-dot
// rule (a last empty label is dropped unless it is the only one); returns the
// number of labels or stops early when f returns false (then returns 0).
template <class F> std::size_t for_each_label(std::string_view s, F&& f) {
    if (s.size() > 1 && s.back() == '.') s.remove_suffix(1);
    std::size_t count = 0;
    for (std::size_t start = 0;;) {
        auto dot = s.find('.', start);
        ++count;
        if (!f(s.substr(start,
                        dot == std::string_view::npos ? std::string_view::npos : dot - start),
               dot == std::string_view::npos))
            return 0;
        if (dot == std::string_view::npos) return count;
        start = dot + 1;
    }
}

bool ends_in_number(std::string_view host) {
    std::string_view last;
    for_each_label(host, [&](std::string_view label, bool) {
        last = label;
        return true;
    });
    if (host == ".") return false; // one empty label: not a number
    if (!last.empty()) {
        bool digits = true;
        for (char c : last)
            digits = digits && is_digit(c);
        if (digits) return true;
    }
    std::uint64_t n = 0;
    return last.size() >= 2 && last[0] == '0' && (last[1] == 'x' || last[1] == 'X') &&
           parse_ipv4_number(last, n);
}

bool parse_ipv4(std::string_view host) {
    std::size_t labels = 0;
    for_each_label(host, [&](std::string_view, bool) { return ++labels <= 4; });
    if (labels == 0 || labels > 4) return false;
    return for_each_label(host, [&](std::string_view label, bool last) {
               std::uint64_t n = 0;
               if (!parse_ipv4_number(label, n)) return false;
               return last ? n < (1ULL << (8 * (5 - labels))) : n <= 255;
           }) != 0;
}

bool valid_utf8(std::string_view s) {
    for (std::size_t i = 0; i < s.size();) {
        const auto c = static_cast<unsigned char>(s[i]);
        std::size_t len = c < 0x80           ? 1
                          : (c >> 5) == 0x6  ? 2
                          : (c >> 4) == 0xE  ? 3
                          : (c >> 3) == 0x1E ? 4
                                             : 0;
        if (len == 0 || i + len > s.size()) return false;
        std::uint32_t cp = len == 1 ? c : c & (0x7F >> len);
        for (std::size_t k = 1; k < len; ++k) {
            const auto cc = static_cast<unsigned char>(s[i + k]);
            if ((cc & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (cc & 0x3F);
        }
        static constexpr std::uint32_t min_for_len[] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < min_for_len[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
        i += len;
    }
    return true;
}

// The host parser for special schemes.
bool parse_special_host(std::string_view in) {
    if (!in.empty() && in[0] == '[')
        return in.size() >= 2 && in.back() == ']' && parse_ipv6(in.substr(1, in.size() - 2));
    // Percent-decode only when there is something to decode (no allocation otherwise).
    std::string decoded;
    std::string_view host = in;
    if (in.find('%') != std::string_view::npos) {
        for (std::size_t i = 0; i < in.size(); ++i) {
            if (in[i] == '%' && i + 2 < in.size() && is_hex(in[i + 1]) && is_hex(in[i + 2])) {
                decoded += static_cast<char>(hex_value(in[i + 1]) * 16 + hex_value(in[i + 2]));
                i += 2;
            } else {
                decoded += in[i];
            }
        }
        host = decoded;
    }
    if (host.empty()) return false;
    bool ascii = true;
    for (unsigned char c : host) {
        if (c >= 0x80)
            ascii = false;
        else if (forbidden_domain(c))
            return false;
    }
    if (!ascii)
        return valid_utf8(
            host); // UTF-8 decoding gives U+FFFD, which IDNA rejects; IDNA itself not modelled
    // IPv4 parsing is case-insensitive, so the host need not be lowercased.
    if (ends_in_number(host)) return parse_ipv4(host);
    return true;
}

bool parse_opaque_host(std::string_view in) {
    if (!in.empty() && in[0] == '[')
        return in.size() >= 2 && in.back() == ']' && parse_ipv6(in.substr(1, in.size() - 2));
    for (unsigned char c : in)
        if (forbidden_host(c)) return false;
    return true;
}

bool parse_authority(std::string_view a, bool special) {
    std::string_view host_port = a;
    if (auto at = a.rfind('@'); at != std::string_view::npos) {
        host_port = a.substr(at + 1);
        if (host_port.empty()) return false;
    }
    bool in_brackets = false;
    std::size_t colon = std::string_view::npos;
    for (std::size_t i = 0; i < host_port.size(); ++i) {
        if (host_port[i] == '[') in_brackets = true;
        if (host_port[i] == ']') in_brackets = false;
        if (host_port[i] == ':' && !in_brackets) {
            colon = i;
            break;
        }
    }
    std::string_view host = host_port.substr(0, colon);
    if (colon != std::string_view::npos) {
        if (host.empty()) return false;
        std::string_view port = host_port.substr(colon + 1);
        std::uint64_t value = 0;
        for (char c : port) {
            if (!is_digit(c)) return false;
            value = value * 10 + static_cast<std::uint64_t>(c - '0');
            if (value > 65535) return false;
        }
    }
    if (special) return !host.empty() && parse_special_host(host);
    return parse_opaque_host(host);
}

std::string_view cut_authority(std::string_view rest, bool special) {
    auto end = rest.find_first_of(special ? "/\\?#" : "/?#");
    return rest.substr(0, end);
}

url_scheme parse_absolute(std::string_view s) {
    if (s.empty() || !is_alpha(s[0])) return url_scheme::invalid;
    std::size_t i = 1;
    while (i < s.size() &&
           (is_alpha(s[i]) || is_digit(s[i]) || s[i] == '+' || s[i] == '-' || s[i] == '.'))
        ++i;
    if (i == s.size() || s[i] != ':') return url_scheme::invalid;
    std::string_view scheme = s.substr(0, i);
    std::string_view rest = s.substr(i + 1);
    const bool http = iequals(scheme, "http"), https = iequals(scheme, "https");
    if (http || https || iequals(scheme, "ws") || iequals(scheme, "wss") ||
        iequals(scheme, "ftp")) {
        while (!rest.empty() && (rest[0] == '/' || rest[0] == '\\'))
            rest.remove_prefix(1);
        if (!parse_authority(cut_authority(rest, true), true)) return url_scheme::invalid;
        return http ? url_scheme::http : https ? url_scheme::https : url_scheme::other;
    }
    if (iequals(scheme, "file")) {
        if (rest.size() >= 2 && (rest[0] == '/' || rest[0] == '\\') &&
            (rest[1] == '/' || rest[1] == '\\')) {
            std::string_view host = cut_authority(rest.substr(2), true);
            const bool drive =
                host.size() == 2 && is_alpha(host[0]) && (host[1] == ':' || host[1] == '|');
            if (!host.empty() && !drive && !parse_special_host(host)) return url_scheme::invalid;
        }
        return url_scheme::other;
    }
    if (rest.starts_with("//") && !parse_authority(cut_authority(rest.substr(2), false), false))
        return url_scheme::invalid;
    if (iequals(scheme, "mailto")) return url_scheme::mailto;
    if (iequals(scheme, "data")) return url_scheme::data;
    if (iequals(scheme, "asset")) return url_scheme::asset;
    return url_scheme::other;
}

} // namespace

url_scheme parse_url_scheme(std::string_view text) {
    // Strip leading/trailing C0 controls and spaces; drop tabs and newlines.
    std::string_view s = text;
    while (!s.empty() && static_cast<unsigned char>(s.front()) <= 0x20)
        s.remove_prefix(1);
    while (!s.empty() && static_cast<unsigned char>(s.back()) <= 0x20)
        s.remove_suffix(1);
    std::string cleaned;
    if (s.find_first_of("\t\n\r") != std::string_view::npos) {
        for (char c : s)
            if (c != '\t' && c != '\n' && c != '\r') cleaned += c;
        s = cleaned;
    }
    if (auto scheme = parse_absolute(s); scheme != url_scheme::invalid) return scheme;
    // @tldraw/validate's parseUrl: retry "/..." and "./..." against http://example.com.
    if (!text.starts_with("/") && !text.starts_with("./")) return url_scheme::invalid;
    if (s.size() >= 2 && (s[0] == '/' || s[0] == '\\') && (s[1] == '/' || s[1] == '\\')) {
        std::string_view rest = s.substr(2);
        while (!rest.empty() && (rest[0] == '/' || rest[0] == '\\'))
            rest.remove_prefix(1);
        if (!parse_authority(cut_authority(rest, true), true)) return url_scheme::invalid;
    }
    return url_scheme::http;
}

} // namespace tlsync::core::detail
