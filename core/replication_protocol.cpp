#include "core/replication_protocol.hpp"

#include <charconv>

namespace tlsync::core::pg {
namespace {

std::uint64_t get_u64(std::string_view b, std::size_t at) noexcept {
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < 8; ++i) v = (v << 8) | static_cast<unsigned char>(b[at + i]);
    return v;
}

void put_u64(char* out, std::uint64_t v) noexcept {
    for (int i = 7; i >= 0; --i) {
        out[i] = static_cast<char>(v & 0xff);
        v >>= 8;
    }
}

std::optional<std::uint32_t> parse_hex32(std::string_view s) noexcept {
    if (s.empty() || s.size() > 8) return std::nullopt;
    std::uint32_t v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v, 16);
    if (ec != std::errc{} || end != s.data() + s.size()) return std::nullopt;
    return v;
}

} // namespace

std::optional<lsn> lsn::parse(std::string_view text) noexcept {
    auto slash = text.find('/');
    if (slash == std::string_view::npos) return std::nullopt;
    // from_chars accepts neither signs nor "0x" for base 16, which is what we want.
    auto hi = parse_hex32(text.substr(0, slash));
    auto lo = parse_hex32(text.substr(slash + 1));
    if (!hi || !lo) return std::nullopt;
    return lsn{(std::uint64_t{*hi} << 32) | *lo};
}

std::string lsn::to_string() const {
    char buf[20];
    auto hex = [](char* p, char* end, std::uint32_t v) {
        auto r = std::to_chars(p, end, v, 16);
        for (char* c = p; c != r.ptr; ++c)
            if (*c >= 'a' && *c <= 'f') *c = static_cast<char>(*c - 'a' + 'A');
        return r.ptr;
    };
    char* p = hex(buf, buf + sizeof buf, static_cast<std::uint32_t>(value >> 32));
    *p++ = '/';
    p = hex(p, buf + sizeof buf, static_cast<std::uint32_t>(value));
    return std::string(buf, p);
}

copy_data parse_copy_data(std::string_view bytes) {
    if (bytes.empty()) return protocol_error{"empty CopyData message"};
    switch (bytes[0]) {
    case 'w':
        if (bytes.size() < xlog_data_header_size)
            return protocol_error{"XLogData shorter than its 25-byte header"};
        return xlog_data{lsn{get_u64(bytes, 1)}, lsn{get_u64(bytes, 9)},
                         static_cast<pg_time>(get_u64(bytes, 17)),
                         bytes.substr(xlog_data_header_size)};
    case 'k':
        if (bytes.size() != keepalive_size)
            return protocol_error{"keepalive of " + std::to_string(bytes.size()) + " bytes, expected 18"};
        return primary_keepalive{lsn{get_u64(bytes, 1)}, static_cast<pg_time>(get_u64(bytes, 9)),
                                 bytes[17] != 0};
    default: {
        std::string what = "unknown CopyData message type 0x";
        constexpr char digits[] = "0123456789abcdef";
        auto c = static_cast<unsigned char>(bytes[0]);
        what += digits[c >> 4];
        what += digits[c & 15];
        return protocol_error{std::move(what)};
    }
    }
}

std::array<char, status_update_size> encode_status_update(const standby_status& s) noexcept {
    std::array<char, status_update_size> out{};
    out[0] = 'r';
    put_u64(out.data() + 1, s.written.value);
    put_u64(out.data() + 9, s.flushed.value);
    put_u64(out.data() + 17, s.applied.value);
    put_u64(out.data() + 25, static_cast<std::uint64_t>(s.client_time));
    out[33] = s.reply_requested ? 1 : 0;
    return out;
}

std::optional<standby_status> parse_status_update(std::string_view bytes) noexcept {
    if (bytes.size() != status_update_size || bytes[0] != 'r') return std::nullopt;
    return standby_status{lsn{get_u64(bytes, 1)}, lsn{get_u64(bytes, 9)}, lsn{get_u64(bytes, 17)},
                          static_cast<pg_time>(get_u64(bytes, 25)), bytes[33] != 0};
}

} // namespace tlsync::core::pg
