#pragma once
// Helpers for the replication tests: the captured stream fixture
// (fixtures/wal2json_v2_stream.hex, one CopyData message per line in hex,
// recorded by scripts/capture-replication-fixtures) and byte builders.

#include "core/replication_protocol.hpp"

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace tlsync::test {

inline std::string from_hex(std::string_view hex) {
    auto nibble = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        throw std::runtime_error("bad hex digit");
    };
    if (hex.size() % 2) throw std::runtime_error("odd hex length");
    std::string out;
    out.reserve(hex.size() / 2);
    for (std::size_t i = 0; i < hex.size(); i += 2)
        out += static_cast<char>(nibble(hex[i]) << 4 | nibble(hex[i + 1]));
    return out;
}

inline std::vector<std::string> load_stream_fixture(const std::string& name = "wal2json_v2_stream.hex") {
    auto path = std::filesystem::path(TLSYNC_SOURCE_DIR) / "test/unit/core/fixtures" / name;
    std::ifstream in(path);
    if (!in) throw std::runtime_error("cannot open " + path.string());
    std::vector<std::string> out;
    for (std::string line; std::getline(in, line);)
        if (!line.empty()) out.push_back(from_hex(line));
    return out;
}

inline void put_be64(std::string& out, std::uint64_t v) {
    for (int i = 7; i >= 0; --i) out += static_cast<char>((v >> (8 * i)) & 0xff);
}

inline std::string xlog(std::uint64_t start, std::string_view payload, std::uint64_t wal_end = 0) {
    std::string out = "w";
    put_be64(out, start);
    put_be64(out, wal_end ? wal_end : start);
    put_be64(out, 0);
    out += payload;
    return out;
}

inline std::string keepalive(std::uint64_t wal_end, bool reply) {
    std::string out = "k";
    put_be64(out, wal_end);
    put_be64(out, 0);
    out += static_cast<char>(reply ? 1 : 0);
    return out;
}

} // namespace tlsync::test
