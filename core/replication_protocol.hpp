#pragma once
// PostgreSQL streaming replication messages, as carried in CopyData once
// START_REPLICATION has switched the connection to COPY BOTH. Sans-io: bytes
// in, values out. Everything on the wire is big-endian; times are
// microseconds since 2000-01-01 00:00:00 UTC (the Postgres epoch).
//
//   'w' XLogData      'w' | dataStart u64 | walEnd u64 | sendTime i64 | payload
//   'k' keepalive     'k' | walEnd u64 | sendTime i64 | replyRequested u8
//   'r' status update 'r' | written u64 | flushed u64 | applied u64 | clientTime i64 | replyRequested u8

#include <array>
#include <chrono>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace tlsync::core::pg {

// A WAL position. Compared as a number: the text form "16/B374D848" does not
// sort ("0/F" > "0/10" as strings).
struct lsn {
    std::uint64_t value = 0;

    constexpr auto operator<=>(const lsn&) const = default;
    [[nodiscard]] constexpr bool is_zero() const noexcept { return value == 0; }

    // "X/Y", both hex, each at most 8 digits, either case; nullopt otherwise.
    [[nodiscard]] static std::optional<lsn> parse(std::string_view text) noexcept;
    // Upper-case hex without leading zeros, as Postgres prints it: "16/B374D848", "0/0".
    [[nodiscard]] std::string to_string() const;
};

// Microseconds since 2000-01-01 UTC.
using pg_time = std::int64_t;
inline constexpr std::int64_t pg_epoch_unix_micros = 946'684'800'000'000;

[[nodiscard]] constexpr pg_time to_pg_time(std::chrono::system_clock::time_point t) noexcept {
    return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count() -
           pg_epoch_unix_micros;
}
[[nodiscard]] constexpr std::chrono::system_clock::time_point from_pg_time(pg_time t) noexcept {
    return std::chrono::system_clock::time_point(
        std::chrono::duration_cast<std::chrono::system_clock::duration>(
            std::chrono::microseconds(t + pg_epoch_unix_micros)));
}

struct xlog_data {
    lsn data_start; // WAL position of the payload (for wal2json v2 'C': the commit's end)
    lsn wal_end;    // the server's current end of WAL
    pg_time send_time = 0;
    std::string_view payload; // points into the parsed buffer
};

struct primary_keepalive {
    lsn wal_end; // runs ahead of the last commit while idle: never acknowledge it blindly
    pg_time send_time = 0;
    bool reply_requested = false;
};

struct protocol_error {
    std::string what;
};

using copy_data = std::variant<xlog_data, primary_keepalive, protocol_error>;

// One CopyData message from the server. The result may point into `bytes`.
[[nodiscard]] copy_data parse_copy_data(std::string_view bytes);

inline constexpr std::size_t xlog_data_header_size = 25;
inline constexpr std::size_t keepalive_size = 18;
inline constexpr std::size_t status_update_size = 34;

struct standby_status {
    lsn written;
    lsn flushed;
    lsn applied;
    pg_time client_time = 0;
    bool reply_requested = false; // asks the server for a keepalive back: a ping
};

// The 'r' message to send with PQputCopyData.
[[nodiscard]] std::array<char, status_update_size> encode_status_update(const standby_status& s) noexcept;
// The inverse, for tests and fakes; nullopt when `bytes` is not one.
[[nodiscard]] std::optional<standby_status> parse_status_update(std::string_view bytes) noexcept;

} // namespace tlsync::core::pg
