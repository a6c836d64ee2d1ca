// Chunk assembly (proto/chunk): the input is a sequence of WebSocket text
// messages (separated by a 0x00 byte) fed to one assembler under small
// limits; nothing may crash, and the assembler must be idle after any
// error or whole message. Then the round trip: a message cut by chunk() at
// a small size (the first byte) and fed back to a fresh assembler is
// reassembled to exactly the original text.

#include "check.hpp"
#include "proto/chunk.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

using namespace tlsync;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const std::size_t max_size = 1 + data[0] % 64;
    const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);

    proto::decode_limits limits;
    limits.max_message_bytes = 2048;
    limits.max_depth = 16;
    proto::chunk_assembler assembler(limits);
    std::size_t start = 0;
    while (start <= input.size()) {
        std::size_t end = input.find('\0', start);
        if (end == std::string_view::npos) end = input.size();
        const std::string_view msg = input.substr(start, end - start);
        auto r = assembler.handle_message(msg);
        if (auto* m = std::get_if<proto::assembled_message>(&r)) {
            FUZZ_CHECK(assembler.idle(), "a whole message left the assembler mid-sequence");
            FUZZ_CHECK(m->text.size() <= limits.max_message_bytes, "assembled %zu bytes over the limit",
                       m->text.size());
            // Joined chunks may be any JSON (upstream does not check either);
            // the decoder is what the server hands the value to next.
            (void)proto::decode_client_message(std::move(m->value), limits);
        } else if (std::holds_alternative<proto::assembly_error>(r)) {
            FUZZ_CHECK(assembler.idle(), "an error left the assembler mid-sequence");
        }
        start = end + 1;
    }

    // Round trip of the whole input as one message, when it is a JSON object.
    const std::string_view whole = input;
    if (!proto::parse_json(whole, limits).has_value()) return 0;
    if (whole.empty() || whole.front() != '{') return 0; // leading whitespace: not a message
    proto::chunk_assembler fresh(limits);
    const auto pieces = proto::chunk(whole, max_size);
    std::string joined_bodies;
    for (std::size_t i = 0; i < pieces.size(); ++i) {
        if (pieces.size() > 1) {
            // At most max_size units, unless the body is the one character
            // (at most a surrogate pair) every piece must carry.
            const auto body = std::string_view(pieces[i]).substr(pieces[i].find('_') + 1);
            FUZZ_CHECK(utf16_length(pieces[i]) <= max_size || utf16_length(body) <= 2,
                       "piece %zu is %zu units long, max %zu", i, utf16_length(pieces[i]), max_size);
        }
        auto r = fresh.handle_message(pieces[i]);
        if (i + 1 < pieces.size()) {
            FUZZ_CHECK(std::holds_alternative<std::monostate>(r), "piece %zu of %zu ended the sequence", i,
                       pieces.size());
            continue;
        }
        auto* m = std::get_if<proto::assembled_message>(&r);
        FUZZ_CHECK(m != nullptr, "the chunks of a valid message did not assemble (%zu pieces)", pieces.size());
        FUZZ_CHECK(m->text == whole, "reassembled text differs from the original");
    }
    return 0;
}
