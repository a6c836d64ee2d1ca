// Sync-protocol message decoding (proto/codec): any text is decoded, as a
// client message and as a server message, without crashing, under small
// limits so the limit paths are reached too. Whatever decodes must survive a
// round trip: encode(decode(t)) decodes again, to the same text.

#include "check.hpp"
#include "proto/codec.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

using namespace tlsync;

namespace {

template <class Decode>
void round_trip(std::string_view text, const proto::decode_limits& limits, Decode decode) {
    auto first = decode(text, limits);
    if (!first) {
        FUZZ_CHECK(!first.error().close_reason().empty(), "no close reason for %s",
                   first.error().detail.c_str());
        return;
    }
    const std::string encoded = proto::encode(first.value());
    // What we encode must decode: the default limits, as the re-encoding can
    // be longer than the input (escapes, number forms).
    auto second = decode(encoded, proto::decode_limits{});
    FUZZ_CHECK(second.has_value(), "re-encoded message does not decode: %s\n  text: %s",
               second.error().detail.c_str(), encoded.c_str());
    const std::string again = proto::encode(second.value());
    FUZZ_CHECK(again == encoded, "encoding is not stable:\n  %s\n  %s", encoded.c_str(), again.c_str());
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);

    // Tight limits make depth, size and record-count refusals reachable.
    proto::decode_limits small;
    small.max_message_bytes = 4096;
    small.max_depth = 12;
    small.max_records_per_diff = 8;

    for (const auto& limits : {proto::decode_limits{}, small}) {
        round_trip(text, limits, [](std::string_view t, const proto::decode_limits& l) {
            return proto::decode_client_message(t, l);
        });
        round_trip(text, limits, [](std::string_view t, const proto::decode_limits& l) {
            return proto::decode_server_message(t, l);
        });
    }

    // parse_json + append_json: what parses prints as JSON that parses to an
    // equal value (JavaScript's JSON.stringify rules, numbers by value).
    if (auto v = proto::parse_json(text)) {
        const std::string printed = proto::encode_json(v.value());
        auto back = proto::parse_json(printed);
        FUZZ_CHECK(back.has_value(), "printed JSON does not parse: %s", printed.c_str());
        // Non-finite numbers print as null (as JavaScript does), so compare
        // the printed forms, which must be a fixed point.
        FUZZ_CHECK(proto::encode_json(back.value()) == printed, "printing is not stable: %s",
                   printed.c_str());
    }
    return 0;
}
