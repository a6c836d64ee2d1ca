#include "proto/chunk.hpp"

#include <algorithm>
#include <limits>

namespace tlsync::proto {

namespace {

struct code_point {
    std::size_t start; // byte offset
    std::size_t units; // UTF-16 units: 2 for a surrogate pair
};

// The code point ending at byte `end`. Malformed bytes count one unit each,
// as utf16_length counts them, so lengths here and there agree.
code_point prev_code_point(std::string_view s, std::size_t end) noexcept {
    std::size_t start = end - 1;
    std::size_t back = 0;
    while (back < 3 && start > 0 && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80) {
        --start;
        ++back;
    }
    const auto lead = static_cast<unsigned char>(s[start]);
    const std::size_t len = lead < 0x80 ? 1 : (lead >> 5) == 0x6 ? 2 : (lead >> 4) == 0xE ? 3
                                          : (lead >> 3) == 0x1E ? 4 : 0;
    if (len != back + 1) return {end - 1, 1};
    return {start, len == 4 ? std::size_t{2} : std::size_t{1}};
}

// Start of the code point after at most `units` UTF-16 units of `s`.
std::size_t prefix_bytes(std::string_view s, std::size_t units) noexcept {
    std::size_t i = 0, n = 0;
    while (i < s.size()) {
        const auto c = static_cast<unsigned char>(s[i]);
        const std::size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3
                                           : (c >> 3) == 0x1E ? 4 : 1;
        const std::size_t u = len == 4 ? 2 : 1;
        if (n + u > units || i + len > s.size()) break;
        n += u;
        i += len;
    }
    return i;
}

assembly_error error(assembly_errc code, std::string message) {
    return assembly_error{code, std::move(message)};
}

} // namespace

std::vector<std::string> chunk(std::string_view msg, std::size_t max_size) {
    if (utf16_length(msg) < max_size) return {std::string(msg)};

    std::vector<std::string> chunks;
    std::size_t end = msg.size();
    for (std::size_t number = 0; end > 0; ++number) {
        std::string piece = std::to_string(number) + '_';
        // Body budget in UTF-16 units; the prefix may eat all of it, but a
        // piece always carries at least one character (CH3).
        const auto room = static_cast<long long>(max_size) - static_cast<long long>(piece.size());
        const auto budget = static_cast<std::size_t>(std::max(room, 1LL));
        std::size_t start = end;
        std::size_t units = 0;
        while (start > 0 && units < budget) {
            const auto cp = prev_code_point(msg, start);
            // A pair that would straddle the boundary goes to the next piece
            // instead, unless this piece would then be empty (CH9).
            if (units + cp.units > budget && units > 0) break;
            units += cp.units;
            start = cp.start;
        }
        piece.append(msg.substr(start, end - start));
        chunks.push_back(std::move(piece));
        end = start;
    }
    std::reverse(chunks.begin(), chunks.end());
    return chunks;
}

void chunk_assembler::reset() noexcept {
    in_sequence_ = false;
    total_chunks_ = 0;
    received_ = 0;
    buffer_.clear();
    // A hostile sequence may have grown the buffer; do not keep that memory.
    if (buffer_.capacity() > 64 * 1024) buffer_.shrink_to_fit();
}

assembly_result chunk_assembler::finish(assembly_errc parse_error_code, std::string text) {
    auto parsed = parse_json(text, limits_);
    if (!parsed) {
        const auto code = parsed.error().code == decode_errc::message_too_large
                              ? assembly_errc::too_large
                              : parse_error_code;
        return error(code, parsed.error().detail);
    }
    return assembled_message{std::move(text), std::move(parsed).value()};
}

assembly_result chunk_assembler::handle_message(std::string_view msg) {
    if (msg.starts_with('{')) {
        const bool interrupted = in_sequence_;
        reset();
        if (interrupted) return error(assembly_errc::unexpected_non_chunk, "Unexpected non-chunk message");
        if (msg.size() > limits_.max_message_bytes)
            return error(assembly_errc::too_large,
                         "message of " + std::to_string(msg.size()) + " bytes exceeds " +
                             std::to_string(limits_.max_message_bytes));
        return finish(assembly_errc::invalid_json, std::string(msg));
    }

    std::size_t digits = 0;
    std::uint64_t remaining = 0;
    constexpr auto cap = std::numeric_limits<std::uint64_t>::max() - 1;
    while (digits < msg.size() && msg[digits] >= '0' && msg[digits] <= '9') {
        const auto d = static_cast<std::uint64_t>(msg[digits] - '0');
        // Saturate: such a count can never complete, and the byte bound
        // still ends the sequence if its chunks carry data.
        remaining = remaining > (cap - d) / 10 ? cap : remaining * 10 + d;
        ++digits;
    }
    if (digits == 0 || digits >= msg.size() || msg[digits] != '_') {
        reset();
        std::string shown;
        append_json_string(shown, std::string(msg.substr(0, prefix_bytes(msg, 20))) + "...");
        return error(assembly_errc::invalid_chunk, "Invalid chunk: " + shown);
    }
    const auto body = msg.substr(digits + 1);

    if (!in_sequence_) {
        in_sequence_ = true;
        total_chunks_ = remaining + 1;
        received_ = 0;
    }
    ++received_;
    if (remaining != total_chunks_ - received_) {
        reset();
        return error(assembly_errc::wrong_order, "Chunks received in wrong order");
    }
    if (buffer_.size() + body.size() > limits_.max_message_bytes) {
        reset();
        return error(assembly_errc::too_large,
                     "chunked message exceeds " + std::to_string(limits_.max_message_bytes) +
                         " bytes");
    }
    buffer_.append(body);
    if (received_ < total_chunks_) return std::monostate{};

    std::string text = std::move(buffer_);
    reset();
    return finish(assembly_errc::invalid_chunked_json, std::move(text));
}

} // namespace tlsync::proto
