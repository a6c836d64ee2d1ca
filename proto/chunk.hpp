#pragma once
// Message chunking as tldraw does it over WebSockets: a message too long for
// one frame is sent as `<n>_<body>` pieces, n counting down the pieces still
// to come. Lengths are JavaScript (UTF-16) lengths; our strings are UTF-8 and
// are only ever cut between code points.

#include "proto/codec.hpp"
#include "proto/json.hpp"
#include "proto/limits.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace tlsync::proto {

// CH1-CH3, CH9. `[msg]` when msg is shorter than max_size UTF-16 units;
// otherwise pieces of at most max_size units each, except that every piece
// carries at least one character, and a surrogate pair (a code point outside
// the BMP) is never split.
[[nodiscard]] std::vector<std::string> chunk(std::string_view msg,
                                             std::size_t max_size = default_chunk_size);

struct assembled_message {
    std::string text; // the whole message, for logging and hooks
    json::value value;
};

// How the room should react, following upstream TLSocketRoom: a whole
// message that is not JSON makes JsonChunkAssembler throw, which upstream
// answers by rejecting the session with UNKNOWN_ERROR; every other assembly
// error is treated like a socket error (session closed, no reason sent).
enum class assembly_errc {
    invalid_json,         // CH4: idle `{...}` message that does not parse
    unexpected_non_chunk, // CH5
    invalid_chunked_json, // CH6: the joined chunks do not parse
    wrong_order,          // CH7
    invalid_chunk,        // CH7: neither `{...}` nor `<digits>_...`
    too_large,            // over decode_limits::max_message_bytes (our own bound)
};

struct assembly_error {
    assembly_errc code = assembly_errc::invalid_chunk;
    std::string message; // upstream's wording where it has one

    // True when upstream would reject the session with UNKNOWN_ERROR (CH4);
    // false when it would close it as on a socket error.
    [[nodiscard]] bool rejects_session() const noexcept {
        return code == assembly_errc::invalid_json;
    }
};

// monostate: a chunk was taken and more are expected.
using assembly_result = std::variant<std::monostate, assembled_message, assembly_error>;

// CH4-CH8. One per socket. Any error resets it to idle, discarding the
// partial message, so the next message starts afresh.
class chunk_assembler {
public:
    // The limits bound both a whole message and the joined chunk bodies; the
    // buffer never grows past max_message_bytes.
    explicit chunk_assembler(decode_limits limits = {}) : limits_(limits) {}

    [[nodiscard]] assembly_result handle_message(std::string_view msg);

    [[nodiscard]] bool idle() const noexcept { return !in_sequence_; }
    void reset() noexcept;

private:
    assembly_result finish(assembly_errc parse_error_code, std::string text);

    decode_limits limits_;
    bool in_sequence_ = false;
    std::uint64_t total_chunks_ = 0;
    std::uint64_t received_ = 0;
    std::string buffer_; // chunk bodies joined as they arrive
};

} // namespace tlsync::proto
